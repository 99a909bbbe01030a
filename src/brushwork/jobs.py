"""The job queue behind the server: one small interface, several implementations.

* `brushwork.server.local_queue.LocalQueue` — in-process worker threads (the embedded default);
* `brushwork.distributed.CeleryQueue` — Celery workers over Redis (`BRUSHWORK_BROKER_URL`).

The server only ever talks to a `JobQueue`, so routes, SSE and tests are the same for both.
Images travel as encoded bytes (PNG/JPEG/...), never as paths. Importing this module needs
neither the web framework nor Celery.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any, Protocol, runtime_checkable


#: The error line of a job that failed on a bug or device fault rather than on its input (the
#: details go to the server's or worker's log); the server answers such a failure with a 500.
INTERNAL_ERROR = "internal error while stylizing (details are in the server log)"
#: Previews a video job sends to the event stream (one every frames / this frames, and the first).
VIDEO_PREVIEWS = 25


class JobState(str, Enum):
    """Where a job is in its life; the last three are final."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def final(self) -> bool:
        return self in (JobState.DONE, JobState.FAILED, JobState.CANCELLED)


@dataclass(frozen=True)
class JobRequest:
    """Everything one job needs, as plain data (it may cross a process or machine boundary)."""

    content: bytes                       # encoded content image
    styles: tuple[bytes, ...]            # encoded style image(s)
    options: dict[str, Any]              # StyleOptions fields (validated before submit)
    init_image: bytes | None = None
    video: dict[str, Any] | None = None  # VideoOptions fields: a video job, whose `content` is the clip
    frames: int = 0                      # a video job's frames (from the clip's header, before it runs)

    @property
    def kind(self) -> str:
        return "video" if self.video is not None else "image"


@dataclass(frozen=True)
class JobStatus:
    """A snapshot of one job, as `GET /jobs/{id}` reports it."""

    id: str
    state: JobState
    step: int = 0
    total: int = 0
    elapsed: float = 0.0
    eta: float | None = None
    error: str | None = None             # one readable line when state is FAILED
    error_kind: str | None = None        # the `brushwork.errors` class behind `error` (its HTTP status)
    created: float = field(default_factory=time.time)
    finished: float | None = None
    worker: str | None = None            # which worker ran it (thread name or Celery hostname)
    tile: tuple[int, int] | None = None  # (done, total) tiles of the step under way on a tiled level
    plan: dict[str, Any] | None = None   # the run's plan (`RunPlan.as_dict()`) once it has started
    kind: str = "image"                  # "video": step and total count frames, the result is an MP4

    def advanced(self, **changes: Any) -> "JobStatus":
        return replace(self, **changes)


@dataclass(frozen=True)
class JobEvent:
    """One progress event for the server-sent event stream: the status, maybe a small preview."""

    status: JobStatus
    preview: bytes | None = None         # small JPEG, when the job asked for previews


@runtime_checkable
class JobQueue(Protocol):
    """What the server needs from a job queue. Every method is thread-safe and never blocks long,
    except `wait` and `events`, which block up to their timeout."""

    def submit(self, request: JobRequest) -> JobStatus:
        """Queue a job; raises `QueueFull` (with `retry_after`) when at capacity."""
        ...

    def status(self, job_id: str) -> JobStatus:
        """Raises `JobNotFound` for unknown or expired ids."""
        ...

    def result(self, job_id: str) -> bytes:
        """The finished image as PNG bytes (a video job's: MP4); raises `JobNotFound`, or
        `JobNotReady` if not done."""
        ...

    def cancel(self, job_id: str) -> JobStatus:
        """Stop a queued or running job and free its worker; a no-op for finished jobs."""
        ...

    def wait(self, job_id: str, timeout: float | None = None) -> JobStatus:
        """Block until the job is final (or the timeout passes) and return its status."""
        ...

    def events(self, job_id: str, timeout: float | None = None) -> Iterator[JobEvent]:
        """Progress events until the job is final (the last event carries the final status)."""
        ...

    def close(self) -> None:
        """Stop accepting jobs and release workers/connections."""
        ...
