"""The optimizer of Gatys et al. in PyTorch: targets, coarse-to-fine levels, L-BFGS or Adam on the pixels.

`optimize` runs a prepared call level by level; `brushwork.stylizer.Stylizer` (the public facade)
owns the networks, the style-target cache and the plan, and calls it. A level that its plan says
is too big for one pass runs in tiles (`brushwork.tiling`): the same loss and gradient, a tile at
a time, the tile grid moved every step so that no boundary stays in one place.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from PIL import Image

from . import imaging
from .cache import LRUCache
from .device import Placement
from .features import VGG19Features
from .lbfgs import LBFGSState, lbfgs_step
from .losses import (blend_grams, content_loss, gram_matrix, normalized_weights, style_loss, temporal_loss,
                     temporal_loss_and_gradient, total_variation_loss)
from .memory import memory_left
from .options import DEFAULT_LEARNING_RATES, StyleOptions
from .pipeline import PreparedInputs, RunProgress, TemporalTarget, content_detail, image_digest, resized
from .planning import LevelPlan, RunPlan, layer_channels, tile_core_for_forward
from .schedule import Level
from .tiling import (LossWeights, TiledLoss, halo_for, random_offset, tile_grid, tiled_feature_maps,
                     tiled_grams)

Grams = dict[str, torch.Tensor]
Report = Callable[[dict[str, float], torch.Tensor], None]
#: Bytes kept free when a target pass picks its tile size from the memory free now (allocator slack).
TARGET_MARGIN = 128 * 2**20


def optimize(network: VGG19Features, inputs: PreparedInputs, levels: list[Level], plan: RunPlan,
             opts: StyleOptions, placement: Placement, style_cache: LRUCache, run: RunProgress,
             generator: torch.Generator) -> torch.Tensor:
    """The optimized image (1, 3, H, W) in [0, 1], solved coarse to fine as `plan` says."""
    image: torch.Tensor | None = None
    for index, (level, level_plan) in enumerate(zip(levels, plan.levels)):
        # 3. targets for this level (style targets cached across calls)
        content_here = resized(inputs.content, level).to(placement.device)
        budget_left = plan.budget - TARGET_MARGIN
        targets = content_targets(network, content_here, opts, budget_left, compact=level_plan.tiled)
        style_targets = blended_style_targets(network, inputs, level, opts, placement, style_cache, budget_left)
        # 4. initialise, optimize, report
        image = initial(image, content_here, inputs.init, opts, level, generator)
        del content_here
        report: Report = lambda terms, img, i=index: run.report(i, terms, img)  # noqa: E731
        temporal = inputs.temporal.at(level.width, level.height) if inputs.temporal is not None else None
        if level_plan.tiled:
            image = optimize_tiled(network, image, targets, style_targets, opts, level_plan, report,
                                   lambda done, total, i=index: run.tile(i, done, total), generator, temporal)
        else:
            image = optimize_whole(network, image, targets, style_targets, opts, level_plan, report, temporal)
        del targets
    assert image is not None
    return image


# -- targets -------------------------------------------------------------------------------------
def content_targets(network: VGG19Features, content: torch.Tensor, opts: StyleOptions, budget: int,
                    compact: bool = False) -> Grams:
    """The content's features at the content layers: in one pass, or in tiles where the memory free
    now would not hold one. fp32; bf16 with `compact` (a tiled level, where relu4_2 of a 4096x3072
    picture is 400 MB in fp32; the rounding, 2^-9 of each value, moves the content term by ~1e-5)."""
    height, width = content.shape[-2:]
    halo, alignment = halo_for(opts.content_layers)
    dtype = torch.bfloat16 if compact else torch.float32
    core = tile_core_for_forward(width, height, memory_left(budget, content.device), halo)
    if core is None:
        with torch.no_grad():
            return {k: v.to(dtype) for k, v in network(content, opts.content_layers).items()}
    tiles = tile_grid(height, width, core, halo, alignment)
    channels = {name: layer_channels(name) for name in opts.content_layers}
    return tiled_feature_maps(network, content, opts.content_layers, tiles, channels, dtype=dtype)


def blended_style_targets(network: VGG19Features, inputs: PreparedInputs, level: Level, opts: StyleOptions,
                          placement: Placement, cache: LRUCache, budget: int) -> Grams:
    """The style images' Gram matrices at this level's size, blended by their weights."""
    grams = [style_grams(network, style, level, opts, placement, cache, budget) for style in inputs.styles]
    return grams[0] if len(grams) == 1 else blend_grams(grams, inputs.blend)


def style_grams(network: VGG19Features, style: Image.Image, level: Level, opts: StyleOptions,
                placement: Placement, cache: LRUCache, budget: int) -> Grams:
    """One style image's Gram matrices at the level's size (times `style_scale`); cached by content.
    Summed over tiles where the image is too big for one pass (the same matrices, within rounding)."""
    long_side = max(16, round(max(level.width, level.height) * opts.style_scale))
    size = imaging.output_size(*style.size, long_side)
    key = (image_digest(style), size, opts.style_layers, opts.pooling, placement.device, placement.dtype)
    cached = cache.get(key)
    if cached is not None:
        return cached
    tensor = imaging.to_tensor(imaging.resize(style, size), placement.device)
    halo, alignment = halo_for(opts.style_layers)
    core = tile_core_for_forward(size[0], size[1], memory_left(budget, placement.device), halo)
    if core is None:
        with torch.no_grad():
            grams = {k: gram_matrix(v) for k, v in network(tensor, opts.style_layers).items()}
    else:
        grams = tiled_grams(network, tensor, opts.style_layers, tile_grid(size[1], size[0], core, halo, alignment))
    return cache.put(key, grams)


# -- one level -----------------------------------------------------------------------------------
def initial(previous: torch.Tensor | None, content: torch.Tensor, init: torch.Tensor | None,
            opts: StyleOptions, level: Level, generator: torch.Generator) -> torch.Tensor:
    """The first level starts from content, noise or the init image; later ones from the last result."""
    if previous is not None:
        coarse = (int(previous.shape[-2]), int(previous.shape[-1]))
        upsampled = F.interpolate(previous, size=(level.height, level.width), mode="bicubic",
                                  align_corners=False)
        del previous
        return upsampled.add_(content_detail(content, coarse)).clamp_(0, 1)
    if opts.init == "noise":
        noise = torch.rand(content.shape, generator=generator)
        return noise.to(content.device)
    if opts.init in ("image", "fast") and init is not None:
        return resized(init, level).to(content.device)
    return content.clone()


def loss_terms(network: VGG19Features, image: torch.Tensor, content_targets: Grams,
               style_targets: Grams, opts: StyleOptions, layer_weights: dict[str, float],
               temporal: TemporalTarget | None = None) -> dict[str, torch.Tensor]:
    """The loss of the whole image in one pass: {content, style, tv, total} and, for a video frame,
    temporal (tensors, for autograd)."""
    found = network(image, {*opts.content_layers, *opts.style_layers})
    content = sum(content_loss(found[name], content_targets[name]) for name in opts.content_layers)
    content = content / len(opts.content_layers)
    style = style_loss({name: gram_matrix(found[name]) for name in opts.style_layers}, style_targets, layer_weights)
    tv = total_variation_loss(image)
    total = opts.content_weight * content + opts.style_weight * style + opts.tv_weight * tv
    if temporal is None:
        return {"content": content, "style": style, "tv": tv, "total": total}
    pull = temporal_loss(image, temporal.target, temporal.weights)
    return {"content": content, "style": style, "tv": tv, "temporal": pull, "total": total + temporal.weight * pull}


_loss_terms = loss_terms  # the name tests and benchmarks used before


def optimize_whole(network: VGG19Features, image: torch.Tensor, content_targets: Grams, style_targets: Grams,
                   opts: StyleOptions, level: LevelPlan, report: Report,
                   temporal: TemporalTarget | None = None) -> torch.Tensor:
    """`level.steps` optimizer steps on the pixels, one loss evaluation (forward + backward) each."""
    image = image.detach().clone().requires_grad_(True)
    rate = opts.learning_rate or DEFAULT_LEARNING_RATES[opts.optimizer]
    adam = torch.optim.Adam([image], lr=rate) if opts.optimizer == "adam" else None
    state = LBFGSState(max(1, level.history))
    layer_weights = normalized_weights(opts.style_layers, opts.style_layer_weights)
    for _ in range(level.steps):
        image.grad = None
        terms = loss_terms(network, image, content_targets, style_targets, opts, layer_weights, temporal)
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


def optimize_tiled(network: VGG19Features, image: torch.Tensor, content_targets: Grams, style_targets: Grams,
                   opts: StyleOptions, level: LevelPlan, report: Report,
                   on_tile: Callable[[int, int], None], generator: torch.Generator,
                   temporal: TemporalTarget | None = None) -> torch.Tensor:
    """As `optimize_whole`, each loss evaluation in tiles on a grid moved at random every step (the
    per-pixel temporal term, where there is one, for the whole image at once)."""
    assert level.core is not None
    image = image.detach()
    rate = opts.learning_rate or DEFAULT_LEARNING_RATES[opts.optimizer]
    adam = torch.optim.Adam([image], lr=rate) if opts.optimizer == "adam" else None
    state = LBFGSState(max(1, level.history))
    loss = TiledLoss(network, content_targets, style_targets, LossWeights.from_options(opts))
    halo, alignment = halo_for((*opts.content_layers, *opts.style_layers))
    height, width = image.shape[-2:]
    for _ in range(level.steps):
        tiles = tile_grid(height, width, level.core, halo, alignment, random_offset(level.core, alignment, generator))
        terms, gradient = loss(image, tiles, on_tile)
        if temporal is not None:
            pull, pull_gradient = temporal_loss_and_gradient(image, temporal.target, temporal.weights)
            gradient.add_(pull_gradient, alpha=temporal.weight)
            del pull_gradient
            terms = {**terms, "temporal": pull, "total": terms["total"] + temporal.weight * pull}
        if adam is not None:
            image.grad = gradient
            adam.step()
            image.grad = None
            with torch.no_grad():
                image.clamp_(0, 1)
        else:
            lbfgs_step(image, terms["total"], gradient, state, rate)
        del gradient
        report(terms, image)
    return image.clamp_(0, 1)


__all__ = ["blended_style_targets", "content_targets", "initial", "loss_terms", "optimize", "optimize_tiled",
           "optimize_whole", "style_grams"]

