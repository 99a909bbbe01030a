"""VGG-19 as a feature extractor with named layers ("relu4_2"), run only as deep as needed."""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from .weights import CONV_NAMES, VGG19_BLOCKS, InputFormat, VGGWeights

#: Every named point in VGG-19's convolutional part, in order.
LAYER_NAMES: tuple[str, ...] = tuple(
    name
    for b, block in enumerate(VGG19_BLOCKS)
    for name in [*(n for c in range(len(block)) for n in (f"conv{b + 1}_{c + 1}", f"relu{b + 1}_{c + 1}")),
                 f"pool{b + 1}"]
)
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
IMAGENET_MEAN_RGB = (0.485, 0.456, 0.406)
IMAGENET_STD_RGB = (0.229, 0.224, 0.225)


class Preprocess(nn.Module):
    """RGB in [0, 1] -> the input convention the weights were trained with."""

    def __init__(self, input_format: InputFormat) -> None:
        super().__init__()
        self.input_format = input_format
        if input_format == "caffe":
            mean, scale = torch.tensor(CAFFE_MEAN_BGR), torch.full((3,), 255.0)
        else:
            mean, scale = torch.tensor(IMAGENET_MEAN_RGB), 1.0 / torch.tensor(IMAGENET_STD_RGB)
        self.register_buffer("mean", mean.view(1, 3, 1, 1))
        self.register_buffer("scale", scale.view(1, 3, 1, 1))

    def forward(self, image: torch.Tensor) -> torch.Tensor:  # (B, 3, H, W) -> (B, 3, H, W)
        if self.input_format == "caffe":
            return image.flip(1) * self.scale - self.mean  # RGB -> BGR, 0-255, minus mean
        return (image - self.mean) * self.scale

    def inverse(self, x: torch.Tensor) -> torch.Tensor:
        """Network input back to RGB in [0, 1] (for round-trip checks and visualising)."""
        if self.input_format == "caffe":
            return ((x + self.mean) / self.scale).flip(1)
        return x / self.scale + self.mean


class VGG19Features(nn.Module):
    """The convolutional part of VGG-19, truncated after `deepest`; frozen (no weight gradients)."""

    def __init__(self, weights: VGGWeights, deepest: str = "relu5_1", pooling: str = "avg") -> None:
        super().__init__()
        if deepest not in LAYER_NAMES:
            raise ValueError(f"unknown layer {deepest!r}")
        self.preprocess = Preprocess(weights.input_format)
        self.pooling = pooling
        self.names = LAYER_NAMES[: LAYER_NAMES.index(deepest) + 1]
        conv_count = sum(name.startswith("conv") for name in self.names)
        self.convs = nn.ModuleList()
        for (weight, bias) in weights.convs[:conv_count]:
            conv = nn.Conv2d(weight.shape[1], weight.shape[0], 3, padding=1)
            conv.weight.data.copy_(weight)
            conv.bias.data.copy_(bias)
            self.convs.append(conv)
        self.requires_grad_(False).eval()

    def forward(self, image: torch.Tensor, layers: Iterable[str]) -> dict[str, torch.Tensor]:
        """RGB image (B, 3, H, W) in [0, 1] -> {layer: features (B, C, h, w)} for the asked layers."""
        wanted = set(layers)
        missing = wanted - set(self.names)
        if missing:
            raise ValueError(f"layers {sorted(missing)} are deeper than this network ({self.names[-1]})")
        dtype = self.convs[0].weight.dtype
        x = self.preprocess(image).to(dtype)
        if image.is_contiguous(memory_format=torch.channels_last) or self._channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        found: dict[str, torch.Tensor] = {}
        conv_index = 0
        for name in self.names:
            if name.startswith("conv"):
                x = self.convs[conv_index](x)
                conv_index += 1
            elif name.startswith("relu"):
                # in-place saves memory, but not on a tensor we handed out (a requested conv output)
                x = F.relu(x, inplace=f"conv{name[4:]}" not in wanted)
            else:
                x = pool(x, self.pooling)
            if name in wanted:
                found[name] = x
                if len(found) == len(wanted):
                    break
        return found

    @property
    def _channels_last(self) -> bool:
        return self.convs[0].weight.is_contiguous(memory_format=torch.channels_last) and \
            not self.convs[0].weight.is_contiguous()


def pool(x: torch.Tensor, pooling: str) -> torch.Tensor:
    """VGG's 2x2 pooling ("max" or "avg"). A side already 1 px long (very thin or tiny images) stays
    1 px instead of vanishing (traced exports have fixed, larger sizes: the check is skipped there)."""
    ceil = not torch.jit.is_tracing() and min(x.shape[-2:]) < 2
    return F.max_pool2d(x, 2, ceil_mode=ceil) if pooling == "max" else F.avg_pool2d(x, 2, ceil_mode=ceil)


def place(network: nn.Module, device: torch.device, dtype: torch.dtype) -> nn.Module:
    """`network` on `device` in `dtype`, its VGG preprocessing kept in fp32 (the cast happens after
    it), channels-last on the CPU (oneDNN's fast layout)."""
    network.to(device=device, dtype=dtype)
    for module in network.modules():
        if isinstance(module, Preprocess):
            module.float()
    return network.to(memory_format=torch.channels_last) if device.type == "cpu" else network


def deepest_layer(*layer_groups: Iterable[str]) -> str:
    """The deepest of the named layers: the network is cut right after it."""
    return max((name for group in layer_groups for name in group), key=LAYER_NAMES.index)


def build_features(weights: VGGWeights, layers: Iterable[str], pooling: str,
                   device: torch.device, dtype: torch.dtype) -> VGG19Features:
    """A network just deep enough for `layers`, on `device` in `dtype`, channels-last on CPU."""
    return place(VGG19Features(weights, deepest_layer(layers), pooling), device, dtype)


__all__ = ["CONV_NAMES", "LAYER_NAMES", "Preprocess", "VGG19Features", "build_features", "deepest_layer", "place",
           "pool"]
