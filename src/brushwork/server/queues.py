"""Which job queue a server runs on: Celery workers over Redis, or the in-process `LocalQueue`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..jobs import JobQueue
    from .settings import ServerSettings


def make_queue(settings: "ServerSettings", stylizer_factory: Callable[[], Any]) -> "JobQueue":
    """The job queue a server runs on: Celery workers over Redis when `settings.broker_url` is set
    (the server then loads no network: the workers do), else the in-process `LocalQueue`."""
    if settings.broker_url:
        try:
            from ..distributed import CeleryQueue
        except ImportError:
            from ..errors import BackendUnavailable

            raise BackendUnavailable("a broker URL is set, but Celery is not installed: "
                                     "pip install 'brushwork[distributed]'") from None
        return CeleryQueue(settings.broker_url, max_queued=settings.queue_size,
                           result_ttl=int(settings.result_ttl), time_limit=int(settings.max_seconds))
    from .local_queue import LocalQueue

    stylizer = stylizer_factory()
    return LocalQueue(stylizer, workers=settings.workers, queue_size=settings.queue_size,
                      result_ttl=settings.result_ttl, result_max_count=settings.result_max_count,
                      max_seconds=settings.max_seconds, video=_video_runner(stylizer))


def _video_runner(stylizer: Any) -> Any:
    """Video jobs on `stylizer`, where the video extra is installed (else None: they are refused)."""
    from functools import partial

    from ..video import video_available

    if not video_available():
        return None
    from ..video.jobs import run_video_job

    return partial(run_video_job, stylizer)
