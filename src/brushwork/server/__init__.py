"""brushwork's HTTP server: `create_app(settings)` builds the FastAPI app; `brushwork serve` runs it.

Importing this package needs no web framework: `create_app` is loaded on first use, so the CLI can
offer `serve` (and say what to install) even where the server extra is missing. The modules of the
package import nothing from here: `make_queue` lives in `queues`, re-exported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .queues import make_queue

if TYPE_CHECKING:
    from .app import create_app

__all__ = ["create_app", "make_queue"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from .app import create_app

        return create_app
    raise AttributeError(f"module 'brushwork.server' has no attribute {name!r}")
