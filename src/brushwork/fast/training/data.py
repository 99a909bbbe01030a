"""Training images and style targets: image lists, random crops and their augmentations, the
style statistics of cached painting crops (computed once per run and reused), and the picks of
each batch's styles.

Cheapness on a CPU: the encoder runs under no_grad for the targets, with bf16 autocast and
channels-last, and the style statistics of a few random crops per painting are computed once.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ... import imaging
from ...errors import InvalidInputError
from ...features import VGG19Features
from ...formats import IMAGE_SUFFIXES
from ...losses import gram_matrix
from ...options import make_options
from ..network import LOSS_LAYERS, Encoder, mean_std, stats_vector
from .config import GRAM_LAYERS, TrainConfig, autocast, channels_last, loss_layers


@dataclass
class TrainingData:
    """Training images and the targets of every cached style crop, all on the training device."""

    contents: list[torch.Tensor]      # (3, H, W) uint8, one per photo
    style_means: dict[str, torch.Tensor]   # layer -> (N, C) per cached style crop
    style_stds: dict[str, torch.Tensor]    # layer -> (N, C)
    style_grams: dict[str, torch.Tensor]   # layer -> (N, C, C); empty unless gram_weight
    style_vectors: torch.Tensor       # (N, vector size) the style vector of each cached crop
    layer_scale: dict[str, float]     # mean squared activation per loss layer
    validation: torch.Tensor          # (B, 3, crop, crop) fixed content crops
    validation_styles: torch.Tensor   # (B,) fixed indices of cached style targets
    whole_from: int = 0               # the crop targets' count: whole paintings' targets follow them

    def targets(self, picks: torch.Tensor) -> dict[str, dict[str, torch.Tensor]]:
        """The style targets of the cached crops `picks` (B,): {"mean"|"std"|"gram": {layer: ...}}."""
        return {"mean": {n: t[picks] for n, t in self.style_means.items()},
                "std": {n: t[picks] for n, t in self.style_stds.items()},
                "gram": {n: t[picks] for n, t in self.style_grams.items()}}


def list_images(folder: str | Path) -> list[Path]:
    """The images in a folder (recursively), or the one image a file path names (tuning for one painting)."""
    path = Path(folder)
    if path.is_file():
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            raise InvalidInputError(f"'{path}' is not an image file ({', '.join(sorted(IMAGE_SUFFIXES))})")
        return [path]
    if not path.is_dir():
        kind = "image file" if path.suffix.lower() in IMAGE_SUFFIXES else "image folder"
        raise InvalidInputError(f"{kind} '{path}' does not exist")
    found = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not found:
        raise InvalidInputError(f"image folder '{path}' holds no images")
    return found


def load_uint8(path: Path, max_side: int) -> torch.Tensor:
    """An image as (3, H, W) uint8, long side at most `max_side` (keeps memory small); `random_crop`'s input."""
    rgb = imaging.load_image(path).rgb
    if max(rgb.size) > max_side:
        rgb = imaging.resize(rgb, imaging.output_size(*rgb.size, max_side))
    return torch.from_numpy(np.asarray(rgb).copy()).permute(2, 0, 1)


def random_crop(image: torch.Tensor, crop: int, rng: random.Random, jitter: bool) -> torch.Tensor:
    """(3, H, W) uint8 -> (3, crop, crop) float in [0, 1]: random scale, crop, flip (+ colour jitter)."""
    if image.dtype != torch.uint8:       # a [0, 1] float image would come out black (it is divided by 255)
        raise TypeError(f"random_crop takes (3, H, W) uint8 images (load_uint8), got {image.dtype}")
    x = image.float().div(255)[None]
    short = min(x.shape[-2:])
    target = rng.uniform(crop, crop * 1.6)                   # short side after rescaling
    scale = target / short
    size = (max(crop, round(x.shape[-2] * scale)), max(crop, round(x.shape[-1] * scale)))
    x = F.interpolate(x, size=size, mode="bilinear", antialias=scale < 1, align_corners=False)
    top, left = rng.randint(0, size[0] - crop), rng.randint(0, size[1] - crop)
    x = x[..., top:top + crop, left:left + crop]
    if rng.random() < 0.5:
        x = x.flip(-1)
    if jitter:
        grey = x.mean(1, keepdim=True)
        x = grey + (x - grey) * rng.uniform(0.8, 1.2)        # saturation
        x = x * rng.uniform(0.85, 1.15) + rng.uniform(-0.05, 0.05)  # contrast / brightness
    return x.clamp(0, 1)[0]


