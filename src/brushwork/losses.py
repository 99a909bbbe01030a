"""The loss terms of Gatys et al., as small pure functions.

Departures from the paper, and why:
* Gram matrices are divided by H*W, and both content and style terms are *relative* squared
  errors (divided by the squared norm of their target). The paper's absolute sums change by
  orders of magnitude with image size and layer depth; relative terms keep one set of weights
  good at every size, balance the layers without hand-tuned per-layer factors, and make the
  style term the square of the quality metric we report (`brushwork.metrics`).
* Total variation is the mean squared difference of neighbouring pixels (also size-independent).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """Channel correlations, (B, C, H, W) -> (B, C, C), in fp32 and divided by H*W."""
    b, c, h, w = features.shape
    features = features.float()
    if features.is_contiguous(memory_format=torch.channels_last) and not features.is_contiguous():
        flat = features.permute(0, 2, 3, 1).reshape(b, h * w, c)  # a view: no copy of the features
        return torch.bmm(flat.transpose(1, 2), flat) / (h * w)
    flat = features.reshape(b, c, h * w)
    return torch.bmm(flat, flat.transpose(1, 2)) / (h * w)


def relative_squared_error(value: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """||value - target||^2 / ||target||^2, any matching shapes -> ()."""
    target = target.float()
    return (value.float() - target).pow(2).sum() / target.pow(2).sum().clamp_min(1e-12)


def content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Feature reconstruction error at one layer, (B, C, H, W) x (B, C, H, W) -> ()."""
    return relative_squared_error(features, target)


def style_loss(grams: Mapping[str, torch.Tensor], targets: Mapping[str, torch.Tensor],
               layer_weights: Mapping[str, float]) -> torch.Tensor:
    """Weighted sum over layers of relative Gram errors, {layer: (B, C, C)} -> ()."""
    return sum(weight * relative_squared_error(grams[name], targets[name])
               for name, weight in layer_weights.items())


def total_variation_loss(image: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of neighbouring pixels, (B, 3, H, W) -> (); 0 for a flat image."""
    dx = image[..., :, 1:] - image[..., :, :-1]
    dy = image[..., 1:, :] - image[..., :-1, :]
    return dx.pow(2).mean() + dy.pow(2).mean()


def temporal_loss(image: torch.Tensor, target: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Ruder et al. 2016's temporal term: the mean squared difference from `target` (the previous
    frame's result warped onto this one), weighted per pixel by `weights` (1, 1, H, W): 0 where flow
    says the pixel was occluded, 1 where it can be trusted. (B, 3, H, W) -> ()."""
    return (weights * (image.float() - target.float()).pow(2)).sum() / image.numel()


def temporal_loss_and_gradient(image: torch.Tensor, target: torch.Tensor, weights: torch.Tensor
                               ) -> tuple[float, torch.Tensor]:
    """`temporal_loss` and its gradient with respect to `image`, without autograd: the term is per
    pixel, so a level evaluated in tiles adds it once for the whole image."""
    difference = image.detach().float() - target.float()
    weighted = difference.mul(weights)
    value = float((weighted * difference).sum()) / image.numel()
    return value, weighted.mul_(2.0 / image.numel())


def blend_grams(grams: Sequence[Mapping[str, torch.Tensor]], weights: Sequence[float]) -> dict[str, torch.Tensor]:
    """Weighted mean of several style images' Gram matrices, layer by layer (one blended style)."""
    total = float(sum(weights))
    return {name: sum((w / total) * g[name] for g, w in zip(grams, weights)) for name in grams[0]}


def normalized_weights(names: Sequence[str], weights: Sequence[float] | None) -> dict[str, float]:
    """{name: weight} with the weights summing to one (equal when none are given)."""
    values = [1.0] * len(names) if weights is None else [float(w) for w in weights]
    total = sum(values)
    return {name: value / total for name, value in zip(names, values)}
