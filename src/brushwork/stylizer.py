"""Stylizer: the public facade. Loads VGG-19 once, then turns (content, style, options) into an image.

The optimization runs inside the call ("the model trains itself while being called"). The facade
checks the call, picks the engine (the torch optimizer in `engine.py`, fast mode in `fast/`, the
Keras engine in `tf/`), makes the run's plan within its memory budget (`planning.py`), and keeps
what serves many calls: the networks, one per device/dtype/pooling, and a cache of style targets.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from . import engine, imaging
from .cache import LRUCache
from .callbacks import Callback, Progress
from .device import Placement, cpu_has_fast_int8, resolve
from .errors import InvalidInputError, OutOfMemory
from .features import LAYER_NAMES, VGG19Features, build_features
from .imaging import ImageInput
from .memory import default_budget, format_size, image_bytes, used_memory
from .options import StyleOptions, make_options
from .pipeline import (PreparedInputs, RunProgress, StyleResult, TemporalTarget, as_list, check_call, check_output_size,
                       finish, prepare)
from .planning import PlanInputs, RunPlan, plan_run
from .schedule import plan_levels
from .tiling import halo_for
from .weights import InputFormat, VGGWeights, load_vgg19_weights

#: Runs whose largest level has at least this many pixels get a time estimate in their plan: it
#: costs two network passes at 256 px (~1-3 s on a CPU), worth it only before a long run.
TIMED_PLAN_PIXELS = 1024 * 1024


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
        self._speeds: dict[tuple[Any, ...], float] = {}
        self._style_cache = LRUCache(style_cache_size)
        self._lock = threading.Lock()
        self._tf_model: Any = None
        self._fast_weights = fast_weights
        self._fast: dict[tuple[Any, ...], Any] = {}
        self._fast_file: Any = None          # the decoder file's (decoder, int8 ranges), read once

    # -- public ----------------------------------------------------------------------------------
    def __call__(self, content: ImageInput, style: ImageInput | Sequence[ImageInput],
                 options: StyleOptions | None = None, *, callback: Callback | None = None,
                 init_image: ImageInput | None = None, temporal: TemporalTarget | None = None,
                 **overrides: Any) -> StyleResult:
        """Stylize `content` in the style of `style` (one image or several, blended). `temporal`: a
        video frame's pull towards the previous frame's result (`brushwork.video` makes it)."""
        # 1. check inputs
        opts = make_options(options, **overrides) if overrides or options is None else options
        if temporal is not None and (opts.backend != "torch" or opts.mode != "optimize"):
            raise InvalidInputError("a temporal term is for the torch optimizer (fast mode blends frames instead)")
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
        budget = self._budget(opts, placement)
        baseline = used_memory(placement.device)
        try:
            # 2. prepare images
            inputs = prepare(content, styles, opts, init_image)
            if temporal is not None:
                if tuple(temporal.target.shape[-2:]) != tuple(inputs.content.shape[-2:]):
                    raise InvalidInputError("the temporal target's size differs from the output's")
                inputs = replace(inputs, temporal=temporal)
            if fast:
                return self._fast_call(fast_model, inputs, opts, started, callback, budget)
            if opts.init == "fast":
                inputs = replace(inputs, init=self._fast_picture(fast_model, inputs, opts, budget))
            assert network is not None
            # 3. the plan: levels, tiles, history within the budget (refused here if it cannot fit)
            plan = self._plan(network, inputs, opts, placement, budget, baseline)
            height, width = inputs.content.shape[-2:]
            levels = plan_levels(width, height, opts.scales, opts.min_scale_size, opts.total_steps)
            run = RunProgress(opts, levels, callback, started, inputs.content_colour,
                              opts.preserve_colour == "luminance", plan)
            generator = torch.Generator().manual_seed(opts.seed if opts.seed is not None else torch.seed())
            # 4. optimize, level by level
            image = engine.optimize(network, inputs, levels, plan, opts, placement, self._style_cache, run,
                                    generator)
            result = finish(image, inputs, opts)
        except (RuntimeError, MemoryError) as error:
            if not _is_out_of_memory(error):
                raise
            raise OutOfMemory(f"ran out of memory (the budget was {format_size(budget)}, but the machine had "
                              "less free); give a smaller max_memory or size, or close other programs") from None
        return StyleResult(image=result, options=opts, history=run.history, levels=levels,
                           seconds=time.perf_counter() - started, device=str(placement.device),
                           precision=placement.precision, plan=plan)

    stylize = __call__

    def plan(self, content: ImageInput, style: ImageInput | Sequence[ImageInput] | None = None,
             options: StyleOptions | None = None, *, init_image: ImageInput | None = None,
             **overrides: Any) -> RunPlan:
        """What a call with these arguments would do: levels, tiles per level, L-BFGS history,
        estimated peak memory and time. Raises `MemoryBudgetError` when the budget cannot hold it,
        as the call itself would. (Reads the content image; `style` is not needed.)"""
        opts = make_options(options, **overrides) if overrides or options is None else options
        placement = self._placement(opts)
        if opts.mode == "fast":
            from .fast.tiled import fast_plan

            model = self._fast_model(placement, auto=opts.precision == "auto" and self.precision == "auto")
            width, height = self._output_size(content, opts)
            return fast_plan(model, width, height, self._budget(opts, placement), used_memory(placement.device))
        network = self._network(opts, placement)
        budget = self._budget(opts, placement)
        baseline = used_memory(placement.device)
        width, height = self._output_size(content, opts)
        styles = 1 if style is None else len(as_list(style))
        resident = _resident_bytes(width, height, opts, styles, init_image is not None or opts.init == "fast")
        return self._plan_for(network, width, height, opts, placement, budget, baseline, resident)

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

    # -- planning ----------------------------------------------------------------------------------
    def _budget(self, opts: StyleOptions, placement: Placement) -> int:
        return opts.max_memory if opts.max_memory is not None else default_budget(placement.device)

    def _output_size(self, content: ImageInput, opts: StyleOptions) -> tuple[int, int]:
        loaded = imaging.load_image(content, long_side=opts.size)
        size = imaging.output_size(*loaded.rgb.size, opts.size)
        check_output_size(size)
        return size

    def _plan(self, network: VGG19Features, inputs: PreparedInputs, opts: StyleOptions, placement: Placement,
              budget: int, baseline: int) -> RunPlan:
        height, width = inputs.content.shape[-2:]
        resident = _resident_bytes(width, height, opts, len(inputs.styles), inputs.init is not None,
                                   inputs.temporal is not None)
        return self._plan_for(network, width, height, opts, placement, budget, baseline, resident)

    def _plan_for(self, network: VGG19Features, width: int, height: int, opts: StyleOptions, placement: Placement,
                  budget: int, baseline: int, resident: int) -> RunPlan:
        levels = plan_levels(width, height, opts.scales, opts.min_scale_size, opts.total_steps)
        halo, alignment = halo_for((*opts.content_layers, *opts.style_layers))
        speed = self._speed(network, opts, placement) if width * height >= TIMED_PLAN_PIXELS else \
            self._speeds.get(self._network_key(opts, placement))
        inputs = PlanInputs(budget=budget, baseline=baseline, resident=resident, full_size=(width, height),
                            halo=halo, alignment=alignment,
                            content_layers=tuple(opts.content_layers), lbfgs=opts.optimizer == "lbfgs",
                            seconds_per_pixel=speed)
        return plan_run(levels, inputs)

    def _speed(self, network: VGG19Features, opts: StyleOptions, placement: Placement) -> float:
        """Seconds per pixel of one forward and backward pass, measured once per network (at 256 px,
        the second of two passes: the first pays for the kernels' set-up)."""
        key = self._network_key(opts, placement)
        if key not in self._speeds:
            layers = tuple(dict.fromkeys((*opts.content_layers, *opts.style_layers)))
            image = torch.rand(1, 3, 256, 256, generator=torch.Generator().manual_seed(0)).to(placement.device)
            seconds = 0.0
            for _ in range(2):
                started = time.perf_counter()
                pixels = image.clone().requires_grad_(True)
                sum(value.float().square().mean() for value in network(pixels, layers).values()).backward()
                if placement.device.type == "cuda":
                    torch.cuda.synchronize(placement.device)
                seconds = time.perf_counter() - started
            self._speeds[key] = seconds / (256 * 256)
        return self._speeds[key]

    # -- fast mode ---------------------------------------------------------------------------------
    def _fast_picture(self, model: Any, inputs: PreparedInputs, opts: StyleOptions, budget: int,
                      on_tile: Callable[[int, int], None] | None = None) -> torch.Tensor:
        """Fast mode's (1, 3, H, W) picture of the prepared inputs (before colour and alpha handling):
        one style-network pass per new style, one transfer-network pass (two with a coarse pass);
        in tiles, with the whole picture's statistics, where one pass would not fit `budget`
        (`on_tile(done, total)` after each tile of the full-size pass)."""
        from .fast.model import style_long_side, with_coarse_pass

        height, width = inputs.content.shape[-2:]
        vector = model.blended_vector(inputs.styles, inputs.blend, style_long_side(opts, width, height), budget)
        content = inputs.content
        if opts.coarse_pass > 0:
            content = with_coarse_pass(
                content, lambda small: model.transfer(small, vector, opts.style_strength, budget=budget),
                opts.coarse_pass)
        return model.transfer(content, vector, opts.style_strength, budget=budget, on_tile=on_tile)

    def _fast_call(self, model: Any, inputs: PreparedInputs, opts: StyleOptions, started: float,
                   callback: Callback | None, budget: int) -> StyleResult:
        """Feed-forward mode: the fast picture, finished like the optimizer's."""
        from .fast.tiled import fast_plan

        height, width = inputs.content.shape[-2:]
        plan = fast_plan(model, width, height, budget, used_memory(model.placement.device))

        def on_tile(done: int, total: int) -> None:      # a tiled picture: progress, and a chance to cancel
            if callback is not None:
                elapsed = time.perf_counter() - started
                callback(Progress(step=1, total=1, epoch=1, epochs=1, scale=1, scales=1, size=(width, height),
                                  losses={}, elapsed=elapsed, eta=elapsed / done * (total - done), tile=(done, total),
                                  plan=plan))

        result = finish(self._fast_picture(model, inputs, opts, budget, on_tile), inputs, opts)
        seconds = time.perf_counter() - started
        if callback is not None:
            callback(Progress(step=1, total=1, epoch=1, epochs=1, scale=1, scales=1, size=(width, height),
                              losses={}, elapsed=seconds, eta=0.0, preview=None, plan=plan))
        return StyleResult(image=result, options=opts, seconds=seconds, device=str(model.placement.device),
                           precision=model.placement.precision, plan=plan)

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
                from .tf import StyleTransferModel  # raises BackendUnavailable without the extra

                self._tf_model = StyleTransferModel(self.weights)
            return self._tf_model

    def _network_key(self, opts: StyleOptions, placement: Placement) -> tuple[Any, ...]:
        layers = (*opts.content_layers, *opts.style_layers)
        return (placement.device, placement.dtype, opts.pooling, max(layers, key=LAYER_NAMES.index))

    def _network(self, opts: StyleOptions, placement: Placement) -> VGG19Features:
        key = self._network_key(opts, placement)
        with self._lock:
            if key not in self._networks:
                self._networks[key] = build_features(self.weights, (*opts.content_layers, *opts.style_layers),
                                                     opts.pooling, placement.device, placement.dtype)
            return self._networks[key]


def _resident_bytes(width: int, height: int, opts: StyleOptions, styles: int, init: bool,
                    temporal: bool = False) -> int:
    """Full-size buffers a run keeps from start to end: the content (and its colours with luminance
    transfer, an init picture, a video frame's temporal target and weights) as fp32 tensors, and the
    decoded images (8 bits per channel)."""
    tensors = 1 + (opts.preserve_colour == "luminance") + init + (4 / 3 if temporal else 0)
    style_side = max(16, round(max(width, height) * opts.style_scale))
    style_pixels = styles * style_side * style_side
    return int(tensors * image_bytes(width, height)) + 3 * (width * height + style_pixels)


def _is_out_of_memory(error: BaseException) -> bool:
    """Whether an error is a failed allocation (CPU or GPU), not some other fault."""
    text = str(error)
    return isinstance(error, (MemoryError, torch.OutOfMemoryError)) or "can't allocate memory" in text or \
        "out of memory" in text.lower()


def stylize(content: ImageInput, style: ImageInput | Sequence[ImageInput], *,
            weights: str | Path | None = None, callback: Callback | None = None,
            init_image: ImageInput | None = None, **options: Any) -> Image.Image:
    """One call, one image: load the network, stylize, return a PIL image.

    For many calls build a `Stylizer` once and call it; it keeps the network and style targets.
    """
    opts = make_options(**options)
    stylizer = Stylizer(weights, device=opts.device, precision=opts.precision)
    return stylizer(content, style, opts, callback=callback, init_image=init_image).image


__all__ = ["Stylizer", "stylize"]