#: YIQ <-> RGB (NTSC): a hue turn is a rotation of the I/Q plane, luma (Y) untouched.
_RGB_TO_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])


def rotate_hue(image: torch.Tensor, degrees: float) -> torch.Tensor:
    """(3, H, W) RGB in [0, 1] with its hues turned by `degrees` (luma kept), clipped to [0, 1]."""
    angle = math.radians(degrees)
    turn = torch.tensor([[1.0, 0.0, 0.0], [0.0, math.cos(angle), -math.sin(angle)],
                         [0.0, math.sin(angle), math.cos(angle)]])
    matrix = (torch.linalg.inv(_RGB_TO_YIQ) @ turn @ _RGB_TO_YIQ).to(image)
    return torch.einsum("ij,jhw->ihw", matrix, image).clamp(0, 1)


def augment_painting(image: torch.Tensor, rng: random.Random) -> torch.Tensor:
    """A painting crop (3, H, W) in [0, 1], recoloured: hue turned (half the time), saturation
    0.2-1.4x, then a gamma of 0.5-2 (dark and washed-out versions).

    Why: the modulated decoder maps the style vector to per-channel scales, and with only the
    training paintings' few dozen vectors it learnt that map exactly there; a GPU run (8,400
    steps) turned an unseen dark or two-colour picture into a neon or blank image. Recoloured
    crops spread the vectors it learns from (for training from scratch: 400 CPU steps of it from
    that run did not mend those faults; the modulation's bounds in network.py did)."""
    if rng.random() < 0.5:
        image = rotate_hue(image, rng.uniform(0, 360))
    grey = image.mean(0, keepdim=True)
    image = (grey + (image - grey) * rng.uniform(0.2, 1.4)).clamp(0, 1)
    return image.pow(math.exp(rng.uniform(math.log(0.5), math.log(2.0))))


def prepare_data(config: TrainConfig, encoder: Encoder, loss_network: VGG19Features | None, levels: tuple[str, ...],
                 device: torch.device, dtype: torch.dtype, rng: random.Random) -> TrainingData:
    """The run's photos and the style targets of its paintings (cached crops, then whole paintings)."""
    # Photos live on the training device: cropping there keeps a GPU fed without loader workers.
    contents = [load_uint8(p, 768).to(device) for p in list_images(config.content_dir)]
    paintings = list_images(config.style_dir)
    gram_layers = GRAM_LAYERS if config.gram_weight else ()
    with_crops = not config.style_whole or config.whole_share < 1
    # Targets in two runs, cached crops first, then whole paintings (from index `whole_from`)
    layers = tuple(dict.fromkeys((*loss_layers(config), *levels)))     # (a coarse decoder's relu5_1 too)
    kinds = {"crops": _Targets(layers), "whole": _Targets(layers)}
    with torch.no_grad(), autocast(device, dtype):
        for painting in paintings:
            if with_crops:
                style = load_uint8(painting, 768).to(device)
                crops = [random_crop(style, config.crop, rng, jitter=False) for _ in range(config.style_crops)]
                if config.style_augment:               # the first crop of each painting stays as painted
                    crops[1:] = [augment_painting(crop, rng) for crop in crops[1:]]
                crops = torch.stack(crops)
                found = encoder.layers(channels_last(crops), layers)
                # Gram targets as the loss network sees them (objective "gatys": the optimizer's VGG)
                seen = found if loss_network is None else loss_network(channels_last(crops), gram_layers)
                kinds["crops"].add(found, seen, gram_layers)
            if config.style_whole:                 # the painting as fast mode and `brushwork score` read it
                found, seen = whole_painting_features(painting, config.style_whole, encoder, loss_network,
                                                      layers, gram_layers, device)
                kinds["whole"].add(found, seen, gram_layers)
    used = [t for t in kinds.values() if t.means]
    style_means = {n: torch.cat([m for t in used for m in t.means[n]]) for n in layers}
    style_stds = {n: torch.cat([m for t in used for m in t.stds[n]]) for n in layers}
    style_grams = {n: torch.cat([m for t in used for m in t.grams[n]]) for n in gram_layers}
    sums = {n: sum(s for t in used for s in t.squares[n]) / sum(len(t.squares[n]) for t in used)
            for n in LOSS_LAYERS}
    vectors = stats_vector([(style_means[name], style_stds[name]) for name in levels])
    whole_from = sum(len(m) for m in kinds["crops"].means[LOSS_LAYERS[0]]) if with_crops else 0
    val = torch.stack([random_crop(contents[i % len(contents)], config.crop, random.Random(i), jitter=False)
                       for i in range(config.batch_size)])
    val_styles = torch.tensor([(i * 7919) % len(vectors) for i in range(config.batch_size)], device=device)
    return TrainingData(contents, style_means, style_stds, style_grams, vectors, sums, val, val_styles, whole_from)


