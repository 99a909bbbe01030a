"""The fixed seed contract `POST /stylize` and every kind of bad input, with status AND message."""

from __future__ import annotations

import base64
import struct
import time
import zlib
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import make_content, make_style

from .conftest import b64, decode_png, encode, seed_body


def test_seed_request_returns_a_png_of_the_asked_size(client: TestClient) -> None:
    response = client.post("/stylize", json=seed_body(size=40))
    assert response.status_code == 200, response.text
    assert list(response.json()) == ["result"]
    image = decode_png(response.json()["result"])
    assert image.format == "PNG" and image.size == (40, 30)
    assert image.getextrema() != make_content(40).getextrema()  # it was painted, not echoed


def test_data_urls_and_jpeg_inputs_are_accepted(client: TestClient) -> None:
    body = seed_body(content_img="data:image/png;base64," + b64(make_content(64)),
                     style_img="data:image/jpeg;base64," + b64(make_style(48), "JPEG"))
    response = client.post("/stylize", json=body)
    assert response.status_code == 200, response.text
    assert decode_png(response.json()["result"]).size == (32, 24)


def test_several_styles_and_library_options_by_name(client: TestClient) -> None:
    body = seed_body(style_img=[b64(make_style(48)), b64(make_style(48, seed=3))], style_blend_weights=[2, 1],
                     preserve_colour="luminance", optimizer="adam", seed=7)
    response = client.post("/stylize", json=body)
    assert response.status_code == 200, response.text


def test_fast_mode_over_stylize_and_jobs(client: TestClient) -> None:
    """`"mode": "fast"` runs the feed-forward networks: one progress step, the asked size, and a
    result that differs from the optimizer's for the same request."""
    fast = client.post("/stylize", json=seed_body(size=48, mode="fast", style_strength=0.8))
    assert fast.status_code == 200, fast.text
    optimized = client.post("/stylize", json=seed_body(size=48))
    fast_image, optimized_image = decode_png(fast.json()["result"]), decode_png(optimized.json()["result"])
    assert fast_image.size == optimized_image.size == (48, 36)
    assert fast_image.tobytes() != optimized_image.tobytes()
    job = client.post("/jobs", json=seed_body(size=48, mode="fast"))
    assert job.status_code == 202, job.text
    for _ in range(200):
        info = client.get(f"/jobs/{job.json()['id']}").json()
        if info["state"] == "done":
            break
        time.sleep(0.05)
    assert info["state"] == "done" and info["total"] == 1
    assert "fast" in client.get("/config").json()["choices"]["mode"]


def test_optimizer_starting_from_the_fast_picture(client: TestClient) -> None:
    response = client.post("/stylize", json=seed_body(size=40, init="fast"))
    assert response.status_code == 200, response.text
    assert decode_png(response.json()["result"]).size == (40, 30)
    refused = client.post("/stylize", json=seed_body(size=40, init="fast", backend="tensorflow"))
    assert refused.status_code == 422 and "init 'fast'" in refused.json()["detail"], refused.text
    assert "fast" in client.get("/config").json()["choices"]["init"]


def _png_claiming(width: int, height: int) -> bytes:
    """A real PNG whose header says width x height (only the header is ever read)."""
    data = bytearray(encode(make_content(16)))
    ihdr = bytearray(data[12:29])                        # b"IHDR" + 13 bytes
    ihdr[4:12] = struct.pack(">II", width, height)
    data[12:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)))
    return bytes(data)


DROP = object()
BAD_REQUESTS: list[tuple[str, dict[str, Any], int, str]] = [
    ("not base64", {"content_img": "this is *not* base64!"}, 400, "content_img: image data is not valid base64"),
    ("not an image", {"style_img": base64.b64encode(b"hello, world").decode()}, 400,
     "style_img: image data is not an image"),
    ("truncated image", {"content_img": base64.b64encode(encode(make_content(64))[:120]).decode()}, 400,
     "content_img: image data could not be decoded"),
    ("empty image", {"content_img": ""}, 400, "content_img: image data is empty"),
    ("huge dimensions", {"content_img": base64.b64encode(_png_claiming(100_000, 100_000)).decode()}, 413,
     "content_img: image data is too large to decode safely (decompression bomb guard); this server's limit "
     "is 40000000 pixels (max_pixels)"),
    ("over the pixel limit", {"content_img": base64.b64encode(_png_claiming(8000, 6000)).decode()}, 413,
     "content_img: image is 8000x6000 = 48000000 pixels, more than the limit of 40000000 (max_pixels)"),
    ("negative epochs", {"epochs": -3}, 422, "epochs: Input should be greater than or equal to 1"),
    ("absurd epochs", {"epochs": 10**9}, 422, "epochs: Input should be less than or equal to 1000"),
    ("too many steps", {"epochs": 100, "steps_per_epoch": 100}, 422,
     "epochs x steps_per_epoch = 100 x 100 = 10000 steps, more than this server's limit of 2000 (max_steps)"),
    ("too large output", {"size": 4096}, 422, "size 4096 is larger than this server's limit of 2048 px"),
    ("missing field", {"content_img": DROP}, 422, "content_img: Field required"),
    ("wrong type", {"epochs": "five"}, 422, "epochs: Input should be a valid integer"),
    ("image not a string", {"content_img": 123}, 422, "content_img: Input should be a valid string"),
    ("fractional steps", {"steps_per_epoch": 2.5}, 422, "steps_per_epoch: Input should be a valid integer"),
    ("wrong choice", {"preserve_colour": "sepia"}, 422, "preserve_colour: Input should be 'none', 'luminance'"),
    ("bad layer", {"style_layers": ["relu9_9"]}, 422, "style_layers: unknown VGG-19 layer(s) relu9_9"),
    ("server-only option", {"device": "cuda"}, 422, "device: not settable over HTTP (the server chooses it)"),
    ("unknown field", {"weights": "/etc/passwd"}, 422, "weights: unknown field"),
    ("engine-level check", {"style_blend_weights": [1, 2]}, 422, "style_blend_weights has 2 values for 1 style image"),
]


