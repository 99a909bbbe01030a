"""Shared fixtures: one real Stylizer for the session, and small generated images."""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch
from PIL import Image

import brushwork

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

torch.set_num_threads(max(1, min(2, torch.get_num_threads())))


def export_module(name: str) -> ModuleType:
    """`pytest.importorskip(name)` for the export converters, except under `make test-export`
    (BRUSHWORK_EXPORT_TESTS=1), which installs them: there a missing or broken one fails."""
    if os.environ.get("BRUSHWORK_EXPORT_TESTS"):
        return importlib.import_module(name)
    return pytest.importorskip(name)


@pytest.fixture(scope="session")
def stylizer() -> brushwork.Stylizer:
    return brushwork.Stylizer(device="cpu")


@pytest.fixture(scope="session")
def photo() -> Image.Image:
    """The bundled astronaut photo (scikit-image's sample)."""
    return Image.open(EXAMPLES / "astronaut.jpg").convert("RGB")


@pytest.fixture(scope="session")
def strokes() -> Image.Image:
    """The bundled stroke painting."""
    return Image.open(EXAMPLES / "strokes.png").convert("RGB")


def make_content(size: int = 96) -> Image.Image:
    """A simple 'scene': sky gradient, a dark house with a lit window, green ground."""
    h, w = size * 3 // 4, size
    y = np.linspace(0, 1, h)[:, None, None]
    image = np.concatenate([np.broadcast_to(0.4 + 0.5 * y, (h, w, 1)),
                            np.broadcast_to(0.6 + 0.3 * y, (h, w, 1)),
                            np.full((h, w, 1), 0.95)], axis=2).copy()
    image[h * 2 // 3:, :] = (0.2, 0.55, 0.2)
    image[h // 3: h * 2 // 3 + 1, w // 4: w // 2] = (0.35, 0.2, 0.15)
    image[h // 2 - 4: h // 2 + 4, w // 3 - 4: w // 3 + 4] = (1.0, 0.9, 0.3)
    return Image.fromarray((image * 255).astype(np.uint8))


def make_style(size: int = 96, seed: int = 1) -> Image.Image:
    """High-contrast diagonal stripes in two colours with noise: a texture with a clear Gram."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    stripes = (np.sin((xx + yy) / 3.0) > 0)[..., None]
    image = np.where(stripes, [0.9, 0.2, 0.1], [0.1, 0.2, 0.8]) + rng.normal(0, 0.05, (size, size, 3))
    return Image.fromarray((np.clip(image, 0, 1) * 255).astype(np.uint8))


@pytest.fixture
def content_image() -> Image.Image:
    return make_content()


@pytest.fixture
def style_image() -> Image.Image:
    return make_style()


@pytest.fixture
def image_files(tmp_path: Path) -> dict[str, Path]:
    content, style = tmp_path / "content.png", tmp_path / "style.jpg"
    make_content().save(content)
    make_style().save(style)
    return {"content": content, "style": style, "dir": tmp_path}
