"""Stylizer: loads VGG-19 once, then turns (content, style, options) into an image per call.

The optimization runs inside the call ("the model trains itself while being called"): each
call builds its targets, then optimizes the pixels of the output image, coarse to fine.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from PIL import Image

from . import imaging
from .cache import LRUCache
from .callbacks import Callback, Progress
from .device import Placement, cpu_has_fast_int8, resolve
from .errors import InvalidInputError
from .features import VGG19Features, build_features
from .imaging import ImageInput
from .lbfgs import LBFGSState, lbfgs_step
from .losses import (blend_grams, content_loss, gram_matrix, normalized_weights, style_loss,
                     total_variation_loss)
from .options import StyleOptions, make_options
from .pipeline import (PreparedInputs, RunProgress, StyleResult, as_list, check_call, content_detail, finish,
                       image_digest, prepare, resized)
from .schedule import Level, plan_levels
from .weights import InputFormat, VGGWeights, load_vgg19_weights

Grams = dict[str, torch.Tensor]
DEFAULT_LEARNING_RATES = {"lbfgs": 1.0, "adam": 0.02}
LBFGS_HISTORY = 50


class Stylizer:
    """Holds the network (one copy per device/dtype/pooling) and a cache of style targets.

    Thread-safe: a server may call one Stylizer from several worker threads.
    """

    def __init__(self, weights: str | Path | VGGWeights | None = None, *, device: str = "auto",
                 precision: str = "auto", weights_format: InputFormat | None = None,
                 style_cache_size: int = 32, fast_weights: str | Path | None = None) -> None:
        self.weights = weights if isinstance(weights, VGGWeights) else load_vgg19_weights(weights, weights_format)
        self.device = device
        self.precision = precision
        self.placement = resolve(device, precision)
        self._networks: dict[tuple[Any, ...], VGG19Features] = {}
        self._style_cache = LRUCache(style_cache_size)
        self._lock = threading.Lock()
        self._tf_model: Any = None
        self._fast_weights = fast_weights
        self._fast: dict[tuple[Any, ...], Any] = {}
        self._fast_file: Any = None          # the decoder file's (decoder, int8 ranges), read once

    # -- public ----------------------------------------------------------------------------------
    def __call__(self, content: ImageInput, style: ImageInput | Sequence[ImageInput],
                 options: StyleOptions | None = None, *, callback: Callback | None = None,
                 init_image: ImageInput | None = None, **overrides: Any) -> StyleResult:
        """Stylize `content` in the style of `style` (one image or several, blended)."""
        # 1. check inputs
        opts = make_options(options, **overrides) if overrides or options is None else options
        if opts.backend == "tensorflow":  # same options, same result record: the Keras engine runs it
            return self._tensorflow().stylize(content, style, opts, callback=callback, init_image=init_image)
        styles = as_list(style)
        check_call(opts, styles, init_image)
        placement = self._placement(opts)
        # the networks load once per Stylizer (first use); `seconds` counts the stylizing, not the loading
        fast = opts.mode == "fast"
        auto = opts.precision == "auto" and self.precision == "auto"
        fast_model = self._fast_model(placement, auto=auto) if fast or opts.init == "fast" else None
        network = None if fast else self._network(opts, placement)
        started = time.perf_counter()
        # 2. prepare images
        inputs = prepare(content, styles, opts, init_image)
        if fast:
            return self._fast_call(fast_model, inputs, opts, started, callback)
        if opts.init == "fast":
            inputs = replace(inputs, init=self._fast_picture(fast_model, inputs, opts))
        assert network is not None
        height, width = inputs.content.shape[-2:]
        levels = plan_levels(width, height, opts.scales, opts.min_scale_size, opts.total_steps)
        run = RunProgress(opts, levels, callback, started, inputs.content_colour, opts.preserve_colour == "luminance")
        generator = torch.Generator().manual_seed(opts.seed if opts.seed is not None else torch.seed())
        image: torch.Tensor | None = None
        for index, level in enumerate(levels):
            # 3. targets for this level (style targets cached across calls)
            content_here = resized(inputs.content, level).to(placement.device)
            targets = self._content_targets(network, content_here, opts)
            style_targets = self._style_targets(network, inputs, level, opts, placement)
            # 4. initialise, optimize, report
            image = _initial(image, content_here, inputs.init, opts, level, generator)
            image = _optimize(network, image, targets, style_targets, opts, level.steps,
                              lambda terms, img, i=index: run.report(i, terms, img))
        assert image is not None
        result = finish(image, inputs, opts)
        return StyleResult(image=result, options=opts, history=run.history, levels=levels,
                           seconds=time.perf_counter() - started, device=str(placement.device),
                           precision=placement.precision)

    stylize = __call__

    def clear_caches(self) -> None:
        """Forget cached style targets (both modes, both backends); the networks stay loaded.

        For long-running servers that want the memory back, and for benchmarks that time a
        style seen for the first time.
        """
        self._style_cache.clear()
        with self._lock:
            fast_models = list(self._fast.values())
        for model in fast_models:
            model.clear_cache()
        if self._tf_model is not None:
            self._tf_model.clear_cache()

    def features(self, image: ImageInput | torch.Tensor, layers: Sequence[str], *, pooling: str = "avg",
                 size: int | None = None, precision: str = "fp32") -> dict[str, torch.Tensor]:
        """VGG-19 activations of an image at the named layers (for metrics, notebooks, debugging).

        fp32 by default: measurements should not carry bf16 rounding noise."""
        opts = make_options(size=size, pooling=pooling, style_layers=tuple(layers), content_layers=tuple(layers))
        placement = resolve(str(self.placement.device), precision)
        network = self._network(opts, placement)
        tensor = image if isinstance(image, torch.Tensor) else imaging.load_tensor(image, size)
        with torch.no_grad():
            found = network(tensor.to(placement.device), layers)
        return {name: value.float() for name, value in found.items()}

    def _fast_picture(self, model: Any, inputs: "PreparedInputs", opts: StyleOptions) -> torch.Tensor:
        """Fast mode's (1, 3, H, W) picture of the prepared inputs (before colour and alpha handling):
        one style-network pass per new style, one transfer-network pass (two with a coarse pass)."""
        from .fast.model import style_long_side, with_coarse_pass

        height, width = inputs.content.shape[-2:]
        vector = model.blended_vector(inputs.styles, inputs.blend, style_long_side(opts, width, height))
        content = inputs.content
        if opts.coarse_pass > 0:
            content = with_coarse_pass(content, lambda small: model.transfer(small, vector, opts.style_strength),
                                       opts.coarse_pass)
        return model.transfer(content, vector, opts.style_strength)

    def _fast_call(self, model: Any, inputs: "PreparedInputs", opts: StyleOptions, started: float,
                   callback: Callback | None) -> StyleResult:
        """Feed-forward mode: the fast picture, finished like the optimizer's."""
        height, width = inputs.content.shape[-2:]
        result = finish(self._fast_picture(model, inputs, opts), inputs, opts)
        seconds = time.perf_counter() - started
        if callback is not None:
            callback(Progress(step=1, total=1, epoch=1, epochs=1, scale=1, scales=1, size=(width, height),
                              losses={}, elapsed=seconds, eta=0.0, preview=None))
        return StyleResult(image=result, options=opts, seconds=seconds, device=str(model.placement.device),
                           precision=model.placement.precision)

    def _fast_model(self, placement: Placement, auto: bool) -> Any:
        """The fast model for `placement`; with precision auto on a CPU with VNNI, the int8 one
        (same picture, ~1.7x bf16's speed) where the decoder file carries int8 ranges."""
        from .fast.int8 import int8_available  # the fast mode loads only when asked for
        from .fast.model import FastStylizer, read_decoder_file

        with self._lock:
            if self._fast_file is None:
                self._fast_file = read_decoder_file(self._fast_weights)
            has_int8_ranges = bool(self._fast_file[1])
        if auto and placement.device.type == "cpu" and cpu_has_fast_int8() and int8_available() and has_int8_ranges:
            placement = Placement(placement.device, torch.qint8)
        key = (placement.device, placement.dtype)
        with self._lock:
            if key not in self._fast:
                self._fast[key] = FastStylizer(self.weights, placement, self._fast_weights, loaded=self._fast_file)
            return self._fast[key]

    # -- cached resources -------------------------------------------------------------------------
    def _placement(self, opts: StyleOptions) -> Placement:
        if opts.device == "auto" and opts.precision == "auto":
            placement = self.placement
        else:
            device = self.device if opts.device == "auto" else opts.device
            precision = self.precision if opts.precision == "auto" else opts.precision
            placement = resolve(device, precision)
        if placement.dtype == torch.qint8 and opts.mode != "fast":
            raise InvalidInputError("precision int8 is for fast mode only; the optimizer needs bf16 or fp32")
        return placement

    def _tensorflow(self) -> Any:
        """The Keras engine (`brushwork.tf`), built on first use from the same weights."""
        with self._lock:
            if self._tf_model is None:
                from .tf import (
                    StyleTransferModel,  # raises BackendUnavailable without the extra
                )

                self._tf_model = StyleTransferModel(self.weights)
            return self._tf_model

    def _network(self, opts: StyleOptions, placement: Placement) -> VGG19Features:
        layers = (*opts.content_layers, *opts.style_layers)
        key = (placement.device, placement.dtype, opts.pooling, max(layers, key=_depth))
        with self._lock:
            if key not in self._networks:
                self._networks[key] = build_features(self.weights, layers, opts.pooling,
                                                     placement.device, placement.dtype)
            return self._networks[key]

    def _content_targets(self, network: VGG19Features, content: torch.Tensor, opts: StyleOptions) -> Grams:
        with torch.no_grad():
            return {k: v.float() for k, v in network(content, opts.content_layers).items()}

    def _style_targets(self, network: VGG19Features, inputs: PreparedInputs, level: Level,
                       opts: StyleOptions, placement: Placement) -> Grams:
        grams = [self._style_grams(network, style, level, opts, placement) for style in inputs.styles]
        return grams[0] if len(grams) == 1 else blend_grams(grams, inputs.blend)

    def _style_grams(self, network: VGG19Features, style: Image.Image, level: Level,
                     opts: StyleOptions, placement: Placement) -> Grams:
        long_side = max(16, round(max(level.width, level.height) * opts.style_scale))
        size = imaging.output_size(*style.size, long_side)
        key = (image_digest(style), size, opts.style_layers, opts.pooling, placement.device, placement.dtype)
        cached = self._style_cache.get(key)
        if cached is not None:
            return cached
        tensor = imaging.to_tensor(imaging.resize(style, size), placement.device)
        with torch.no_grad():
            grams = {k: gram_matrix(v) for k, v in network(tensor, opts.style_layers).items()}
        return self._style_cache.put(key, grams)


