"""The engine-independent steps of one call, shared by the PyTorch and the Keras engines.

Check the call, prepare the images (size, colour handling), resize per level, finish (colour,
alpha), and turn optimizer steps into Progress records: each engine only supplies its network,
losses and optimizer, so both treat options and images the same way.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from PIL import Image

from . import colour, imaging
from .callbacks import Callback, Progress
from .errors import InvalidInputError
from .imaging import ImageInput, LoadedImage
from .options import MAX_SIZE, StyleOptions
from .schedule import Level


@dataclass(frozen=True)
class StyleResult:
    """What a run produced: the image, the options it ran with, its loss history and timings."""

    image: Image.Image
    options: StyleOptions
    history: list[dict[str, float]] = field(default_factory=list)
    levels: list[Level] = field(default_factory=list)
    seconds: float = 0.0          # the call's work, networks loaded (their one-time loading not counted)
    device: str = "cpu"
    precision: str = "fp32"
    plan: Any = None              # the run's `brushwork.planning.RunPlan` (levels, tiles, memory)


@dataclass(frozen=True)
class PreparedInputs:
    """Images prepared for one run (after colour handling), at full output size."""

    content: torch.Tensor            # (1, 3, H, W) what the network sees as content
    content_colour: torch.Tensor     # (1, 3, H, W) the original content (for luminance recombining)
    styles: list[Image.Image]        # what the network sees as style, one per style image
    blend: list[float]
    alpha: Image.Image | None
    init: torch.Tensor | None
    temporal: "TemporalTarget | None" = None


@dataclass(frozen=True)
class TemporalTarget:
    """A video frame's pull towards the previous frame's result (Ruder et al. 2016): `target`
    (1, 3, H, W) in [0, 1], that result warped onto this frame by optical flow; `weights`
    (1, 1, H, W) in [0, 1], 0 where flow marks the pixel occluded; `weight`, the term's weight."""

    target: torch.Tensor
    weights: torch.Tensor
    weight: float

    def at(self, width: int, height: int) -> "TemporalTarget":
        """The same pull at a level's size."""
        if tuple(self.target.shape[-2:]) == (height, width):
            return self
        size = (height, width)
        return TemporalTarget(F.interpolate(self.target, size=size, mode="area"),
                              F.interpolate(self.weights, size=size, mode="area"), self.weight)


def as_list(style: ImageInput | Sequence[ImageInput]) -> list[ImageInput]:
    if isinstance(style, (list, tuple)):
        if not style:
            raise InvalidInputError("at least one style image is needed")
        return list(style)
    return [style]


def check_call(opts: StyleOptions, styles: list[ImageInput], init_image: ImageInput | None) -> None:
    if opts.mode == "fast" and init_image is not None:
        raise InvalidInputError("an init image has no meaning in fast mode (there is no optimization)")
    if opts.style_blend_weights is not None and len(opts.style_blend_weights) != len(styles):
        raise InvalidInputError(f"style_blend_weights has {len(opts.style_blend_weights)} values "
                                f"for {len(styles)} style image(s)")
    if opts.init == "image" and init_image is None:
        raise InvalidInputError("init='image' needs an init_image")


def check_output_size(size: tuple[int, int]) -> None:
    """Refuse an output whose long side is over `MAX_SIZE` (a content kept at its own size, size=None)."""
    if max(size) > MAX_SIZE:
        raise InvalidInputError(f"size: the output would be {size[0]}x{size[1]} px, over the maximum long side "
                                f"of {MAX_SIZE} px; give a size of at most {MAX_SIZE}")


def prepare(content: ImageInput, styles: list[ImageInput], opts: StyleOptions,
             init_image: ImageInput | None) -> PreparedInputs:
    # big JPEGs decode at a reduced scale, never below the sizes they will be used at
    loaded: LoadedImage = imaging.load_image(content, long_side=opts.size)
    size = imaging.output_size(*loaded.rgb.size, opts.size)
    check_output_size(size)
    content_t = imaging.to_tensor(imaging.resize(loaded.rgb, size))
    style_side = max(16, round(max(size) * opts.style_scale))       # the largest the styles are read at
    style_images = [imaging.load_image(s, long_side=style_side).rgb for s in styles]
    seen = content_t
    if opts.preserve_colour == "luminance":
        seen = colour.as_gray_rgb(colour.luminance(content_t))
        style_images = [imaging.to_pil(colour.match_luminance(imaging.to_tensor(s), content_t))
                        for s in style_images]
    elif opts.preserve_colour == "histogram":
        style_images = [imaging.to_pil(colour.match_histogram(imaging.to_tensor(s), content_t))
                        for s in style_images]
    init = None
    if opts.init == "image" and init_image is not None:
        init = imaging.to_tensor(imaging.resize(imaging.load_image(init_image, long_side=max(size)).rgb, size))
    blend = list(opts.style_blend_weights or [1.0] * len(style_images))
    return PreparedInputs(seen, content_t, style_images, blend, loaded.alpha, init)


