"""`LocalQueue`: the embedded `JobQueue` — worker threads in this process sharing one `Stylizer`.

A bounded queue (workers + queue_size jobs at most), cancellation through the progress callback,
a run-time limit, small JPEG previews for the event stream, and eviction of finished jobs by age
and count so memory stays bounded however long the server runs.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..callbacks import CancelToken, Progress
from ..encoding import encode_jpeg_preview, encode_png
from ..errors import BrushworkError, Cancelled, JobNotFound, JobNotReady, QueueFull
from ..jobs import INTERNAL_ERROR, VIDEO_PREVIEWS, JobEvent, JobRequest, JobState, JobStatus
from ..options import make_options

log = logging.getLogger("brushwork.server")

#: What runs a job: `Stylizer.__call__`'s shape (content, styles, options, callback=, init_image=).
StylizeFn = Callable[..., Any]
#: What runs a video job: (request, on_frame(FrameProgress), on_step(Progress)) -> MP4 bytes
#: (`brushwork.video.jobs.run_video_job`); on_step is called within frames, so a cancel is quick.
VideoFn = Callable[[JobRequest, Callable[[Any], None], Callable[[Any], None]], bytes]


@dataclass
class _Job:
    """A job's mutable record; only touched under the queue's lock."""

    request: JobRequest | None            # dropped once the job is final (memory)
    status: JobStatus
    token: CancelToken = field(default_factory=CancelToken)
    result: bytes | None = None
    preview: bytes | None = None
    version: int = 0                      # bumped on every change, for `events`
    preview_version: int = 0
    timed_out: bool = False


class LocalQueue:
    """Runs jobs on `workers` threads over one stylizer; see `brushwork.jobs.JobQueue`."""

    def __init__(self, stylize: StylizeFn, *, workers: int = 1, queue_size: int = 8,
                 result_ttl: float = 900.0, result_max_count: int = 64,
                 max_seconds: float | None = None, clock: Callable[[], float] = time.time,
                 video: VideoFn | None = None) -> None:
        self._stylize = stylize
        self._video = video
        self.workers, self.queue_size = workers, queue_size
        self.result_ttl, self.result_max_count, self.max_seconds = result_ttl, result_max_count, max_seconds
        self._clock = clock
        self._jobs: dict[str, _Job] = {}
        self._pending: deque[str] = deque()
        self._durations: deque[float] = deque(maxlen=20)
        self._cond = threading.Condition()
        self._closed = False
        self._threads = [threading.Thread(target=self._work, name=f"brushwork-worker-{n + 1}", daemon=True)
                         for n in range(workers)]
        for thread in self._threads:
            thread.start()

    # -- JobQueue ----------------------------------------------------------------------------------
    def submit(self, request: JobRequest) -> JobStatus:
        with self._cond:
            if self._closed:
                raise QueueFull("the server is shutting down; try again later", retry_after=30)
            self._evict()
            queued = len(self._pending)
            running = sum(job.status.state is JobState.RUNNING for job in self._jobs.values())
            if queued + running >= self.workers + self.queue_size:
                raise QueueFull(f"the job queue is full ({running} running, {queued} waiting); "
                                f"try again later", retry_after=self._retry_after(queued))
            job_id = uuid.uuid4().hex
            total = request.frames if request.video is not None else make_options(**request.options).total_steps
            job = _Job(request=request, status=JobStatus(id=job_id, state=JobState.QUEUED, total=total,
                                                         created=self._clock(), kind=request.kind))
            self._jobs[job_id] = job
            self._pending.append(job_id)
            self._cond.notify_all()
            return job.status

    def status(self, job_id: str) -> JobStatus:
        with self._cond:
            self._evict()
            return self._job(job_id).status

    def result(self, job_id: str) -> bytes:
        with self._cond:
            self._evict()
            job = self._job(job_id)
            if job.result is None:
                state = job.status.state
                reason = {JobState.FAILED: f"it failed: {job.status.error}",
                          JobState.CANCELLED: "it was cancelled"}.get(state, f"it is {state.value}")
                raise JobNotReady(f"job {job_id} has no result: {reason}")
            return job.result

    def cancel(self, job_id: str) -> JobStatus:
        with self._cond:
            job = self._job(job_id)
            if job.status.state is JobState.QUEUED:
                self._pending.remove(job_id)
                self._finish(job, JobState.CANCELLED, error="cancelled before it started")
            elif job.status.state is JobState.RUNNING:
                job.token.cancel()  # the worker stops at its next step and marks it cancelled
            return job.status

    def wait(self, job_id: str, timeout: float | None = None) -> JobStatus:
        with self._cond:
            job = self._job(job_id)
            self._cond.wait_for(lambda: job.status.state.final, timeout)
            return job.status

    def events(self, job_id: str, timeout: float | None = None) -> Iterator[JobEvent]:
        """The current status at once, then one event per change (steps may be merged when the
        reader is slower than the run); ends after the final status or when `timeout` passes."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            job = self._job(job_id)
        seen_version, seen_preview = -1, 0
        while True:
            with self._cond:
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                if not self._cond.wait_for(lambda: job.version != seen_version, left):
                    return
                seen_version, status = job.version, job.status
                preview = job.preview if job.preview_version != seen_preview else None
                seen_preview = job.preview_version
            yield JobEvent(status=status, preview=preview)
            if status.state.final:
                return

    def close(self) -> None:
        with self._cond:
            self._closed = True
            for job_id in list(self._pending):
                self._finish(self._jobs[job_id], JobState.CANCELLED, error="the server shut down")
            self._pending.clear()
            for job in self._jobs.values():
                job.token.cancel()
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout=30)

    # -- extras (not part of JobQueue) -----------------------------------------------------------
    def stats(self) -> dict[str, int]:
        """Counts for /healthz."""
        with self._cond:
            states = [job.status.state for job in self._jobs.values()]
            return {"workers": self.workers, "queue_size": self.queue_size,
                    "queued": len(self._pending), "running": states.count(JobState.RUNNING),
                    "kept": sum(state.final for state in states)}

    # -- internals -------------------------------------------------------------------------------
    def _job(self, job_id: str) -> _Job:
        job = self._jobs.get(job_id)
        if job is None:
            raise JobNotFound(f"no job {job_id!r} (it never existed, or its result expired)")
        return job

    def _retry_after(self, queued: int) -> int:
        """Seconds until a place frees up, from recent run times (5 s before anything has run)."""
        if not self._durations:
            return 5
        mean = sum(self._durations) / len(self._durations)
        return int(min(600, max(1, math.ceil(mean * (1 + queued / self.workers) / 2))))

    def _finish(self, job: _Job, state: JobState, *, error: str | None = None, error_kind: str | None = None,
                result: bytes | None = None) -> None:
        now = self._clock()
        job.status = job.status.advanced(state=state, error=error, error_kind=error_kind, finished=now,
                                         eta=0.0 if result else None)
        job.result, job.request = result, None
        job.version += 1
        self._cond.notify_all()

    def _evict(self) -> None:
        now = self._clock()
        final = sorted((job.status.finished or 0.0, job_id) for job_id, job in self._jobs.items()
                       if job.status.state.final)
        for finished, job_id in final:
            if now - finished > self.result_ttl:
                del self._jobs[job_id]
        final = [(f, j) for f, j in final if j in self._jobs]
        for _, job_id in final[:max(0, len(final) - self.result_max_count)]:
            del self._jobs[job_id]

    def _next(self) -> tuple[str, _Job] | None:
        with self._cond:
            self._cond.wait_for(lambda: self._pending or self._closed)
            if self._closed:
                return None
            job_id = self._pending.popleft()
            job = self._jobs[job_id]
            job.status = job.status.advanced(state=JobState.RUNNING, worker=threading.current_thread().name)
            job.version += 1
            self._cond.notify_all()
            return job_id, job

    def _work(self) -> None:
        while (picked := self._next()) is not None:
            job_id, job = picked
            started = time.monotonic()
            try:
                png = self._run(job, started)
            except Cancelled:
                with self._cond:
                    if job.timed_out:
                        self._finish(job, JobState.FAILED, error=(
                            f"the run was stopped after {self.max_seconds:g} s, this server's limit "
                            f"(max_seconds); ask for fewer steps or a smaller size"))
                    else:
                        self._finish(job, JobState.CANCELLED, error="cancelled")
            except BrushworkError as error:
                with self._cond:
                    self._finish(job, JobState.FAILED, error=str(error), error_kind=type(error).__name__)
            except Exception:
                log.exception("job %s failed", job_id)
                with self._cond:
                    self._finish(job, JobState.FAILED, error=INTERNAL_ERROR)
            else:
                with self._cond:
                    self._durations.append(time.monotonic() - started)
                    job.status = job.status.advanced(step=job.status.total, elapsed=time.monotonic() - started)
                    self._finish(job, JobState.DONE, result=png)

    def _run(self, job: _Job, started: float) -> bytes:
        request = job.request
        assert request is not None
        if request.video is not None:
            return self._run_video(job, request, started)
        options = make_options(**request.options)

        def on_progress(progress: Progress) -> None:
            if self.max_seconds is not None and time.monotonic() - started > self.max_seconds:
                job.timed_out = True
                job.token.cancel()
            job.token.check(progress)
            preview = encode_jpeg_preview(progress.preview) if progress.preview is not None else None
            with self._cond:
                job.status = job.status.advanced(step=progress.step, total=progress.total,
                                                 elapsed=progress.elapsed, eta=progress.eta, tile=progress.tile,
                                                 plan=job.status.plan or progress.plan_dict())
                if preview is not None:
                    job.preview, job.preview_version = preview, job.preview_version + 1
                job.version += 1
                self._cond.notify_all()

        result = self._stylize(request.content, list(request.styles), options, callback=on_progress,
                               init_image=request.init_image)
        return encode_png(result.image)

    def _run_video(self, job: _Job, request: JobRequest, started: float) -> bytes:
        """A video job: progress per frame, a preview every few frames, the MP4 as the result."""
        if self._video is None:
            raise BrushworkError("this server runs no video jobs (the video extra is not installed)")
        every = max(1, request.frames // VIDEO_PREVIEWS)

        def on_frame(progress: Any) -> None:
            if self.max_seconds is not None and time.monotonic() - started > self.max_seconds:
                job.timed_out = True
                job.token.cancel()
            job.token.check()
            show = progress.preview is not None and (progress.frame % every == 0 or progress.frame == 1)
            preview = encode_jpeg_preview(progress.preview) if show else None
            with self._cond:
                job.status = job.status.advanced(step=progress.frame, total=progress.total, elapsed=progress.elapsed,
                                                 eta=progress.eta)
                if preview is not None:
                    job.preview, job.preview_version = preview, job.preview_version + 1
                job.version += 1
                self._cond.notify_all()

        return self._video(request, on_frame, job.token.check)
