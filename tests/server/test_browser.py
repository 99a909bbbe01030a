"""End to end in real headless Chromium (Debian's package, driven by Playwright): upload two images
on the web page, wait for the result, check it is an image of the chosen size."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .conftest import encode
from tests.conftest import make_content, make_style

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (deps/apt/server.txt)")


def test_web_page_paints_an_image(live_server: str, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    content, style = tmp_path / "house.png", tmp_path / "stripes.jpg"
    content.write_bytes(encode(make_content(96)))           # 96 x 72
    style.write_bytes(encode(make_style(64), "JPEG"))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(live_server + "/")
            page.wait_for_selector("#colour-choices input")       # /config has been read
            page.set_input_files("#content-input", str(content))
            page.set_input_files("#style-input", str(style))
            assert page.is_visible("#content-thumb") and page.is_visible("#style-thumb")
            for selector, value in (("#size", "64"), ("#steps", "5")):
                page.eval_on_selector(selector, "(el, v) => { el.value = v; el.dispatchEvent(new Event('input')); }",
                                      value)
            assert page.text_content("#size-out") == "64 px"
            page.click("text=Photo's colours")
            page.click("#go")
            page.wait_for_selector("#result", state="visible", timeout=60_000)
            width, height = page.eval_on_selector("#result", "img => [img.naturalWidth, img.naturalHeight]")
            assert (width, height) == (64, 48)
            assert page.is_visible("#download")
            assert page.get_attribute("#download", "download") == "house-brushwork.png"
            assert "64 × 48 px · fast preview" in page.text_content("#result-meta")   # feed-forward first
            fast_src = page.get_attribute("#result", "src")

            # a strong setting: fast mode adds a coarse pass (bolder shapes) in proportion
            page.evaluate("""() => {  // record the form fields the page sends (Chromium hides multipart bodies)
                window.sentForms = [];
                const send = window.fetch;
                window.fetch = (url, init) => {
                    if (init && init.body instanceof FormData) {
                        window.sentForms.push(Object.fromEntries(
                            [...init.body.entries()].filter(([, value]) => typeof value === "string")));
                    }
                    return send(url, init);
                };
            }""")
            page.eval_on_selector("#strength", "el => { el.value = '2'; el.dispatchEvent(new Event('input')); }")
            page.click("#go")
            page.wait_for_function(f"document.querySelector('#result').src !== {fast_src!r}", timeout=60_000)
            sent = page.evaluate("window.sentForms")
            assert len(sent) == 1 and sent[0]["mode"] == "fast"
            assert sent[0]["coarse_pass"] == "0.25" and sent[0]["style_strength"] == "1"
            assert page.is_hidden("#error")
            fast_src = page.get_attribute("#result", "src")

            page.click("#refine")                                   # then the optimizer, on request
            page.wait_for_function("document.querySelector('#result-meta').textContent.includes('optimized')",
                                   timeout=60_000)
            assert page.get_attribute("#result", "src") != fast_src and page.is_hidden("#refine")
            width, height = page.eval_on_selector("#result", "img => [img.naturalWidth, img.naturalHeight]")
            assert (width, height) == (64, 48)
            assert page.is_hidden("#error") and not errors

            # a readable error: the page says what the server said
            page.set_input_files("#content-input", {"name": "broken.png", "mimeType": "image/png",
                                                    "buffer": encode(make_content(64))[:60]})
            page.click("#go")
            page.wait_for_selector("#error", state="visible", timeout=20_000)
            assert page.text_content("#error") == "Photo: image data could not be decoded (image file is truncated)"
        finally:
            browser.close()
