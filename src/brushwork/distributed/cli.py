"""`brushwork worker`: a Celery worker that runs brushwork jobs (one per GPU is the usual set-up)."""

from __future__ import annotations

import argparse
import os
from typing import Any

from ..errors import InvalidInputError
from .celery_app import BROKER_ENV, DEFAULT_QUEUE, DEFAULT_VISIBILITY_TIMEOUT

POOLS = ("prefork", "solo", "threads")


def register(commands: Any) -> None:
    """Add the `worker` command to the `brushwork` CLI."""
    env = os.environ.get
    worker = commands.add_parser(
        "worker", help="run a Celery worker for server jobs (Redis broker; see docs/deploy.md)",
        description="Process brushwork jobs sent by `brushwork serve` with a broker URL. The network is loaded "
                    "once per worker process; start one worker per GPU (--device cuda:N).")
    worker.add_argument("--broker-url", default=env(BROKER_ENV), metavar="URL",
                        help=f"Redis URL, e.g. redis://host:6379/0 (env {BROKER_ENV}; default redis://127.0.0.1:6379/0)")
    worker.add_argument("--concurrency", type=_positive, default=1, metavar="N",
                        help="jobs run at once, each in its own process with its own network [1]")
    worker.add_argument("--device", default=env("BRUSHWORK_DEVICE", "auto"), metavar="DEV",
                        help="auto, cpu, cuda, cuda:N or mps (env BRUSHWORK_DEVICE) [auto]")
    worker.add_argument("--precision", choices=("auto", "fp32", "bf16", "fp16"), default="auto",
                        help="compute precision used when a job asks for auto [auto]")
    worker.add_argument("--threads", type=_positive, metavar="N",
                        help="CPU threads per job (default: cores / concurrency)")
    worker.add_argument("--pool", choices=POOLS, default="prefork",
                        help="Celery pool: prefork survives a crashing job process and enforces the hard "
                             "time limit; solo runs jobs in the main process [prefork]")
    worker.add_argument("--queue", default=env("BRUSHWORK_QUEUE", DEFAULT_QUEUE), metavar="NAME",
                        help=f"queue to take jobs from (env BRUSHWORK_QUEUE) [{DEFAULT_QUEUE}]")
    worker.add_argument("--hostname", metavar="NAME",
                        help="worker name shown in job status and Celery tools [brushwork-DEVICE@HOST]")
    worker.add_argument("--visibility-timeout", type=_positive, metavar="S",
                        default=int(env("BRUSHWORK_VISIBILITY_TIMEOUT", DEFAULT_VISIBILITY_TIMEOUT)),
                        help="seconds before the job of a vanished worker is handed out again; keep it above "
                             "the server's job time limit (env BRUSHWORK_VISIBILITY_TIMEOUT) "
                             f"[{DEFAULT_VISIBILITY_TIMEOUT}]")
    worker.add_argument("--loglevel", default="info", choices=("debug", "info", "warning", "error"),
                        help="log level [info]")
    worker.set_defaults(handler=_worker_command)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def _worker_command(args: argparse.Namespace) -> int:
    # Ask NVML, not the CUDA driver, whether CUDA exists: the main process must not initialise
    # CUDA before the pool forks, or the job processes cannot use it.
    os.environ.setdefault("PYTORCH_NVML_BASED_CUDA_CHECK", "1")
    from ..device import resolve_device
    from ..options import make_options
    from .celery_app import make_app
    from .tasks import warm_up

    make_options(device=args.device)  # one clear line for a malformed device name
    device = resolve_device(args.device)
    if args.pool == "threads" and device.type == "cpu" and args.concurrency > 1:
        raise InvalidInputError("--pool threads with --concurrency > 1 shares one CPU; use prefork")
    threads = args.threads or max(1, (os.cpu_count() or 1) // args.concurrency)
    settings = {"device": args.device, "precision": args.precision, "threads": threads}
    app = make_app(args.broker_url, queue=args.queue, visibility_timeout=args.visibility_timeout,
                   worker_settings=settings)
    if args.pool == "prefork":
        from celery.signals import worker_process_init

        worker_process_init.connect(lambda **_: warm_up(app), weak=False)
    else:
        warm_up(app)
    hostname = args.hostname or f"brushwork-{str(device).replace(':', '')}@%h"
    argv = ["worker", f"--concurrency={args.concurrency}", f"--pool={args.pool}", f"--queues={args.queue}",
            f"--hostname={hostname}", f"--loglevel={args.loglevel}", "--without-gossip", "--without-mingle"]
    app.worker_main(argv)
    return 0
