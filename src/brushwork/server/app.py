"""The FastAPI application: settings, one Stylizer and one job queue per app, routes, limits, page."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from .. import __version__
from ..jobs import JobQueue
from .errors import error_response, install_error_handlers
from .limits import BodyLimit
from .queues import make_queue
from .routes import api, public
from .settings import ServerSettings

STATIC = Path(__file__).resolve().parent / "static"
log = logging.getLogger("brushwork.server")


def create_app(settings: ServerSettings | None = None, queue: JobQueue | None = None, *,
               stylizer: Any = None) -> FastAPI:
    """The app. Without `queue`, its lifespan loads one Stylizer (or uses `stylizer`) and runs jobs
    on a queue from `make_queue`; a given queue is used as is and left open for its owner."""
    settings = settings or ServerSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = settings
        own = queue is None
        if own:
            if not settings.broker_url:  # with a broker the workers hold the network, not the server
                app.state.stylizer = stylizer or await anyio.to_thread.run_sync(_load_stylizer, settings)
            app.state.queue = make_queue(settings, lambda: app.state.stylizer)
        else:
            app.state.stylizer = stylizer
            app.state.queue = queue
        try:
            yield
        finally:
            if own:
                await anyio.to_thread.run_sync(app.state.queue.close)

    app = FastAPI(title="brushwork", version=__version__, lifespan=lifespan,
                  description="Neural style transfer (Gatys et al., VGG-19) over HTTP. `POST /stylize` answers "
                              "with the image; `POST /jobs` queues long work with progress events.")
    app.state.settings = settings
    install_error_handlers(app)
    app.include_router(api)
    app.include_router(public)
    _add_page(app)
    _add_phone_page(app, settings.phone_dir)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)  # before anything reads the body
    if settings.cors_origins:  # added last = outermost, so even a 413 carries CORS headers
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins),
                           allow_methods=["GET", "POST", "DELETE"],
                           allow_headers=["Authorization", "Content-Type"], expose_headers=["Retry-After", "Location"])
    return app


def _load_stylizer(settings: ServerSettings) -> Any:
    from ..stylizer import Stylizer

    if settings.threads:
        import torch

        torch.set_num_threads(settings.threads)
    log.info("loading VGG-19 on %s", settings.device)
    return Stylizer(device=settings.device)


def _add_page(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


def _add_phone_page(app: FastAPI, cache_dir: Path | None) -> None:
    """/phone: the on-device page (brushwork.fast.phone_app), built on its first request, then cached.

    Built lazily because the build exports the ONNX networks (seconds, and the onnx package): a
    server that never shows the phone page never pays for it. Without onnx or onnxruntime-web the
    page answers 503 with the one line that says how to get them.
    """
    lock = threading.Lock()
    built: list[Path] = []

    def folder() -> Path:
        with lock:
            if not built:
                from ..fast.phone_app import phone_folder

                built.append(phone_folder(cache_dir))
            return built[0]

    @app.get("/phone", include_in_schema=False)
    async def phone_root() -> RedirectResponse:
        return RedirectResponse("/phone/")

    @app.get("/phone/{path:path}", include_in_schema=False)
    async def phone(path: str) -> Response:
        from ..fast.phone_app import PhoneAppError, phone_file

        try:
            root = await anyio.to_thread.run_sync(folder)
        except (PhoneAppError, ImportError) as error:
            return error_response(503, "phone_page_unavailable", str(error).splitlines()[0])
        found = phone_file(root, path)
        if found is None:
            return error_response(404, "not_found", f"no file '{path}' in the phone page")
        return FileResponse(found, headers={"Cache-Control": "no-cache"})
