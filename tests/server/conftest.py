"""Server fixtures: apps over the session's real Stylizer, tiny base64 images, a live uvicorn server."""

from __future__ import annotations

import base64
import contextlib
import io
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from brushwork.server import create_app
from brushwork.server.settings import ServerSettings
from tests.conftest import make_content, make_style

#: Small and quick: one scale, a few steps.
FAST = {"size": 32, "scales": 1, "epochs": 1, "steps_per_epoch": 2}


def encode(image: Image.Image, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def b64(image: Image.Image, fmt: str = "PNG") -> str:
    return base64.b64encode(encode(image, fmt)).decode("ascii")


def seed_body(**changes: Any) -> dict[str, Any]:
    """The seed request's shape with tiny images (and fast options unless overridden)."""
    body: dict[str, Any] = {"content_img": b64(make_content(64)), "style_img": b64(make_style(48)), **FAST}
    body.update(changes)
    return body


def decode_png(text_or_bytes: str | bytes) -> Image.Image:
    data = base64.b64decode(text_or_bytes) if isinstance(text_or_bytes, str) else text_or_bytes
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.fixture
def make_client(stylizer: Any) -> Iterator[Callable[..., TestClient]]:
    """`make_client(**settings)`: a started TestClient whose app shares the session's Stylizer."""
    clients: list[TestClient] = []

    def make(**settings: Any) -> TestClient:
        app = create_app(ServerSettings(**{"device": "cpu", **settings}), stylizer=stylizer)
        client = TestClient(app)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def start_live_server(stylizer: Any, **settings: Any) -> Iterator[str]:
    """A real uvicorn server on a free loopback port, in a thread; yields its base URL."""
    import uvicorn

    port = free_port()
    app = create_app(ServerSettings(**{"device": "cpu", "port": port, **settings}), stylizer=stylizer)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


@pytest.fixture
def live_server(stylizer: Any) -> Iterator[str]:
    with start_live_server(stylizer) as url:
        yield url
