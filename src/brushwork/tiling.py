"""Tiled evaluation of VGG-19: any image size in the memory of one tile.

A level too large for one pass is cut into overlapping tiles. Each tile is its *core* plus a
*halo* wide enough that the network's features over the core are exactly those of the whole image:
a 3x3 convolution spoils one more row of features next to a cut edge, a 2x2 pooling halves the
spoiled band (rounded up), so `halo_for` walks the layers and adds it up (80 px for relu5_1). Cores
start on multiples of the deepest layer's stride, so every tile's pooling cells are the whole
image's. Style statistics stay global: Gram matrices are summed over tile cores and divided by the
whole map's size, and the image gradient is the sum of every tile's gradient (`TiledLoss`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import torch

from .features import LAYER_NAMES
from .losses import normalized_weights, style_loss

Grams = dict[str, torch.Tensor]
#: Called as `on_tile(done, total)` after each tile of a pass; raising (e.g. `Cancelled`) stops the run.
TileCallback = Callable[[int, int], None]


def layer_stride(layer: str) -> int:
    """How many input pixels one feature cell of `layer` steps over (2 ** poolings up to it)."""
    index = LAYER_NAMES.index(layer)
    return 2 ** sum(name.startswith("pool") for name in LAYER_NAMES[:index + 1])


def halo_for(layers: Sequence[str]) -> tuple[int, int]:
    """(halo, alignment) in input pixels for exact features at `layers`: features further than
    `halo` from a tile's cut edge equal the whole image's, when tiles start on multiples of `alignment`."""
    deepest = max(LAYER_NAMES.index(name) for name in layers)
    spoiled, stride, halo = 0, 1, 0           # spoiled rows next to a cut, in cells of the current stride
    for name in LAYER_NAMES[:deepest + 1]:
        if name.startswith("conv"):
            spoiled += 1
        elif name.startswith("pool"):
            spoiled, stride = math.ceil(spoiled / 2), stride * 2
        if name in layers:
            halo = max(halo, spoiled * stride)
    alignment = max(layer_stride(name) for name in layers)
    return _round_up(halo, alignment), alignment


@dataclass(frozen=True)
class Tile:
    """A window of the image (what the network sees) and its core (whose features count), in pixels:
    (top, left, bottom, right), bottom and right exclusive."""

    window: tuple[int, int, int, int]
    core: tuple[int, int, int, int]

    @property
    def pixels(self) -> int:
        top, left, bottom, right = self.window
        return (bottom - top) * (right - left)

    def crop(self, features: torch.Tensor, stride: int) -> torch.Tensor:
        """The core's part of this window's feature map at `stride` (the window starts on a multiple of it)."""
        top, left = self.window[:2]
        c_top, c_left, c_bottom, c_right = self.core
        rows, cols = features.shape[-2:]
        return features[..., (c_top - top) // stride: min(rows, (c_bottom - top) // stride),
                         (c_left - left) // stride: min(cols, (c_right - left) // stride)]

    def region(self, features_shape: Sequence[int], stride: int) -> tuple[slice, slice]:
        """Where this core's features lie in the whole image's map at `stride`."""
        c_top, c_left, c_bottom, c_right = self.core
        rows, cols = features_shape[-2:]
        return (slice(c_top // stride, min(rows, c_bottom // stride)),
                slice(c_left // stride, min(cols, c_right // stride)))


def tile_grid(height: int, width: int, core: int, halo: int, alignment: int,
              offset: tuple[int, int] = (0, 0)) -> list[Tile]:
    """Tiles covering (height, width): cores of `core` px (a multiple of `alignment`), the grid moved
    down and right by `offset` (multiples of `alignment`), each window its core plus at least `halo`.

    Windows all have one of a few shapes, the same at every offset: one next to the image's edge
    reaches further inward instead of being cut short. Compiled kernels (oneDNN's, cuDNN's) are
    made once per shape, and making one costs as much as a pass over a small tile."""
    if core % alignment or offset[0] % alignment or offset[1] % alignment or halo % alignment:
        raise ValueError(f"core {core}, offset {offset} and halo {halo} must be multiples of {alignment}")
    rows = _spans(height, core, offset[0] % core, halo, alignment)
    cols = _spans(width, core, offset[1] % core, halo, alignment)
    return [Tile((top, left, bottom, right), (c_top, c_left, c_bottom, c_right))
            for (top, bottom), (c_top, c_bottom) in rows for (left, right), (c_left, c_right) in cols]


def _spans(length: int, core: int, offset: int, halo: int, alignment: int
           ) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """((window start, end), (core start, end)) along one side; windows are `core + 2 * halo` long
    (or the whole side), starting on multiples of `alignment`."""
    cuts = [0] + list(range(offset if offset > 0 else core, length, core)) + [length]
    side = core + 2 * halo
    spans = []
    for start, end in zip(cuts, cuts[1:]):
        if side >= length:
            window = (0, length)
        else:
            top = max(0, start - halo)
            if top + side > length:                      # near the far edge: reach back inward
                top = (length - side) // alignment * alignment
            window = (top, max(top + side, min(length, end + halo)) if top + side <= length else length)
        spans.append((window, (start, end)))
    return spans


def grid_count(height: int, width: int, core: int) -> int:
    """Tiles in a grid of `core`-px cores, moved by the most a random offset can add (one row and column)."""
    rows, cols = math.ceil(height / core), math.ceil(width / core)
    return (rows + (rows > 1)) * (cols + (cols > 1))


def window_pixels(height: int, width: int, core: int, halo: int) -> int:
    """Pixels all windows of a (shifted) grid hold together: the work of one tiled pass."""
    side = core + 2 * halo
    return grid_count(height, width, core) * min(height, side) * min(width, side)


def random_offset(core: int, alignment: int, generator: torch.Generator) -> tuple[int, int]:
    """A grid offset for one step (multiples of `alignment` below `core`), from the run's generator:
    moving the grid every step keeps any tile boundary from staying in one place."""
    choices = core // alignment
    drawn = torch.randint(0, choices, (2,), generator=generator).tolist()
    return drawn[0] * alignment, drawn[1] * alignment


Network = Callable[[torch.Tensor, Sequence[str]], Mapping[str, torch.Tensor]]


def tiled_features(network: Network, image: torch.Tensor, layers: Sequence[str], tiles: Sequence[Tile],
                   on_tile: TileCallback | None = None) -> Iterator[tuple[Tile, dict[str, torch.Tensor]]]:
    """(tile, {layer: core features}) for every tile, without gradients."""
    for done, tile in enumerate(tiles, start=1):
        top, left, bottom, right = tile.window
        with torch.no_grad():
            found = network(image[..., top:bottom, left:right], layers)
            cores = {name: tile.crop(found[name], layer_stride(name)) for name in layers}
        yield tile, cores
        if on_tile is not None:
            on_tile(done, len(tiles))


def feature_map_shape(height: int, width: int, layer: str, channels: int) -> tuple[int, int, int, int]:
    """(1, C, h, w) of the whole image's map at `layer` (each pooling floors)."""
    stride = layer_stride(layer)
    return (1, channels, height // stride, width // stride)


def tiled_feature_maps(network: Network, image: torch.Tensor, layers: Sequence[str], tiles: Sequence[Tile],
                       channels: Mapping[str, int], on_tile: TileCallback | None = None,
                       dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """The whole image's feature maps at `layers` (in `dtype`, on the image's device), assembled from tile cores."""
    height, width = image.shape[-2:]
    maps = {name: torch.zeros(feature_map_shape(height, width, name, channels[name]), device=image.device,
                              dtype=dtype) for name in layers}
    for tile, cores in tiled_features(network, image, layers, tiles, on_tile):
        for name, core in cores.items():
            rows, cols = tile.region(maps[name].shape, layer_stride(name))
            maps[name][..., rows, cols] = core.to(dtype)
    return maps


def gram_sum(features: torch.Tensor) -> torch.Tensor:
    """Unnormalised channel correlations F F^T of one core, (1, C, h, w) -> (1, C, C), fp32."""
    b, c, h, w = features.shape
    flat = features.float().permute(0, 2, 3, 1).reshape(b, h * w, c)
    return torch.bmm(flat.transpose(1, 2), flat)


def tiled_grams(network: Network, image: torch.Tensor, layers: Sequence[str], tiles: Sequence[Tile],
                on_tile: TileCallback | None = None) -> Grams:
    """Gram matrices of the whole image (as `losses.gram_matrix`), summed over tile cores."""
    height, width = image.shape[-2:]
    sums: dict[str, torch.Tensor] = {}
    for _tile, cores in tiled_features(network, image, layers, tiles, on_tile):
        for name, core in cores.items():
            part = gram_sum(core)
            sums[name] = part if name not in sums else sums[name].add_(part)
    return {name: value / _cells(height, width, name) for name, value in sums.items()}


def _cells(height: int, width: int, layer: str) -> int:
    stride = layer_stride(layer)
    return (height // stride) * (width // stride)


@dataclass(frozen=True)
class LossWeights:
    """The loss's weights and layers, as the optimizer's options give them."""

    content: float
    style: float
    tv: float
    content_layers: tuple[str, ...]
    style_layers: tuple[str, ...]
    style_layer_weights: dict[str, float]

    @classmethod
    def from_options(cls, opts: object) -> "LossWeights":
        return cls(opts.content_weight, opts.style_weight, opts.tv_weight, tuple(opts.content_layers),  # type: ignore[attr-defined]
                   tuple(opts.style_layers),  # type: ignore[attr-defined]
                   normalized_weights(opts.style_layers, opts.style_layer_weights))  # type: ignore[attr-defined]


def total_variation_and_gradient(image: torch.Tensor) -> tuple[float, torch.Tensor]:
    """`losses.total_variation_loss` and its gradient in closed form, with one image-sized temporary
    at a time (autograd would hold four)."""
    gradient = torch.zeros_like(image)
    value = 0.0
    for dim in (-1, -2):
        n = image.size(dim)
        if n < 2:
            value += float("nan")
            continue
        diff = image.narrow(dim, 1, n - 1) - image.narrow(dim, 0, n - 1)
        count = diff.numel()
        value += float(diff.pow(2).sum()) / count
        diff.mul_(2.0 / count)
        gradient.narrow(dim, 1, n - 1).add_(diff)
        gradient.narrow(dim, 0, n - 1).sub_(diff)
        del diff
    return value, gradient


class TiledLoss:
    """The optimizer's loss (content + style + total variation) and its gradient, a tile at a time.

    Two passes per evaluation: the first sums the style layers' Gram matrices over all tile cores
    (no gradients kept), so the style term sees the whole image; the second runs each tile forward
    and backward with the Gram error's gradient held fixed (the loss is a function of the summed
    Grams, so its gradient is the sum of each tile's part) and adds the tile's gradient into the
    image's. Peak memory: one tile's pass, whatever the image size.
    """

    def __init__(self, network: Network, content_targets: Mapping[str, torch.Tensor],
                 style_targets: Mapping[str, torch.Tensor], weights: LossWeights) -> None:
        self.network, self.weights = network, weights
        self.content_targets, self.style_targets = content_targets, style_targets
        self.content_norms = {name: float(target.float().pow(2).sum().clamp_min(1e-12))
                              for name, target in content_targets.items()}

    def __call__(self, image: torch.Tensor, tiles: Sequence[Tile], on_tile: TileCallback | None = None
                 ) -> tuple[dict[str, float], torch.Tensor]:
        """({content, style, tv, total}, gradient of total with respect to `image`)."""
        w = self.weights
        progress = _TileCount(2 * len(tiles), on_tile)
        grams = tiled_grams(self.network, image, w.style_layers, tiles, progress.tick) if w.style_layers else {}
        style, style_grads = self._style_term(grams)
        del grams
        content, gradient = 0.0, torch.zeros_like(image)
        height, width = image.shape[-2:]
        layers = tuple(dict.fromkeys((*w.content_layers, *w.style_layers)))
        for tile in tiles:
            top, left, bottom, right = tile.window
            window = image[..., top:bottom, left:right].detach().requires_grad_(True)
            found = self.network(window, layers)
            surrogate = window.new_zeros(())
            for name in w.content_layers:
                core = tile.crop(found[name], layer_stride(name)).float()
                rows, cols = tile.region(self.content_targets[name].shape, layer_stride(name))
                error = (core - self.content_targets[name][..., rows, cols].float()).pow(2).sum()
                error = error / (self.content_norms[name] * len(w.content_layers))
                content += float(error.detach())
                surrogate = surrogate + w.content * error
            for name in w.style_layers:
                core = tile.crop(found[name], layer_stride(name))
                part = gram_sum(core) / _cells(height, width, name)
                surrogate = surrogate + w.style * (style_grads[name] * part).sum()
            del found
            if surrogate.requires_grad:
                surrogate.backward()
                assert window.grad is not None
                gradient[..., top:bottom, left:right] += window.grad
            del window, surrogate
            progress.tick()
        tv, tv_gradient = total_variation_and_gradient(image.detach())
        gradient.add_(tv_gradient, alpha=w.tv)
        del tv_gradient
        total = w.content * content + w.style * style + w.tv * tv
        return {"content": content, "style": style, "tv": tv, "total": total}, gradient

    def _style_term(self, grams: Grams) -> tuple[float, Grams]:
        """The style loss of the whole image's Grams and its gradient with respect to each Gram."""
        if not grams:
            return 0.0, {}
        leaves = {name: gram.detach().requires_grad_(True) for name, gram in grams.items()}
        with torch.enable_grad():
            loss = style_loss(leaves, self.style_targets, self.weights.style_layer_weights)
            loss.backward()
        return float(loss.detach()), {name: leaf.grad for name, leaf in leaves.items()}  # type: ignore[misc]


class _TileCount:
    """Counts tiles over both passes of one evaluation for the tile callback."""

    def __init__(self, total: int, on_tile: TileCallback | None) -> None:
        self.done, self.total, self.on_tile = 0, total, on_tile

    def tick(self, *_: int) -> None:
        self.done += 1
        if self.on_tile is not None:
            self.on_tile(self.done, self.total)


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


__all__ = ["LossWeights", "Tile", "TileCallback", "TiledLoss", "feature_map_shape", "gram_sum", "grid_count",
           "halo_for", "layer_stride", "random_offset", "tile_grid", "tiled_feature_maps", "tiled_features",
           "tiled_grams", "total_variation_and_gradient", "window_pixels"]
