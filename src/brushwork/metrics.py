"""Quality measures for a stylized image, computed with the same VGG-19 at the output's size.

style distance   = mean over relu1_1..relu5_1 of ||G(out) - G(style)|| / ||G(style)||
content distance = ||F(out) - F(content)|| / ||F(content)|| at relu4_2
Lower is better for both; they pull against each other, so report them together.

For clips, `warping_error` (Lai et al. 2018) measures flicker: how much a stylized frame differs
from the previous one carried along the input clip's optical flow.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from .errors import InvalidInputError
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


# -- video -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class VideoScores:
    """How steady and how painted a stylized clip is (lower is better for all)."""

    warping_error: float                 # of the stylized clip, along the input clip's flow
    input_warping_error: float           # of the input clip itself: what motion compensation leaves
    style: float | None                  # mean style distance of the frames to the painting
    content: float | None                # mean content distance of the frames to the input frames
    frames: int

    def as_dict(self) -> dict[str, float | int | None]:
        return {"warping_error": self.warping_error, "input_warping_error": self.input_warping_error,
                "style_distance": self.style, "content_distance": self.content, "frames": self.frames}


def warping_error(stylized: Iterable[np.ndarray], inputs: Iterable[np.ndarray], flow: str = "medium") -> float:
    """Lai et al. 2018's warping error: the mean over t of the squared RGB difference (values in
    [0, 1]) between stylized frame t and stylized frame t-1 carried onto it by the INPUT clip's
    flow, over the pixels that flow does not mark occluded. Frames are (H, W, 3) uint8 or float,
    both clips at one size. 0 for a clip of one frame."""
    from .video.flow import FlowEstimator, motion

    estimator = FlowEstimator(flow)
    errors: list[float] = []
    previous: tuple[np.ndarray, np.ndarray] | None = None
    for out, source in zip(stylized, inputs, strict=True):
        out_f = _unit(out)
        if out_f.shape != _unit(source).shape:
            raise InvalidInputError(f"the clips' frames differ in size ({out.shape[1]}x{out.shape[0]} and "
                                    f"{source.shape[1]}x{source.shape[0]})")
        if previous is not None:
            moved = motion(previous[1], source, estimator)
            difference = np.square(out_f - moved.carry(previous[0])).sum(-1)
            trusted = float(moved.weights.sum())
            if trusted > 0:
                errors.append(float((difference * moved.weights).sum()) / trusted)
        previous = (out_f, source)
    return float(np.mean(errors)) if errors else 0.0


def _unit(frame: np.ndarray) -> np.ndarray:
    return frame.astype(np.float32) / 255.0 if frame.dtype == np.uint8 else frame.astype(np.float32)


def score_video(stylizer: "Stylizer | None", stylized: str | Path, source: str | Path, style: ImageInput | None = None,
                every: int = 1) -> VideoScores:
    """`VideoScores` of a stylized clip against its input clip (both video files or frame folders;
    the input read at the stylized clip's size), and, with `style` and a `stylizer`, the style and
    content distances of every `every`-th frame."""
    from .video.clip import probe, read_frames

    out_info, in_info = probe(stylized), probe(source)
    size = (out_info.width, out_info.height)
    if out_info.frames and in_info.frames and abs(out_info.frames - in_info.frames) > 1:
        raise InvalidInputError(f"the stylized clip has {out_info.frames} frames and the input {in_info.frames}: "
                                "not the same clip")
    out_frames = list(read_frames(out_info, size))
    in_frames = list(read_frames(in_info, size))
    if len(out_frames) != len(in_frames):
        raise InvalidInputError(f"the stylized clip has {len(out_frames)} frames and the input {len(in_frames)}")
    stylized_error = warping_error(out_frames, in_frames)
    input_error = warping_error(in_frames, in_frames)
    styles, contents = [], []
    if style is not None and stylizer is not None:
        from PIL import Image

        style_image = load_image(style).rgb
        for out, source_frame in list(zip(out_frames, in_frames))[::max(1, every)]:
            scores = score(stylizer, Image.fromarray(out), Image.fromarray(source_frame), style_image)
            styles.append(scores.style)
            contents.append(scores.content)
    return VideoScores(stylized_error, input_error, float(np.mean(styles)) if styles else None,
                       float(np.mean(contents)) if contents else None, len(out_frames))
