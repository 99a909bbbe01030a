"""The Celery app, built from a broker URL by a factory (no app is configured at import time).

Redis is both the broker and Celery's result backend. The settings make a job survive a dying
worker: the message is acknowledged only after the task returns (`acks_late`), a pool process
killed mid-job puts its message back at once (`task_reject_on_worker_lost`), and a whole worker
that vanishes leaves its message "unacked" in Redis, where the next live worker's sweep restores
it once `visibility_timeout` has passed. Each worker process takes one job at a time
(prefetch 1), so a queued job never waits behind a busy worker while another one is idle.

For Celery's own tools, `celery -A brushwork.distributed.celery_app inspect active` builds the
app on first access from `BRUSHWORK_BROKER_URL`.
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery

from ..errors import InvalidInputError

BROKER_ENV = "BRUSHWORK_BROKER_URL"
DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/0"
DEFAULT_QUEUE = "brushwork"
TASK_NAME = "brushwork.stylize"
DEFAULT_TIME_LIMIT = 1800          # seconds one job may run (the queue may ask for less per job)
DEFAULT_VISIBILITY_TIMEOUT = 3600  # seconds before a vanished worker's job is handed out again


def broker_url_from_env(url: str | None = None) -> str:
    """The broker URL given, else `BRUSHWORK_BROKER_URL`, else a local Redis."""
    url = url or os.environ.get(BROKER_ENV) or DEFAULT_BROKER_URL
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise InvalidInputError(f"broker URL must be redis://, rediss:// or unix:// (got {redact(url)!r})")
    return url


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    scheme, sep, rest = url.partition("://")
    if "@" not in rest:
        return url
    credentials, _, host = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}{sep}{user + ':' if user else ''}***@{host}"


def make_app(broker_url: str | None = None, *, queue: str = DEFAULT_QUEUE, time_limit: int | None = None,
             visibility_timeout: int = DEFAULT_VISIBILITY_TIMEOUT, restore_interval: float | None = None,
             worker_settings: dict[str, Any] | None = None) -> Celery:
    """A Celery app for brushwork jobs on `broker_url` (Redis), with the stylize task registered.

    `time_limit` is the default limit of a job (each `CeleryQueue` message carries its own);
    it must stay below `visibility_timeout`, the age at which a worker hands out again a message
    that was never acknowledged (a job whose worker vanished). `restore_interval` is how often
    a worker sweeps for such messages (default: a quarter of the visibility timeout, at most
    10 s). `worker_settings` (device, precision, threads) are read by the task in the worker.
    """
    url = broker_url_from_env(broker_url)
    limit = DEFAULT_TIME_LIMIT if time_limit is None else time_limit
    if time_limit is not None and visibility_timeout <= time_limit:
        raise InvalidInputError(f"visibility timeout ({visibility_timeout} s) must exceed the job time limit "
                                f"({time_limit} s), or running jobs would be handed out twice")
    sweep = restore_interval if restore_interval is not None else min(10.0, visibility_timeout / 4)
    app = Celery("brushwork", broker=url, backend=url, set_as_current=False)
    app.conf.update(
        task_serializer="json", result_serializer="json", accept_content=["json"],
        task_default_queue=queue,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        task_time_limit=limit + 30,               # hard stop (prefork); the task stops itself at the limit
        task_soft_time_limit=limit,
        worker_prefetch_multiplier=1,
        worker_proc_alive_timeout=60,             # a pool process may take a while to import torch
        worker_cancel_long_running_tasks_on_connection_loss=False,
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "visibility_timeout": visibility_timeout,
            "unacked_restore_interval": sweep,
            "unacked_restore_throttle": 1,
            "socket_connect_timeout": 3,
            "socket_timeout": 10,
            "health_check_interval": 5,
        },
        result_backend_transport_options={"visibility_timeout": visibility_timeout},
        redis_socket_connect_timeout=3,
        redis_socket_timeout=10,
        result_expires=24 * 3600,
        brushwork_worker=dict(worker_settings or {}),
    )
    register(app)
    return app


def register(app: Celery) -> Any:
    """Add the stylize task to `app` (by name, so the server can send it without importing torch).

    `shared=False`: each app gets only its own copy, not those of every app built before it.
    The task body is imported here, when an app is built, not with this module: it is the worker's
    side, and it takes nothing from this module back.
    """
    from .tasks import stylize_job

    return app.task(name=TASK_NAME, bind=True, shared=False, acks_late=True,
                    reject_on_worker_lost=True)(stylize_job)


def __getattr__(name: str) -> Celery:
    """`celery -A brushwork.distributed.celery_app ...` looks for `app`; build it only then."""
    if name in ("app", "celery"):
        return make_app()
    raise AttributeError(name)
