"""brushwork's HTTP server: `create_app(settings)` builds the FastAPI app; `brushwork serve` runs it.

Importing this package needs no web framework: `create_app` is loaded on first use, so the CLI can
offer `serve` (and say what to install) even where the server extra is missing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..jobs import JobQueue
    from .app import create_app
    from .settings import ServerSettings

__all__ = ["create_app", "make_queue"]


def make_queue(settings: "ServerSettings", stylizer_factory: Callable[[], Any]) -> "JobQueue":
    """The job queue a server runs on: the in-process `LocalQueue` over one Stylizer.

    (The one place to choose another implementation, e.g. Celery when `settings.broker_url` is set.)
    """
    from .local_queue import LocalQueue

    if settings.broker_url:  # TODO(merge): return the Celery queue here once brushwork.distributed lands
        import logging

        logging.getLogger("brushwork.server").warning(
            "broker_url is set, but this build has no distributed queue: running jobs in-process")
    return LocalQueue(stylizer_factory(), workers=settings.workers, queue_size=settings.queue_size,
                      result_ttl=settings.result_ttl, result_max_count=settings.result_max_count,
                      max_seconds=settings.max_seconds)


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from .app import create_app

        return create_app
    raise AttributeError(f"module 'brushwork.server' has no attribute {name!r}")
