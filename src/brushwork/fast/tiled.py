"""Fast mode at any size: the transfer network in tiles, with the whole picture's feature statistics.

AdaIN gives the photo's features the painting's per-channel mean and std; computed tile by tile,
each tile would get its own statistics and its own colours. So the transfer runs in two passes:
the first sums each level's features (and their squares) over the tile cores, giving the whole
picture's mean and std; the second encodes each tile again, maps it with that one AdaIN, decodes
it and keeps its core. Each window carries a halo wide enough that its core comes out as the
whole picture's would (the encoder's spoiled band plus the decoder's, see `decoder_halo`): no seams.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ..memory import format_size, image_bytes
from ..planning import LevelPlan, RunPlan, largest_window
from ..tiling import Tile, halo_for, layer_stride, tile_grid
from .network import COARSE_LEVEL, EDGE_MARGIN, EPS, TransferNetwork, adain_affine, split_vector, stats_vector

#: Peak bytes per pixel of one transfer pass (encoder + AdaIN + decoder): 1.37-1.59 KB measured in
#: fp32 on the CPU at 512-1024 px; 16-bit and int8 passes need less.
TRANSFER_BYTES_PER_PIXEL = 1600.0
TRANSFER_FIXED_BYTES = 64 * 2**20
#: Full-size fp32 buffers a fast call adds to what it holds when it plans (the photo): the output
#: (in tiles, the framed photo is read a window at a time; `finish` turns the output to 8 bits in place).
FAST_BUFFERS = 1
FAST_TILE_CORES = (2048, 1536, 1024, 768, 512, 384, 256, 128)


def decoder_halo(coarse: bool) -> int:
    """Pixels the decoder's own 3x3 convolutions and x2 upsamplings spoil next to a cut, on top of
    the encoder's: from relu4_1 (1/8 size) one convolution, then per upsampling x2 and two more
    convolutions; a coarse decoder starts one pooling deeper (relu5_1 through its 3x3 branch)."""
    spoiled = 4 + 1                      # relu4_1's spoiled cells (encoder), then the first conv layer
    if coarse:
        spoiled = max(spoiled, 2 * (5 + 1))   # relu5_1 (5 cells at 1/16) + its conv, enlarged x2
    for _ in range(3):
        spoiled = 2 * spoiled + 2
    return spoiled


def transfer_halo(network: TransferNetwork) -> tuple[int, int]:
    """(halo, alignment) for exact tiles of `network`."""
    levels = network.decoder.levels
    _, alignment = halo_for(levels)
    halo = decoder_halo(COARSE_LEVEL in levels)
    return -(-halo // alignment) * alignment, alignment


def pass_bytes(pixels: int) -> int:
    return int(TRANSFER_FIXED_BYTES + TRANSFER_BYTES_PER_PIXEL * pixels)


def choose_core(width: int, height: int, available: int, halo: int) -> int | None:
    """The largest tile core whose pass fits in `available` bytes; None when the whole picture fits;
    0 when not even the smallest tile does."""
    if pass_bytes(width * height) <= available:
        return None
    for core in FAST_TILE_CORES:
        if core < max(width, height) and pass_bytes(largest_window(core, width, height, halo)) <= available:
            return core
    return 0


def style_vector_tiled(encoder: Any, levels: tuple[str, ...], image: torch.Tensor, available: int,
                       to_input: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor | None:
    """The style vector (1, N) of a painting too big for one encoder pass in `available` bytes, from
    tiles; None when one pass fits."""
    height, width = image.shape[-2:]
    halo, alignment = halo_for(levels)
    core = choose_core(width, height, available, halo)
    if core is None:
        return None
    tiles = tile_grid(height, width, core or FAST_TILE_CORES[-1], halo, alignment)
    return stats_vector(global_stats(encoder, levels, image, tiles, to_input))


def fast_plan(model: object, width: int, height: int, budget: int, baseline: int) -> RunPlan:
    """Fast mode's plan for a (width, height) picture: one pass, whole or in tiles."""
    from ..errors import MemoryBudgetError

    network: TransferNetwork = model.transfer_network  # type: ignore[attr-defined]
    halo, _ = transfer_halo(network)
    framed_w, framed_h = width + 2 * 16 + 8, height + 2 * 16 + 8
    fixed = baseline + FAST_BUFFERS * image_bytes(framed_w, framed_h)
    whole = fixed + image_bytes(framed_w, framed_h) + pass_bytes(framed_w * framed_h)    # (+ the framed copy)
    core = None if whole <= budget else choose_core(framed_w, framed_h, budget - fixed, halo)
    if core is None and whole > budget:
        core = next((c for c in FAST_TILE_CORES if c < max(framed_w, framed_h)), 0)
    if core == 0:
        needed = fixed + pass_bytes((FAST_TILE_CORES[-1] + 2 * halo) ** 2)
        raise MemoryBudgetError(f"max_memory: a budget of {format_size(budget)} cannot hold one tile of the "
                                f"{width}x{height} picture (that needs about {format_size(needed)}); give more "
                                "memory or a smaller size")
    if core is None:
        level = LevelPlan(width, height, 1, None, 1, 0, whole)
    else:
        tiles = len(tile_grid(framed_h, framed_w, core, halo, halo_for(network.decoder.levels)[1]))
        level = LevelPlan(width, height, 1, core, tiles, 0,
                          fixed + pass_bytes(largest_window(core, framed_w, framed_h, halo)))
    return RunPlan((level,), budget, halo)