class _Targets:
    """Style targets of one kind (crops or whole paintings) as they are gathered, painting by painting:
    mean and std at every layer of `layers` (the losses' and the decoder's levels), the mean square
    at the loss layers, Gram matrices at the Gram layers."""

    def __init__(self, layers: tuple[str, ...]) -> None:
        self.means: dict[str, list[torch.Tensor]] = {n: [] for n in layers}
        self.stds: dict[str, list[torch.Tensor]] = {n: [] for n in layers}
        self.grams: dict[str, list[torch.Tensor]] = {n: [] for n in GRAM_LAYERS}
        self.squares: dict[str, list[float]] = {n: [] for n in LOSS_LAYERS}

    def add(self, found: dict[str, torch.Tensor], seen: dict[str, torch.Tensor], gram_layers: tuple[str, ...]) -> None:
        for name in self.means:
            mean, std = mean_std(found[name])
            self.means[name].append(mean), self.stds[name].append(std)
        for name in self.squares:
            self.squares[name].append(float(found[name].float().pow(2).mean()))
        with torch.autocast(found[LOSS_LAYERS[0]].device.type, enabled=False):      # Gram targets in fp32
            for name in gram_layers:
                self.grams[name].append(gram_matrix(seen[name]))


def pick_styles(data: TrainingData, count: int, whole_share: float, rng: random.Random) -> list[int]:
    """Indices of `count` style targets: each a whole painting with probability `whole_share` where the
    data has both kinds, else any target (the data holds one kind)."""
    total = len(data.style_vectors)
    if 0 < data.whole_from < total:
        return [rng.randrange(data.whole_from, total) if rng.random() < whole_share else rng.randrange(data.whole_from)
                for _ in range(count)]
    return [rng.randrange(total) for _ in range(count)]


def whole_painting_features(painting: Path, long_side: int, encoder: Encoder,
                            loss_network: VGG19Features | None, layers: tuple[str, ...],
                            gram_layers: tuple[str, ...], device: torch.device,
                            ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """A whole painting's encoder features at fast mode's style size for `long_side`-px outputs (its
    style vector), and its Gram-layer features at `long_side` px (the targets `brushwork score` uses);
    read from the file at each size, as those two read it."""
    from ..model import style_long_side

    def at(side: int) -> torch.Tensor:
        return channels_last(imaging.load_tensor(painting, side, device))

    found = encoder.layers(at(style_long_side(make_options(), long_side, long_side)), layers)
    gram_network = encoder.layers if loss_network is None else loss_network
    seen = gram_network(at(long_side), gram_layers) if gram_layers else {}
    return found, seen


def spread(files: list[Path], count: int) -> list[Path]:
    """`count` files spread evenly over the sorted list (all of them where there are fewer)."""
    if len(files) <= count:
        return files
    return [files[round(i * (len(files) - 1) / max(1, count - 1))] for i in range(count)]
