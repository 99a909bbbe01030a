"""Throughput of the distributed mode: 10 jobs submitted at once to 1, then 2 Celery workers.

    python benchmarks/celery_throughput.py [--jobs 10] [--size 96] [--steps 10] [--workers 1 2] [--threads N]

Starts a real redis-server on a loopback port and real `brushwork worker` processes (prefork,
concurrency 1, CPU threads split evenly between the workers), sends the jobs through
`CeleryQueue` exactly as the server does, and times from the first submit to the last result.
Each worker first runs one warm-up job (the first job in a fresh process pays for kernel
set-up), so the figures are the steady state. Prints a Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _machine import machine_line  # noqa: E402

from brushwork.distributed import CeleryQueue  # noqa: E402
from brushwork.distributed.local import RedisServer, WorkerProcess, wait_for_workers  # noqa: E402
from brushwork.jobs import JobRequest, JobState  # noqa: E402

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def job_request(size: int, steps: int) -> JobRequest:
    content = (EXAMPLES / "astronaut.jpg").read_bytes()
    style = (EXAMPLES / "strokes.png").read_bytes()
    return JobRequest(content=content, styles=(style,),
                      options={"size": size, "epochs": 1, "steps_per_epoch": steps, "scales": 1})


def run_batch(queue: CeleryQueue, request: JobRequest, count: int) -> tuple[float, list]:
    started = time.perf_counter()
    ids = [queue.submit(request).id for _ in range(count)]
    finals = [queue.wait(job_id, timeout=1800) for job_id in ids]
    wall = time.perf_counter() - started
    bad = [f for f in finals if f.state != JobState.DONE]
    if bad:
        raise SystemExit(f"{len(bad)} job(s) did not finish: {bad[0].state.value} {bad[0].error}")
    for job_id in ids:
        queue.result(job_id)
    return wall, finals


def measure(url: str, workers: int, args: argparse.Namespace, logs: Path) -> dict:
    threads = args.threads or max(1, (os.cpu_count() or 1) // workers)
    processes = [WorkerProcess(f"w{i}", url, logs / f"w{workers}-{i}.log", "--concurrency", "1",
                               "--device", args.device, "--threads", str(threads)) for i in range(workers)]
    queue = CeleryQueue(url, max_queued=args.jobs + workers, time_limit=1800)
    try:
        wait_for_workers(queue, {p.name for p in processes}, processes, timeout=180)
        request = job_request(args.size, args.steps)
        run_batch(queue, request, workers)  # warm-up: about one job per worker
        wall, finals = run_batch(queue, request, args.jobs)
    finally:
        queue.close()
        for process in processes:
            process.stop()
    spread = collections.Counter(f.worker for f in finals)
    return {"workers": workers, "threads_per_worker": threads, "jobs": args.jobs, "wall_s": round(wall, 1),
            "jobs_per_min": round(args.jobs / wall * 60, 2),
            "mean_job_s": round(statistics.mean(f.elapsed for f in finals), 2),
            "spread": dict(sorted(spread.items()))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10)
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--threads", type=int, help="CPU threads per worker (default: cores / workers)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        redis = RedisServer(Path(folder)).start()
        try:
            rows = [measure(redis.url, n, args, Path(folder)) for n in args.workers]
        finally:
            redis.stop()
    print(f"machine: {machine_line()}")
    print(f"{args.jobs} jobs at once, {args.size} px, {args.steps} L-BFGS steps, one scale, device {args.device}\n")
    print("| workers | threads each | wall (s) | jobs/min | mean job (s) | jobs per worker |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        spread = ", ".join(str(v) for v in row["spread"].values())
        print(f"| {row['workers']} | {row['threads_per_worker']} | {row['wall_s']} | {row['jobs_per_min']} "
              f"| {row['mean_job_s']} | {spread} |")
    print("\n" + json.dumps(rows))


if __name__ == "__main__":
    main()
