"""Video jobs over HTTP: a clip in (multipart), progress per frame with previews, an MP4 out; limits
and bad clips are 4xx naming what was wrong; the web page paints a clip and plays it."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from .conftest import encode
from tests.conftest import make_style

av = pytest.importorskip("av")
pytest.importorskip("cv2")

from brushwork.video.sample import write_sample_clip  # noqa: E402

FAST_VIDEO = {"mode": "fast", "size": "48"}


@pytest.fixture(scope="module")
def clip_bytes() -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        return write_sample_clip(Path(folder) / "clip.mp4", width=64, height=48, frames=8, fps=8).read_bytes()


def _files(clip: bytes) -> dict:
    return {"video": ("clip.mp4", clip, "video/mp4"), "style_img": ("s.png", encode(make_style(48)), "image/png")}


def test_a_video_job_reports_frames_and_answers_an_mp4(client: TestClient, clip_bytes: bytes, tmp_path: Path):
    response = client.post("/jobs", files=_files(clip_bytes), data=FAST_VIDEO)
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["kind"] == "video" and job["total"] == 8
    with client.stream("GET", f"/jobs/{job['id']}/events") as stream:
        events = [json.loads(line[5:]) for line in stream.iter_lines() if line.startswith("data:")]
    assert events[-1]["state"] == "done" and events[-1]["step"] == 8
    assert any(event.get("preview", "").startswith("data:image/jpeg") for event in events)
    result = client.get(f"/jobs/{job['id']}/result")
    assert result.status_code == 200 and result.headers["content-type"] == "video/mp4"
    assert result.headers["content-disposition"].endswith('.mp4"')
    (tmp_path / "out.mp4").write_bytes(result.content)
    with av.open(str(tmp_path / "out.mp4")) as out:
        assert out.streams.video[0].average_rate == 8 and len(out.streams.audio) == 1
        assert sum(1 for _ in out.decode(video=0)) == 8


def test_video_limits_and_bad_clips_are_4xx_naming_them(make_client: Callable[..., TestClient], clip_bytes: bytes):
    client = make_client(max_video_seconds=0.5, max_video_frames=100)
    response = client.post("/jobs", files=_files(clip_bytes), data=FAST_VIDEO)
    assert response.status_code == 422 and "max_video_seconds" in response.json()["detail"]
    client = make_client(max_video_frames=4)
    response = client.post("/jobs", files=_files(clip_bytes), data=FAST_VIDEO)
    assert response.status_code == 422 and "max_video_frames" in response.json()["detail"]
    response = client.post("/jobs", files=_files(clip_bytes), data={**FAST_VIDEO, "start": "5"})
    assert response.status_code == 422 and "past the clip" in response.json()["detail"]
    for bad in (b"not a clip", clip_bytes[:300], b""):
        response = client.post("/jobs", files=_files(bad), data=FAST_VIDEO)
        assert response.status_code == 422, response.text
        assert response.json()["detail"].startswith("video:") and "\n" not in response.json()["detail"]
    response = client.post("/jobs", files={"video": ("c.mp4", clip_bytes, "video/mp4")}, data=FAST_VIDEO)
    assert response.status_code == 422 and "style_img" in response.text
    assert client.get("/config").json()["limits"]["max_video_frames"] == 4


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (deps/apt/server.txt)")
def test_web_page_paints_a_clip_and_plays_it(live_server: str, clip_bytes: bytes, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    clip, style = tmp_path / "walk.mp4", tmp_path / "stripes.png"
    clip.write_bytes(clip_bytes)
    style.write_bytes(encode(make_style(48)))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(live_server + "/")
            page.wait_for_selector("#colour-choices input")
            page.set_input_files("#content-input", str(clip))
            page.set_input_files("#style-input", str(style))
            assert page.is_hidden("#content-thumb") and page.is_hidden("#error")
            page.eval_on_selector("#size", "el => { el.value = '64'; el.dispatchEvent(new Event('input')); }")
            page.click("#go")
            page.wait_for_selector("#result-video", state="visible", timeout=120_000)
            assert page.get_attribute("#download", "download") == "walk-brushwork.mp4"
            assert "8 frames" in page.text_content("#result-meta")
            assert page.is_hidden("#result") and page.is_hidden("#error") and not errors
        finally:
            browser.close()
