"""AdaIN's arithmetic (Huang & Belongie 2017) for fast mode: feature statistics, the style vector
that carries them, and the per-channel affine map that gives content features a style's statistics.

Pure functions on tensors; the networks that use them are in `decoder.py` and `network.py`.
"""

from __future__ import annotations

import torch
from torch import nn

ENCODER_LAYER = "relu4_1"
CHANNELS = 512
#: Levels a skip decoder also reads, coarse to fine, with their channels and input factors. The
#: factors bring the activations (Caffe VGG: RMS ~80-350 for 0-255 inputs) to about 10, so that
#: the zero-initialised 1x1 convs learn ~10x faster than the rest of a decoder under one Adam rate.
SKIP_LEVELS = ("relu3_1", "relu2_1", "relu1_1")
#: The level a coarse decoder also reads, below relu4_1 (`Decoder(coarse=True)`).
COARSE_LEVEL = "relu5_1"
LEVEL_CHANNELS = {"relu1_1": 64, "relu2_1": 128, "relu3_1": 256, ENCODER_LAYER: CHANNELS, COARSE_LEVEL: CHANNELS}
LOSS_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
EPS = 1e-5


def mean_std(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, C, H, W) -> per-channel mean and std, each (B, C), computed in fp32. Takes int8 features
    too (`int8.Int8Encoder`), without dequantizing them.

    Every position counts. Statistics from a subsample (every other row and column, 4x fewer reads
    at relu1_1) were tried for speed; training runs with them diverged within 30-100 steps, the
    same run (same batches) with full statistics did not: a channel flat on the sampled positions
    gets a tiny std, and its few active positions elsewhere are then scaled up without bound."""
    if features.is_quantized:                    # on the uint8 codes, then to real units
        mean, var = _blockwise_moments(features.int_repr())
        scale = features.q_scale()
        return scale * (mean - features.q_zero_point()), (scale * scale * var + EPS).sqrt()
    if features.is_contiguous(memory_format=torch.channels_last) and not features.requires_grad and \
            features.dtype != torch.float32:
        mean, var = _blockwise_moments(features)            # bf16 / fp16 maps at inference
        return mean, (var + EPS).sqrt()
    flat = features.float().flatten(2)                       # (B, C, HW)
    mean = flat.mean(dim=2)
    std = (flat.var(dim=2, unbiased=False) + EPS).sqrt()
    return mean, std


def _blockwise_moments(codes: torch.Tensor, rows: int = 8192) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and variance of a channels-last map (B, C, H, W) of uint8 codes or 16-bit
    floats, in fp32, a block of positions at a time: each block is converted and summed while it is
    in the cache (at relu1_1 of a 512-px photo, 15 ms instead of 65 ms for converting the whole map
    first). E[x^2] - E[x]^2 in fp32 is exact enough for uint8 codes and 16-bit inputs."""
    batch, channels = codes.shape[:2]
    means, variances = [], []
    for image in codes.permute(0, 2, 3, 1).reshape(batch, -1, channels):      # (HW, C) per image
        total = torch.zeros(channels, device=codes.device)
        squares = torch.zeros(channels, device=codes.device)
        for block in image.split(rows):
            values = block.float()
            total += values.sum(dim=0)
            squares += torch.linalg.vecdot(values.T, values.T)
        mean = total / image.shape[0]
        means.append(mean)
        variances.append((squares / image.shape[0] - mean.square()).clamp_min(0))
    return torch.stack(means), torch.stack(variances)


def stats_vector(stats: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
    """Each level's (mean, std) -> the style vector layout (B, N): [mean, std] of each level in turn."""
    return torch.cat([part for pair in stats for part in pair], dim=1)


def style_vector(features: dict[str, torch.Tensor], levels: tuple[str, ...] = (ENCODER_LAYER,)) -> torch.Tensor:
    """Features of each level -> style vector (B, N); relu4_1 alone: (B, 512, H, W) -> (B, 1024)."""
    return stats_vector([mean_std(features[name]) for name in levels])


def vector_size(levels: tuple[str, ...]) -> int:
    """Length of the style vector over `levels` (mean and std per channel)."""
    return sum(2 * LEVEL_CHANNELS[name] for name in levels)


def split_vector(vector: torch.Tensor, levels: tuple[str, ...]) -> list[torch.Tensor]:
    """A style vector (B, N) -> each level's [mean, std] part (B, 2C), in `levels`' order."""
    return list(vector.split([2 * LEVEL_CHANNELS[name] for name in levels], dim=1))


#: AdaIN as a per-channel affine map x -> a * x + b; a, b: (B, C).
Affine = tuple[torch.Tensor, torch.Tensor]


def adain_affine(content_stats: tuple[torch.Tensor, torch.Tensor], style_part: torch.Tensor) -> Affine:
    """(a, b) with a * x + b = (x - mean_c) / std_c * std_s + mean_s (style_part: (B, 2C) = [mean, std])."""
    mean_c, std_c = content_stats
    mean_s, std_s = style_part.float().chunk(2, dim=1)
    a = std_s / std_c
    return a, mean_s - mean_c * a


def apply_affine(features: torch.Tensor, affine: Affine) -> torch.Tensor:
    """a * features + b per channel, in fp32 (int8 features are dequantized first)."""
    a, b = affine
    x = features.dequantize() if features.is_quantized else features.float()
    return x * a[..., None, None] + b[..., None, None]        # (not addcmul: Core ML has no such op)


def fold_affine(conv: nn.Conv2d, affine: Affine, factor: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Weight and bias (fp32) of x -> conv(factor * (a * x + b)) as one convolution, for one image
    (a, b: (1, C)). Exact for 1x1 convolutions, and for larger ones after reflection or replication
    padding (every tap then reads a mapped input, so the offset b adds the same at every position)."""
    a, b = (part[0].float() for part in affine)
    weight = conv.weight.detach().float()
    folded = weight * (factor * a)[None, :, None, None]
    bias = conv.bias.detach().float() + weight.sum(dim=(2, 3)) @ (factor * b)
    return folded, bias


def adain_levels(features: dict[str, torch.Tensor], vector: torch.Tensor, levels: tuple[str, ...]
                 ) -> list[torch.Tensor]:
    """AdaIN at every level, each with its slice of the style vector (the layout of `style_vector`)."""
    return [apply_affine(features[name], adain_affine(mean_std(features[name]), part))
            for name, part in zip(levels, split_vector(vector, levels))]


def adain(content: torch.Tensor, vector: torch.Tensor) -> torch.Tensor:
    """Content features (B, C, H, W) re-normalised to the statistics in `vector` (B, 2C)."""
    return apply_affine(content, adain_affine(mean_std(content), vector))


__all__ = ["CHANNELS", "COARSE_LEVEL", "ENCODER_LAYER", "EPS", "LEVEL_CHANNELS", "LOSS_LAYERS", "SKIP_LEVELS", "Affine",
           "adain", "adain_affine", "adain_levels", "apply_affine", "fold_affine", "mean_std", "split_vector",
           "stats_vector", "style_vector", "vector_size"]
