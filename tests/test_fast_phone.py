"""The phone page stylizes on-device in headless Chromium (phone viewport), served as static files."""

from __future__ import annotations

import functools
import http.server
import shutil
import threading

import pytest
from PIL import Image

from .conftest import EXAMPLES

pytest.importorskip("onnx")
playwright_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from brushwork.fast.phone_app import MIME_TYPES, build_phone_app, ort_dir

    if not (ort_dir() / "ort.wasm.min.js").is_file():
        pytest.fail("onnxruntime-web is not vendored: run `bash deps/install-npm.sh` (make setup does)")
    folder = build_phone_app(tmp_path_factory.mktemp("phone"))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, **MIME_TYPES}
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


def test_build_has_pwa_pieces(site):
    folder, _ = site
    for name in ("index.html", "app.js", "sw.js", "manifest.webmanifest", "icons/icon-192.png",
                 "icons/icon-512.png", "models/style.onnx", "models/transfer.onnx", "ort/ort-wasm-simd-threaded.wasm"):
        assert (folder / name).is_file(), name
    assert Image.open(folder / "icons/icon-512.png").size == (512, 512)
    worker = (folder / "sw.js").read_text()
    assert "models/transfer.onnx" in worker and "ort/ort-wasm-simd-threaded.wasm" in worker


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (deps/apt/fast.txt)")
def test_phone_page_stylizes_in_the_browser(site, tmp_path):
    _, url = site
    photo, painting = tmp_path / "photo.jpg", tmp_path / "painting.png"
    Image.open(EXAMPLES / "astronaut.jpg").convert("RGB").resize((160, 160)).save(photo)
    Image.open(EXAMPLES / "strokes.png").convert("RGB").resize((128, 128)).save(painting)
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                                          is_mobile=True, has_touch=True)
            page = context.new_page()
            requests: list[str] = []
            page.on("request", lambda r: requests.append(f"{r.method} {r.url}"))
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(url)
            page.wait_for_function("document.getElementById('status').textContent.startsWith('Pick')", timeout=60000)
            # fits a phone: nothing wider than the screen
            assert page.evaluate("document.documentElement.scrollWidth") <= 390
            page.set_input_files("#content-file", str(photo))
            page.set_input_files("#style-file", str(painting))
            page.select_option("#size", "256")
            page.click("#go")
            page.wait_for_function("document.getElementById('status').textContent.startsWith('Done')", timeout=90000)
            width, height = page.evaluate("[document.getElementById('result').width, "
                                          "document.getElementById('result').height]")
            assert (width, height) == (256, 256)
            spread = page.evaluate("""(() => {
                const c = document.getElementById('result');
                const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                let lo = 255, hi = 0;
                for (let i = 0; i < d.length; i += 4) { lo = Math.min(lo, d[i + 1]); hi = Math.max(hi, d[i + 1]); }
                return hi - lo; })()""")
            assert spread > 50                              # an image, not a flat or black canvas
            assert not errors, errors
            # the model ran in the page: every request was a plain GET of a static file
            assert all(r.startswith("GET ") for r in requests), requests
            assert page.evaluate("navigator.serviceWorker.getRegistration().then(r => !!r)")
        finally:
            browser.close()