@pytest.mark.parametrize(("case", "changes", "status", "message"), BAD_REQUESTS, ids=[c[0] for c in BAD_REQUESTS])
def test_bad_input_gets_a_clear_4xx(client: TestClient, case: str, changes: dict[str, Any], status: int,
                                    message: str) -> None:
    body = {k: v for k, v in seed_body(**changes).items() if v is not DROP}
    response = client.post("/stylize", json=body)
    assert response.status_code == status, response.text
    assert response.json()["detail"].startswith(message), response.json()
    assert set(response.json()) == {"error", "detail"}


def test_body_that_is_not_json(client: TestClient) -> None:
    response = client.post("/stylize", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json() == {"error": "bad_json", "detail": "the request body is not valid JSON"}


def test_oversize_body_is_refused_before_it_is_read(make_client: Callable[..., TestClient]) -> None:
    client = make_client(max_body_bytes=4096)
    response = client.post("/stylize", json=seed_body(content_img=b64(make_content(256))))
    assert response.status_code == 413
    assert response.json()["error"] == "body_too_large"
    assert "more than this server's limit of 4096 bytes (max_body_bytes)" in response.json()["detail"]

    def chunks():  # no Content-Length: counted while it streams in
        for _ in range(10):
            yield b"x" * 1000

    response = client.post("/stylize", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413 and "max_body_bytes" in response.json()["detail"]


def test_pixel_limit_is_configurable(make_client: Callable[..., TestClient]) -> None:
    client = make_client(max_pixels=50 * 50)
    response = client.post("/stylize", json=seed_body())
    assert response.status_code == 413
    assert response.json()["detail"] == ("content_img: image is 64x48 = 3072 pixels, more than the limit of "
                                         "2500 (max_pixels)")


def test_size_none_keeps_the_content_size_within_the_limit(make_client: Callable[..., TestClient]) -> None:
    client = make_client(max_size=48)
    response = client.post("/stylize", json=seed_body(size=None))
    assert response.status_code == 422
    assert "the content image's own size (64x48) is larger than this server's limit of 48 px" in \
        response.json()["detail"]


def test_api_key(make_client: Callable[..., TestClient]) -> None:
    client = make_client(api_key="s3cret")
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic s3cret"}):
        response = client.post("/stylize", json=seed_body(), headers=headers)
        assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
        assert "Authorization: Bearer" in response.json()["detail"]
    assert client.get("/jobs/x").status_code == 401
    assert client.get("/healthz").status_code == 200
    assert client.get("/config").json()["auth"] is True
    response = client.post("/stylize", json=seed_body(), headers={"Authorization": "Bearer s3cret"})
    assert response.status_code == 200


def test_cors_origins(make_client: Callable[..., TestClient]) -> None:
    client = make_client(cors_origins="https://app.example, https://other.example")
    response = client.options("/stylize", headers={"Origin": "https://app.example",
                                                   "Access-Control-Request-Method": "POST"})
    assert response.headers["access-control-allow-origin"] == "https://app.example"
    response = client.get("/healthz", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in response.headers


def test_info_routes_and_page(client: TestClient) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    version = client.get("/version").json()
    assert version["brushwork"] and version["device"] == "cpu"
    config = client.get("/config").json()
    assert config["defaults"]["epochs"] == 5 and "device" not in config["defaults"]
    assert config["choices"]["preserve_colour"] == ["none", "luminance", "histogram"]
    schema = client.get("/openapi.json").json()
    fields = schema["components"]["schemas"]["StylizeRequest"]["properties"]
    assert {"content_img", "style_img", "epochs", "steps_per_epoch", "style_weight"} <= set(fields)
    assert "device" not in fields and fields["epochs"]["maximum"] == 1000
    assert client.get("/docs").status_code == 200
    page = client.get("/")
    assert page.status_code == 200 and "<title>brushwork" in page.text
    assert client.get("/static/app.js").status_code == 200
    missing = client.get("/nowhere")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
