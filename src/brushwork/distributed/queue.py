"""CeleryQueue: the server's `JobQueue` backed by Celery workers over Redis.

The server process only writes job records and sends task messages by name; it never imports
the task code or loads a network. Progress, previews, results and cancel flags live in Redis
(see `store.py`), so any number of servers and workers on any machines share one view of a job.

How a dead worker is noticed: a running job's worker refreshes a heartbeat key with a short
TTL. When `status` finds a job "running" without a heartbeat, its worker is gone; then the job is

* failed with Celery's own error if the task ended badly (e.g. its hard time limit),
* failed with a clear message if it has used all its attempts, or
* put back to "queued" and sent again at once (when only a pool process died, Celery has
  already put its message back; when the whole worker died, its unacknowledged message would
  otherwise wait for the visibility timeout). Copies that arrive later are dropped by the
  worker (the job is running or final). A requeued job that no worker takes up within
  `requeue_grace` seconds is failed rather than left waiting forever.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import redis
from celery import Celery
from kombu.exceptions import OperationalError

from ..errors import BrokerUnavailable, JobNotFound, JobNotReady, QueueFull
from ..jobs import JobEvent, JobRequest, JobState, JobStatus
from .celery_app import (DEFAULT_QUEUE, DEFAULT_TIME_LIMIT, DEFAULT_VISIBILITY_TIMEOUT, TASK_NAME,
                         broker_url_from_env, make_app, redact)
from .store import LIVE_STATES, JobStore, key, status_from_json

log = logging.getLogger("brushwork.distributed")

JOB_ID = re.compile(r"[0-9a-f]{32}")
BROKER_ERRORS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OperationalError,
                 ConnectionError, TimeoutError)
FOLLOW_BLOCK_MS = 1000     # longest wait on the event stream before looking at the job again


class CeleryQueue:
    """Jobs on Celery workers (`brushwork worker`) with Redis as broker, result store and bus.

    `max_queued` bounds the jobs waiting for a worker (beyond it `submit` raises `QueueFull`);
    `result_ttl` is how long a finished job and its image are kept; `time_limit` is the most one
    job may run; `heartbeat` is the TTL of a running job's heartbeat (how soon a dead worker is
    noticed); `max_attempts` is how many workers may die on one job before it fails.
    """

    def __init__(self, broker_url: str | None = None, *, queue: str = DEFAULT_QUEUE, max_queued: int = 32,
                 result_ttl: int = 3600, time_limit: int = DEFAULT_TIME_LIMIT, heartbeat: float = 10.0,
                 max_attempts: int = 2, visibility_timeout: int = DEFAULT_VISIBILITY_TIMEOUT,
                 requeue_grace: float | None = None, app: Celery | None = None) -> None:
        self.broker_url = broker_url_from_env(broker_url)
        self.queue, self.max_queued, self.result_ttl = queue, max_queued, result_ttl
        self.time_limit, self.heartbeat, self.max_attempts = time_limit, heartbeat, max_attempts
        self.requeue_grace = requeue_grace if requeue_grace is not None else visibility_timeout + 60.0
        self.app = app or make_app(self.broker_url, queue=queue, time_limit=time_limit,
                                   visibility_timeout=visibility_timeout)
        self.redis = redis.Redis.from_url(self.broker_url, socket_connect_timeout=3, socket_timeout=10,
                                          health_check_interval=5)
        self.store = JobStore(self.redis)
        self._closed = False

    # -- JobQueue --------------------------------------------------------------------------------
    def submit(self, request: JobRequest) -> JobStatus:
        """Store the inputs in Redis and send the task; `QueueFull` when `max_queued` are waiting."""
        if self._closed:
            raise BrokerUnavailable("the job queue is closed")
        total = request.frames if request.video is not None else _total_steps(request.options)
        status = JobStatus(id=uuid.uuid4().hex, state=JobState.QUEUED, total=total, kind=request.kind)
        images = {"content": request.content, **{f"style{i}": s for i, s in enumerate(request.styles)}}
        if request.init_image is not None:
            images["init"] = request.init_image
        settings = {"options": request.options, "styles": len(request.styles), "heartbeat": self.heartbeat,
                    "time_limit": self.time_limit, "max_attempts": self.max_attempts,
                    "result_ttl": self.result_ttl, "video": request.video, "frames": request.frames}
        with self._broker():
            waiting = self.store.create(status, images, settings)
            if waiting > self.max_queued:
                self.store.forget(status.id)
                retry = self._retry_after()
                raise QueueFull(f"the job queue is full ({self.max_queued} jobs waiting for a worker); "
                                f"try again in {retry} s", retry_after=retry)
            try:
                self._send(status.id, settings)
            except BaseException:
                with contextlib.suppress(*BROKER_ERRORS):
                    self.store.forget(status.id)
                raise
        return status

    def status(self, job_id: str) -> JobStatus:
        """The job as Redis knows it, after noticing a dead worker (see the module docstring)."""
        with self._broker():
            status = self._get(job_id)
            if status.state == JobState.RUNNING and not self.redis.exists(key("beat", job_id)):
                return self._worker_lost(status)
            if status.state == JobState.QUEUED:
                lost_at = self.store.field(job_id, "lost_at")
                if lost_at and time.time() - float(lost_at) > self.requeue_grace:
                    worker = self.store.field(job_id, "lost_worker") or "its worker"
                    return self._fail(status, f"the worker {worker} stopped while running this job and no "
                                              f"worker took it up again within {self.requeue_grace:g} s",
                                      (JobState.QUEUED,))
            return status

    def result(self, job_id: str) -> bytes:
        status = self.status(job_id)
        if status.state != JobState.DONE:
            detail = f": {status.error}" if status.error else ""
            raise JobNotReady(f"job {job_id} is {status.state.value}{detail}; it has no result")
        with self._broker():
            data = self.redis.get(key("result", job_id))
        if data is None:
            raise JobNotFound(f"the result of job {job_id} has expired")
        return bytes(data)

    def cancel(self, job_id: str) -> JobStatus:
        """Mark the job cancelled now; a running task sees the flag within a fraction of a second
        (or at its next step) and stops, freeing its worker. Finished jobs are left as they are."""
        with self._broker():
            status = self._get(job_id)
            if status.state.final:
                return status
            self.redis.set(key("cancel", job_id), b"1", ex=self.result_ttl + self.time_limit)
            cancelled = status.advanced(state=JobState.CANCELLED, finished=time.time())
            self.store.transition(cancelled, LIVE_STATES, ttl=self.result_ttl)
        with contextlib.suppress(Exception):  # revoking only spares a worker a look; the flag is what counts
            self.app.control.revoke(job_id)
        return self.status(job_id)

    def wait(self, job_id: str, timeout: float | None = None) -> JobStatus:
        last = None
        for event in self._follow(job_id, timeout):
            last = event.status
        return last if last is not None else self.status(job_id)

    def events(self, job_id: str, timeout: float | None = None) -> Iterator[JobEvent]:
        """The current status first, then every progress event, ending with the final status."""
        return self._follow(job_id, timeout)

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(Exception):
            self.redis.close()
        with contextlib.suppress(Exception):
            self.app.close()

    # -- extras for health checks and tools --------------------------------------------------------
    def queued(self) -> int:
        """Jobs waiting for a worker."""
        with self._broker():
            return self.store.queued_count()

    def ping(self) -> bool:
        """True when Redis answers (for `/healthz`); raises `BrokerUnavailable` otherwise."""
        with self._broker():
            return bool(self.redis.ping())

    def workers(self, timeout: float = 1.0) -> list[str]:
        """Names of the workers that answer a Celery ping within `timeout` seconds."""
        with self._broker():
            replies = self.app.control.ping(timeout=timeout) or []
        return sorted(name for reply in replies for name in reply)

    # -- internals ---------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _broker(self) -> Iterator[None]:
        try:
            yield
        except BROKER_ERRORS as error:
            first = (str(error).splitlines() or [type(error).__name__])[0]
            raise BrokerUnavailable(f"the job broker at {redact(self.broker_url)} is unavailable ({first})") from None

    def _send(self, job_id: str, settings: dict[str, Any]) -> None:
        # Straight into the queue's list (default exchange): a Redis that restarted without its
        # data has lost the exchange bindings, and kombu would drop a routed message.
        self.app.send_task(TASK_NAME, args=[job_id, settings], task_id=job_id, exchange="", routing_key=self.queue,
                           soft_time_limit=self.time_limit, time_limit=self.time_limit + 30,
                           retry=True, retry_policy={"max_retries": 1, "interval_start": 0.2,
                                                     "interval_step": 0.5, "interval_max": 1})

    def _get(self, job_id: str) -> JobStatus:
        status = self.store.get(job_id) if JOB_ID.fullmatch(job_id or "") else None
        if status is None:
            raise JobNotFound(f"no job {job_id!r} (unknown, or finished and expired)")
        return status

    def _worker_lost(self, status: JobStatus) -> JobStatus:
        worker = status.worker or "its worker"
        attempts = int(self.store.field(status.id, "attempts") or 0)
        celery_error = self._celery_failure(status.id)
        if celery_error:
            return self._fail(status, f"the worker {worker} failed while running this job: {celery_error}")
        if attempts >= self.max_attempts:
            return self._fail(status, f"the worker {worker} stopped while running this job (killed or out of "
                                      f"memory?) and the job has used its {self.max_attempts} attempt(s)")
        requeued = status.advanced(state=JobState.QUEUED, worker=None, eta=None)
        if self.store.transition(requeued, (JobState.RUNNING,), extra={"lost_at": str(time.time()),
                                                                       "lost_worker": worker}):
            # Only the caller that made the change sends the job again, at once, rather than
            # leaving it to the visibility timeout; a later redelivery of the old message finds
            # the job running or finished and is dropped.
            log.warning("job %s: worker %s is gone; sending the job again", status.id, worker)
            settings = self.store.field(status.id, "settings")
            if settings:
                self._send(status.id, json.loads(settings))
        return self._get(status.id)

    def _celery_failure(self, job_id: str) -> str | None:
        """Celery's own error for a task that ended badly outside our code (hard time limit)."""
        result = self.app.AsyncResult(job_id)
        if result.state != "FAILURE":
            return None
        error = result.result
        return f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else str(error)

    def _fail(self, status: JobStatus, error: str,
              allowed: tuple[JobState, ...] = (JobState.RUNNING,)) -> JobStatus:
        failed = status.advanced(state=JobState.FAILED, error=error, finished=time.time())
        self.store.transition(failed, allowed, ttl=self.result_ttl)
        return self._get(status.id)

    def _retry_after(self) -> int:
        """Seconds until a slot is likely free: about one average job (5 s before any finished)."""
        average = self.store.average_seconds()
        return 5 if average is None else max(1, min(600, math.ceil(average)))

    def _follow(self, job_id: str, timeout: float | None) -> Iterator[JobEvent]:
        deadline = None if timeout is None else time.monotonic() + timeout
        stream = key("events", job_id)
        with self._broker():
            tail = self.redis.xrevrange(stream, count=1)
        last_id = tail[0][0] if tail else b"0-0"
        status = self.status(job_id)
        yield JobEvent(status)
        while not status.state.final:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return
            block = FOLLOW_BLOCK_MS if left is None else max(1, min(FOLLOW_BLOCK_MS, int(left * 1000)))
            with self._broker():
                batches = self.redis.xread({stream: last_id}, count=64, block=block)
            for _, entries in batches or []:
                for entry_id, fields in entries:
                    last_id = entry_id
                    event = status_from_json(fields[b"status"])
                    if not event.state.final:
                        yield JobEvent(event, fields.get(b"preview"))
            status = self.status(job_id)  # authoritative, and notices a dead worker
            if status.state.final:
                yield JobEvent(status)


def _total_steps(options: dict[str, Any]) -> int:
    from ..options import make_options

    return make_options(**options).total_steps