def resized(image: torch.Tensor, level: Level) -> torch.Tensor:
    if tuple(image.shape[-2:]) == (level.height, level.width):
        return image
    return imaging.to_tensor(imaging.resize(imaging.to_pil(image), (level.width, level.height)))


def content_detail(content: torch.Tensor, coarse: tuple[int, int]) -> torch.Tensor:
    """The content's detail finer than `coarse` (H, W): content minus its blurred (down, up) copy.

    A level starts from the upsampled result of the one below, which has no detail at the new
    scale; adding the photo's own band of detail (one level of its Laplacian pyramid) starts the
    level nearer to its solution (measured: 0.158 -> 0.146 style and 0.93 -> 0.88 content distance
    on tubingen/starry_night at the same steps).
    """
    size = tuple(content.shape[-2:])
    low = F.interpolate(F.interpolate(content, size=coarse, mode="area"), size=size, mode="bicubic",
                        align_corners=False)
    return content - low


def finish(image: torch.Tensor, inputs: PreparedInputs, opts: StyleOptions) -> Image.Image:
    """The engine's image (handed over: it is overwritten) -> the result picture, with the content's
    colours where asked and its alpha."""
    image = image.cpu()
    if opts.preserve_colour == "luminance":
        content = inputs.content_colour
        if tuple(content.shape[-2:]) != tuple(image.shape[-2:]):
            content = F.interpolate(content, size=image.shape[-2:], mode="bicubic", align_corners=False)
        image = colour.recombine_luminance(image, content)
    return imaging.with_alpha(imaging.to_pil(image, inplace=True), inputs.alpha)


class RunProgress:
    """Turns each optimizer step into a Progress record (ETA weighted by each level's pixels)."""

    def __init__(self, opts: StyleOptions, levels: list[Level], callback: Callback | None,
                 started: float, content_colour: torch.Tensor, luminance: bool, plan: Any = None) -> None:
        self.opts, self.levels, self.callback, self.started = opts, levels, callback, started
        self.content_colour, self.luminance, self.plan = content_colour, luminance, plan
        self.total = sum(level.steps for level in levels)
        self.work_total = sum(level.steps * level.pixels for level in levels)
        self.work_done = 0
        self.step = 0
        self.history: list[dict[str, float]] = []

    def report(self, level_index: int, terms: dict[str, float], image: torch.Tensor) -> None:
        level = self.levels[level_index]
        self.step += 1
        self.work_done += level.pixels
        self.history.append(terms)
        if self.callback is None:
            return
        elapsed = time.perf_counter() - self.started
        eta = elapsed / self.work_done * (self.work_total - self.work_done)
        preview = None
        every = self.opts.preview_every
        if every and (self.step % every == 0 or self.step == self.total):
            preview = self._preview(image)
        self.callback(Progress(
            step=self.step, total=self.total, epoch=math.ceil(self.step / self.opts.steps_per_epoch),
            epochs=self.opts.epochs, scale=level_index + 1, scales=len(self.levels),
            size=(level.width, level.height), losses=terms, elapsed=elapsed, eta=eta, preview=preview,
            plan=self.plan))

    def tile(self, level_index: int, done: int, total: int) -> None:
        """A tile of the step under way is done: a record between steps (`Progress.tile`), so that
        long levels show movement and a callback can cancel between tiles."""
        if self.callback is None:
            return
        level = self.levels[level_index]
        elapsed = time.perf_counter() - self.started
        work_done = self.work_done + level.pixels * done / total
        eta = elapsed / work_done * (self.work_total - work_done) if work_done else 0.0
        step = min(self.step + 1, self.total)
        self.callback(Progress(
            step=step, total=self.total, epoch=math.ceil(step / self.opts.steps_per_epoch),
            epochs=self.opts.epochs, scale=level_index + 1, scales=len(self.levels),
            size=(level.width, level.height), losses={}, elapsed=elapsed, eta=eta, tile=(done, total),
            plan=self.plan))

    def _preview(self, image: torch.Tensor) -> Image.Image:
        current = image.detach().cpu().clamp(0, 1)
        if self.luminance:
            content = F.interpolate(self.content_colour, size=current.shape[-2:], mode="bilinear",
                                    align_corners=False)
            current = colour.recombine_luminance(current, content)
        return imaging.to_pil(current)


def image_digest(image: Image.Image) -> str:
    return hashlib.sha1(image.tobytes() + repr(image.size).encode()).hexdigest()
