"""The stylize task, as it runs inside a Celery worker process.

Each worker process keeps one `Stylizer` (the network loads once, style targets are cached) and
one Redis client, built on first use. Each pool process loads them right after the
fork (`warm_up`), so the first job does not wait for it. A job's life in the worker:

1. claim the job with a heartbeat key (NX): a second delivery of a job whose worker is alive
   is dropped, so a redelivered message never runs twice at once;
2. skip it if it is already final or cancelled, fail it if it has lost too many workers;
3. run the engine with a callback that publishes progress (and small JPEG previews) to Redis,
   raises `Cancelled` when the cancel flag appears, and stops at the job's time limit;
4. store the PNG with a TTL, then mark the job done (a cancel that came first wins).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

from celery import Celery, Task
from celery.exceptions import SoftTimeLimitExceeded

from ..callbacks import CancelToken, Progress
from ..encoding import encode_jpeg_preview, encode_png
from ..errors import BrushworkError, Cancelled
from ..jobs import INTERNAL_ERROR, VIDEO_PREVIEWS, JobRequest, JobState, JobStatus
from .store import LIVE_STATES, JobStore, key

log = logging.getLogger("brushwork.worker")

CANCEL_POLL = 0.25          # seconds between looks at the cancel flag

#: Per-process resources: {"pid", "stylizer", "store"}. Rebuilt after a fork.
_process: dict[str, Any] = {}


class JobTimeLimit(Cancelled):
    """The job ran past its time limit (raised from the progress callback)."""


def warm_up(app: Celery) -> None:
    """Build this process's Stylizer now rather than in the first job.

    Called in each pool process after the fork (`worker_process_init`), or in the main process
    for the solo and threads pools. Never in a prefork parent: torch's thread pools do not
    survive a fork (the child hangs in its first parallel op).
    """
    _resources(app)


def _resources(app: Celery) -> tuple[Any, JobStore]:
    """This process's Stylizer and JobStore, built once per process (fork-safe)."""
    if _process.get("pid") != os.getpid():
        import redis

        from ..stylizer import Stylizer

        settings = app.conf.brushwork_worker or {}
        if settings.get("threads"):
            import torch

            torch.set_num_threads(int(settings["threads"]))
        client = redis.Redis.from_url(app.conf.broker_url, socket_connect_timeout=3, socket_timeout=10,
                                      health_check_interval=5)
        stylizer = Stylizer(device=settings.get("device", "auto"),
                            precision=settings.get("precision", "auto"))
        _process.update(pid=os.getpid(), stylizer=stylizer, store=JobStore(client))
    return _process["stylizer"], _process["store"]