def stylize(content: ImageInput, style: ImageInput | Sequence[ImageInput], *,
            weights: str | Path | None = None, callback: Callback | None = None,
            init_image: ImageInput | None = None, **options: Any) -> Image.Image:
    """One call, one image: load the network, stylize, return a PIL image.

    For many calls build a `Stylizer` once and call it; it keeps the network and style targets.
    """
    opts = make_options(**options)
    stylizer = Stylizer(weights, device=opts.device, precision=opts.precision)
    return stylizer(content, style, opts, callback=callback, init_image=init_image).image


# -- the steps of a call, as small functions ----------------------------------------------------
def _initial(previous: torch.Tensor | None, content: torch.Tensor, init: torch.Tensor | None,
             opts: StyleOptions, level: Level, generator: torch.Generator) -> torch.Tensor:
    """The first level starts from content, noise or the init image; later ones from the last result."""
    if previous is not None:
        upsampled = F.interpolate(previous, size=(level.height, level.width), mode="bicubic",
                                  align_corners=False)
        return (upsampled + content_detail(content, tuple(previous.shape[-2:]))).clamp(0, 1)
    if opts.init == "noise":
        noise = torch.rand(content.shape, generator=generator)
        return noise.to(content.device)
    if opts.init in ("image", "fast") and init is not None:
        return resized(init, level).to(content.device)
    return content.clone()


