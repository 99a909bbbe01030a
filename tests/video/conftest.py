"""Video fixtures: a sample clip made in the test (shapes moving over a texture, with a tone)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("av")
pytest.importorskip("cv2")

from brushwork.video.sample import write_sample_clip  # noqa: E402


@pytest.fixture(scope="session")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1 s at 12 fps, 96x64, with AAC audio."""
    return write_sample_clip(tmp_path_factory.mktemp("clips") / "clip.mp4", width=96, height=64, frames=12, fps=12)


@pytest.fixture(scope="session")
def style_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.conftest import make_style

    path = tmp_path_factory.mktemp("styles") / "stripes.png"
    make_style(96).save(path)
    return path
