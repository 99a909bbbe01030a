"""Quality measures for a stylized image, computed with the same VGG-19 at the output's size.

style distance   = mean over relu1_1..relu5_1 of ||G(out) - G(style)|| / ||G(style)||
content distance = ||F(out) - F(content)|| / ||F(content)|| at relu4_2
Lower is better for both; they pull against each other, so report them together.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from .imaging import ImageInput, load_image, output_size, resize, to_tensor
from .losses import gram_matrix
from .options import DEFAULT_CONTENT_LAYERS, DEFAULT_STYLE_LAYERS

if TYPE_CHECKING:
    from .stylizer import Stylizer


@dataclass(frozen=True)
class Scores:
    """Style and content distance of one output (lower is closer)."""

    style: float
    content: float

    def as_dict(self) -> dict[str, float]:
        return {"style_distance": self.style, "content_distance": self.content}


def relative_distance(value: torch.Tensor, target: torch.Tensor) -> float:
    """||value - target|| / ||target||."""
    return float((value - target).norm() / target.norm().clamp_min(1e-12))


def score(stylizer: "Stylizer", output: ImageInput, content: ImageInput, style: ImageInput,
          style_scale: float = 1.0, pooling: str = "avg") -> Scores:
    """Distances of `output` to the content (at the output's size) and to the style."""
    out_rgb = load_image(output).rgb
    size = out_rgb.size
    content_rgb = resize(load_image(content).rgb, size)
    style_rgb = load_image(style).rgb
    style_rgb = resize(style_rgb, output_size(*style_rgb.size, round(max(size) * style_scale)))
    layers = (*DEFAULT_STYLE_LAYERS, *DEFAULT_CONTENT_LAYERS)
    out_f = stylizer.features(to_tensor(out_rgb), layers, pooling=pooling)
    content_f = stylizer.features(to_tensor(content_rgb), DEFAULT_CONTENT_LAYERS, pooling=pooling)
    style_f = stylizer.features(to_tensor(style_rgb), DEFAULT_STYLE_LAYERS, pooling=pooling)
    style_d = sum(relative_distance(gram_matrix(out_f[n]), gram_matrix(style_f[n])) for n in DEFAULT_STYLE_LAYERS)
    content_d = sum(relative_distance(out_f[n], content_f[n]) for n in DEFAULT_CONTENT_LAYERS)
    return Scores(style=style_d / len(DEFAULT_STYLE_LAYERS), content=content_d / len(DEFAULT_CONTENT_LAYERS))