def reflect_index(length: int, margin: int) -> torch.Tensor:
    """Where each row of the framed picture (`network.frame`: a mirrored border of `margin`, then
    mirrored up to a multiple of 8) comes from in the photo's `length` rows."""
    framed = length + 2 * margin
    padded = max(16, framed + (-framed) % 8)
    index = torch.arange(padded)
    index = torch.where(index >= framed, 2 * (framed - 1) - index, index) - margin     # pad_to_multiple
    index = index.abs()                                                                  # the top border
    return torch.where(index >= length, 2 * (length - 1) - index, index)                 # the bottom border


class FramedPhoto:
    """The framed photo (`network.frame`), read a window at a time: at 12 megapixels a framed copy
    would be 150 MB more. For photos of at least 17 px a side (smaller ones never need tiles)."""

    def __init__(self, photo: torch.Tensor, margin: int = EDGE_MARGIN) -> None:
        self.photo, self.margin = photo, margin
        self.rows, self.cols = reflect_index(photo.shape[-2], margin), reflect_index(photo.shape[-1], margin)

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.rows), len(self.cols)

    def window(self, top: int, left: int, bottom: int, right: int) -> torch.Tensor:
        return self.photo.index_select(-2, self.rows[top:bottom]).index_select(-1, self.cols[left:right])


def transfer_tiled(network: TransferNetwork, photo: torch.Tensor, vector: torch.Tensor, strength: torch.Tensor | None,
                   core: int, to_input: Callable[[torch.Tensor], torch.Tensor],
                   on_tile: Callable[[int, int], None] | None = None) -> torch.Tensor:
    """`frame`, `network(framed, vector, strength)` and the crop back, a tile at a time:
    (1, 3, H, W) photo on the CPU -> (1, 3, H, W) fp32 on the CPU."""
    halo, alignment = transfer_halo(network)
    source = FramedPhoto(photo)
    height, width = source.shape
    tiles = tile_grid(height, width, core, halo, alignment)
    levels = network.decoder.levels
    total = 2 * len(tiles)
    stats = global_stats(network.encoder, levels, source, tiles, to_input,
                         lambda done: on_tile and on_tile(done, total))
    if strength is not None:
        amount = strength.float().reshape(-1, 1).to(vector.device)
        vector = amount * vector.float() + (1 - amount) * stats_vector(stats).to(vector.device)
    affines = [adain_affine(pair, part) for pair, part in zip(stats, split_vector(vector, levels))]
    margin, (rows, cols) = source.margin, photo.shape[-2:]
    out = torch.empty(1, 3, rows, cols)
    for number, tile in enumerate(tiles, start=1):
        with torch.no_grad():
            found = network.encoder.layers(to_input(source.window(*tile.window)), levels)
            decoded = network.decoder.decode([found[name] for name in levels], affines, fold=network.fold_adain,
                                             style=vector)
            del found
            kept = tile.crop(decoded, 1)
            c_top, c_left = tile.core[:2]
            top, left = max(c_top, margin), max(c_left, margin)          # the core's part inside the photo
            bottom, right = min(c_top + kept.shape[-2], margin + rows), min(c_left + kept.shape[-1], margin + cols)
            if bottom > top and right > left:
                out[..., top - margin:bottom - margin, left - margin:right - margin] = \
                    kept[..., top - c_top:bottom - c_top, left - c_left:right - c_left].float().clamp(0, 1).cpu()
        del decoded, kept
        if on_tile is not None:
            on_tile(len(tiles) + number, total)
    return out


def global_stats(encoder: Any, levels: tuple[str, ...], image: torch.Tensor | FramedPhoto, tiles: list[Tile],
                 to_input: Callable[[torch.Tensor], torch.Tensor], tick: Callable[[int], object] = lambda _: None
                 ) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Each level's per-channel (mean, std), each (1, C) fp32, over the whole picture (tile cores),
    as `network.mean_std` of the whole map would give them."""
    sums: dict[str, torch.Tensor] = {}
    squares: dict[str, torch.Tensor] = {}
    counts = dict.fromkeys(levels, 0)
    for number, tile in enumerate(tiles, start=1):
        top, left, bottom, right = tile.window
        with torch.no_grad():
            window = image.window(top, left, bottom, right) if isinstance(image, FramedPhoto) else \
                image[..., top:bottom, left:right]
            found = encoder.layers(to_input(window), levels)
            for name in levels:
                core = tile.crop(found[name], layer_stride(name))
                values = (core.dequantize() if core.is_quantized else core.float()).double()
                part, square = values.sum(dim=(0, 2, 3)), values.square().sum(dim=(0, 2, 3))
                sums[name] = part if name not in sums else sums[name] + part
                squares[name] = square if name not in squares else squares[name] + square
                counts[name] += values.shape[-2] * values.shape[-1]
            del found
        tick(number)
    stats = []
    for name in levels:
        mean = sums[name] / counts[name]
        variance = (squares[name] / counts[name] - mean.square()).clamp_min(0)
        stats.append((mean.float()[None], (variance + EPS).sqrt().float()[None]))
    return stats


__all__ = ["choose_core", "decoder_halo", "fast_plan", "global_stats", "style_vector_tiled", "transfer_halo",
           "transfer_tiled"]