def _loss_terms(network: VGG19Features, image: torch.Tensor, content_targets: Grams,
                style_targets: Grams, opts: StyleOptions, layer_weights: dict[str, float]) -> dict[str, torch.Tensor]:
    found = network(image, {*opts.content_layers, *opts.style_layers})
    content = sum(content_loss(found[name], content_targets[name]) for name in opts.content_layers)
    content = content / len(opts.content_layers)
    style = style_loss({name: gram_matrix(found[name]) for name in opts.style_layers}, style_targets, layer_weights)
    tv = total_variation_loss(image)
    total = opts.content_weight * content + opts.style_weight * style + opts.tv_weight * tv
    return {"content": content, "style": style, "tv": tv, "total": total}


def _optimize(network: VGG19Features, image: torch.Tensor, content_targets: Grams, style_targets: Grams,
              opts: StyleOptions, steps: int, report: Any) -> torch.Tensor:
    """`steps` optimizer steps on the pixels, one loss evaluation (forward + backward) each."""
    image = image.detach().clone().requires_grad_(True)
    rate = opts.learning_rate or DEFAULT_LEARNING_RATES[opts.optimizer]
    adam = torch.optim.Adam([image], lr=rate) if opts.optimizer == "adam" else None
    state = LBFGSState(LBFGS_HISTORY)
    layer_weights = normalized_weights(opts.style_layers, opts.style_layer_weights)
    for _ in range(steps):
        image.grad = None
        terms = _loss_terms(network, image, content_targets, style_targets, opts, layer_weights)
        terms["total"].backward()
        assert image.grad is not None
        if adam is not None:
            adam.step()
            with torch.no_grad():
                image.clamp_(0, 1)  # Adam takes small steps: keeping pixels valid costs nothing
        else:
            lbfgs_step(image, float(terms["total"].detach()), image.grad, state, rate)
        report({name: float(value.detach()) for name, value in terms.items()}, image)
    return image.detach().clamp(0, 1)


def _depth(layer: str) -> int:
    from .features import LAYER_NAMES

    return LAYER_NAMES.index(layer)
