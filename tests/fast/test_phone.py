"""The phone page stylizes on-device in headless Chromium (phone viewport), served as static files."""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import threading

import numpy as np
import pytest
from PIL import Image

import brushwork

from tests.conftest import EXAMPLES

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
    # the worker's cache is named after what the page was built from, so installed pages update
    from brushwork.fast.phone_app import source_digest

    digest = json.loads((folder / "build.json").read_text())["source"]
    assert digest == source_digest() and f'"brushwork-phone-{digest}"' in worker


def test_a_new_runtime_changes_the_build_digest(site, tmp_path, monkeypatch):
    """Upgrading onnxruntime-web at the same brushwork version must not leave installed pages stale."""
    import shutil

    from brushwork.fast.phone_app import ORT_FILES, ort_dir, source_digest

    before = source_digest()
    runtime = tmp_path / "ort"
    runtime.mkdir()
    for name in ORT_FILES:
        shutil.copyfile(ort_dir() / name, runtime / name)
    monkeypatch.setenv("BRUSHWORK_ORT_WEB_DIR", str(runtime))
    assert source_digest() == before                      # the same files: the same build
    (runtime / ORT_FILES[0]).write_text((runtime / ORT_FILES[0]).read_text() + "\n// 1.x.1")
    assert source_digest() != before


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (deps/apt/fast.txt)")
def test_phone_page_stylizes_in_the_browser(site, tmp_path):
    _, url = site
    # both at the sizes the page reads them at (photo 256 px, painting 320 px: the floor), as PNG:
    # no resampling or JPEG decoder differences, so the page's result can be compared with brushwork's own below
    photo, painting = tmp_path / "photo.png", tmp_path / "painting.png"
    Image.open(EXAMPLES / "astronaut.jpg").convert("RGB").resize((256, 256)).save(photo)
    Image.open(EXAMPLES / "strokes.png").convert("RGB").resize((320, 320)).save(painting)
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
            on_phone = _result_pixels(page)
            assert np.ptp(on_phone[..., 1]) > 50            # an image, not a flat or black canvas
            # the same picture brushwork paints itself (mirrored border, cropping and all)
            here = brushwork.Stylizer(device="cpu", precision="fp32")(photo, painting, mode="fast", size=256)
            difference = np.abs(on_phone - np.asarray(here.image, np.float32))
            assert difference.mean() < 1.0 and np.percentile(difference, 99) < 6, \
                (difference.mean(), np.percentile(difference, 99))

            # bolder shapes: brushwork's coarse pass, in the page (the browser's resampling, not torch's)
            page.eval_on_selector("#bold", "el => { el.value = '30'; el.dispatchEvent(new Event('input')); }")
            assert page.text_content("#bold-value") == "30%"
            page.evaluate("document.getElementById('status').textContent = ''")
            page.click("#go")
            page.wait_for_function("document.getElementById('status').textContent.startsWith('Done')", timeout=90000)
            bold = _result_pixels(page)
            here_bold = brushwork.Stylizer(device="cpu", precision="fp32")(photo, painting, mode="fast", size=256,
                                                                           coarse_pass=0.3)
            to_brushwork = np.abs(bold - np.asarray(here_bold.image, np.float32)).mean()
            to_one_pass = np.abs(bold - on_phone).mean()
            # (the second pass amplifies resampling differences: torch's bilinear instead of bicubic
            # enlargement alone moves brushwork's own picture by 4 levels on average; the page: ~6)
            assert to_brushwork < 10 and to_one_pass > 3 * to_brushwork, (to_brushwork, to_one_pass)
            assert not errors, errors
            # the model ran in the page: every request was a plain GET of a static file
            assert all(r.startswith("GET ") for r in requests), requests
            assert page.evaluate("navigator.serviceWorker.getRegistration().then(r => !!r)")
        finally:
            browser.close()


def _result_pixels(page) -> np.ndarray:
    """The page's result canvas as (H, W, 3) float32."""
    width, height, pixels = page.evaluate("""(() => {
        const c = document.getElementById('result');
        return [c.width, c.height, Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)]; })()""")
    return np.asarray(pixels, np.float32).reshape(height, width, 4)[..., :3]