class Heartbeat:
    """Keeps `beat:{id}` alive while this process runs the job, and watches the cancel flag."""

    def __init__(self, store: JobStore, job_id: str, worker: str, ttl: float, token: CancelToken) -> None:
        self.redis, self.job_id, self.worker, self.ttl, self.token = store.redis, job_id, worker, ttl, token
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{job_id}", daemon=True)

    def claim(self) -> bool:
        """Take the job; False when another live worker holds it.

        A job redelivered because its pool process was killed arrives while the dead process's
        heartbeat is still set, so wait up to one TTL: a dead holder's key expires, a live one's
        keeps being renewed.
        """
        deadline = time.monotonic() + self.ttl + 0.5
        while not self.redis.set(key("beat", self.job_id), self.worker, nx=True, px=int(self.ttl * 1000)):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        self._thread.start()
        return True

    def _run(self) -> None:
        last_beat = time.monotonic()
        while not self._stop.wait(CANCEL_POLL):
            try:
                if self.redis.exists(key("cancel", self.job_id)):
                    self.token.cancel()
                if time.monotonic() - last_beat >= self.ttl / 3:
                    self.redis.pexpire(key("beat", self.job_id), int(self.ttl * 1000))
                    last_beat = time.monotonic()
            except Exception:  # Redis away for a moment: the job goes on, the next beat retries
                log.debug("heartbeat for %s failed", self.job_id, exc_info=True)

    def release(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        try:
            self.redis.delete(key("beat", self.job_id))
        except Exception:
            log.warning("could not remove the heartbeat of %s", self.job_id, exc_info=True)


class Reporter:
    """The engine callback: progress and previews to Redis, cancellation and the time limit back."""

    def __init__(self, store: JobStore, status: JobStatus, token: CancelToken, time_limit: float) -> None:
        self.store, self.status, self.token, self.time_limit = store, status, token, time_limit
        self.started = time.perf_counter()

    def __call__(self, progress: Progress) -> None:
        self.token.check()
        if progress.elapsed > self.time_limit:
            raise JobTimeLimit(f"the job ran past its time limit of {self.time_limit:g} s")
        self.status = self.status.advanced(step=progress.step, total=progress.total,
                                           elapsed=round(progress.elapsed, 3), eta=round(progress.eta, 3),
                                           tile=progress.tile, plan=self.status.plan or progress.plan_dict())
        preview = encode_jpeg_preview(progress.preview) if progress.preview is not None else None
        # QUEUED too: a slow worker presumed lost may still be the one that finishes the job.
        if not self.store.transition(self.status, LIVE_STATES, event=preview is None):
            raise Cancelled("the job was cancelled or finished elsewhere")
        if preview is not None:
            self.store.add_event(self.status, preview)


def run_job(app: Celery, job_id: str, worker: str, settings: dict[str, Any]) -> str:
    """Run one job to a final state (see the module docstring); returns what happened."""
    stylizer, store = _resources(app)
    known = store.get(job_id)
    if known is None or known.state.final:  # a late copy of a finished job: nothing to wait for
        return f"skipped: {'expired' if known is None else 'already ' + known.state.value}"
    token = CancelToken()
    heartbeat = Heartbeat(store, job_id, worker, float(settings["heartbeat"]), token)
    if not heartbeat.claim():
        return "skipped: another live worker is running it"
    try:
        return _run_claimed(stylizer, store, job_id, worker, settings, token)
    finally:
        heartbeat.release()


def _run_claimed(stylizer: Any, store: JobStore, job_id: str, worker: str, settings: dict[str, Any],
                 token: CancelToken) -> str:
    status = store.get(job_id)
    ttl = int(settings["result_ttl"])
    if status is None:
        return "skipped: the job expired"
    if status.state.final:
        return f"skipped: already {status.state.value}"
    now = time.time()
    if store.redis.exists(key("cancel", job_id)):
        store.transition(status.advanced(state=JobState.CANCELLED, finished=now), LIVE_STATES, ttl=ttl)
        return "cancelled before it started"
    attempts = int(store.redis.hincrby(key("job", job_id), "attempts", 1))
    if attempts > int(settings["max_attempts"]):
        error = (f"the job was started {attempts - 1} time(s) and each time its worker stopped without "
                 f"finishing it (killed or out of memory?); not trying again")
        store.transition(status.advanced(state=JobState.FAILED, error=error, finished=now), LIVE_STATES, ttl=ttl)
        return "failed: too many lost workers"
    running = status.advanced(state=JobState.RUNNING, worker=worker, step=0, error=None)
    if not store.transition(running, LIVE_STATES, extra={"started": str(now)}):
        return "skipped: the job changed state"
    return _execute(stylizer, store, running, settings, token)


def _execute(stylizer: Any, store: JobStore, status: JobStatus, settings: dict[str, Any],
             token: CancelToken) -> str:
    ttl = int(settings["result_ttl"])
    images = store.redis.hgetall(key("input", status.id))
    reporter = Reporter(store, status, token, float(settings["time_limit"]))
    styles = [images.get(f"style{i}".encode()) for i in range(int(settings["styles"]))]
    if b"content" not in images or None in styles:
        return _fail(store, status, "the job's input images are gone from Redis (expired or evicted)", ttl)
    started = time.perf_counter()
    try:
        options = {**settings["options"], "device": "auto"}  # the worker decides where it runs
        if settings.get("video") is not None:
            data = _run_video(stylizer, images[b"content"], styles, options, settings, reporter)
        else:
            result = stylizer(images[b"content"], styles, stylizer_options(options), callback=reporter,
                              init_image=images.get(b"init"))
            data = encode_png(result.image)
    except JobTimeLimit as error:
        return _fail(store, reporter.status, str(error), ttl)
    except SoftTimeLimitExceeded:
        return _fail(store, reporter.status, f"the job ran past its time limit of {settings['time_limit']} s", ttl)
    except Cancelled:
        store.transition(reporter.status.advanced(state=JobState.CANCELLED, finished=time.time()), LIVE_STATES, ttl=ttl)
        return "cancelled"
    except BrushworkError as error:
        return _fail(store, reporter.status, str(error), ttl, kind=type(error).__name__)
    except Exception:  # a bug or a device failure: one line for the user, the trace in the log
        log.exception("job %s failed", status.id)
        return _fail(store, reporter.status, INTERNAL_ERROR, ttl)
    seconds = time.perf_counter() - started
    store.redis.set(key("result", status.id), data, ex=ttl)
    done = reporter.status.advanced(state=JobState.DONE, step=reporter.status.total, eta=0.0,
                                    elapsed=round(seconds, 3), finished=time.time())
    if not store.transition(done, LIVE_STATES, ttl=ttl):
        store.redis.delete(key("result", status.id))  # cancelled (or failed) meanwhile: that stands
        return "finished, but the job had been cancelled"
    store.record_seconds(seconds)
    return "done"


def _run_video(stylizer: Any, clip: bytes, styles: list[bytes], options: dict[str, Any], settings: dict[str, Any],
               reporter: "Reporter") -> bytes:
    """A video job: the steps inside each frame check for cancelling and the time limit; each frame
    is a progress event, with a preview every few frames."""
    from ..video.jobs import run_video_job

    frames = int(settings.get("frames") or 1)
    every = max(1, frames // VIDEO_PREVIEWS)

    def on_step(progress: Progress) -> None:
        reporter.token.check()
        if time.perf_counter() - reporter.started > reporter.time_limit:
            raise JobTimeLimit(f"the job ran past its time limit of {reporter.time_limit:g} s")

    def on_frame(progress: Any) -> None:
        on_step(progress)
        reporter.status = reporter.status.advanced(step=progress.frame, total=progress.total,
                                                   elapsed=round(progress.elapsed, 3), eta=round(progress.eta, 3))
        show = progress.preview is not None and (progress.frame % every == 0 or progress.frame == 1)
        preview = encode_jpeg_preview(progress.preview) if show else None
        if not reporter.store.transition(reporter.status, LIVE_STATES, event=preview is None):
            raise Cancelled("the job was cancelled or finished elsewhere")
        if preview is not None:
            reporter.store.add_event(reporter.status, preview)

    request = JobRequest(content=clip, styles=tuple(styles), options=options, video=settings["video"], frames=frames)
    return run_video_job(stylizer, request, on_frame, on_step)


def stylizer_options(options: dict[str, Any]) -> Any:
    from ..options import make_options

    return make_options(**options)


def _fail(store: JobStore, status: JobStatus, error: str, ttl: int, kind: str | None = None) -> str:
    failed = status.advanced(state=JobState.FAILED, error=error, error_kind=kind, finished=time.time())
    store.transition(failed, LIVE_STATES, ttl=ttl)
    return f"failed: {error}"


def stylize_job(self: Task, job_id: str, settings: dict[str, Any]) -> str:
    """The Celery task body (bound): run one brushwork job by id."""
    return run_job(self.app, job_id, self.request.hostname or f"pid-{os.getpid()}", settings)
