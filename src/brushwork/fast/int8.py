"""Static int8 inference for the fast mode: ~1.7x bf16's speed on CPUs with VNNI, the same picture.

Weights are quantized when the model loads (int8, one symmetric scale per output channel).
Activations are uint8 with one fixed range per layer, measured once on photos and paintings
(`calibrate`; run by `brushwork calibrate-fast` and `train-fast --export`) and stored in the decoder
file beside its weights, so a call spends nothing on measuring ranges. AdaIN stays in fp32 between
the int8 encoder and the decoder, whose first convolution stays in bf16 (see `Int8Decoder`).

Why it pays: on AVX512-VNNI a uint8 x int8 multiply-add does twice the work per instruction of a
bf16 one, and the network is ~85 % convolutions. PyTorch's quantized CPU kernels (oneDNN/FBGEMM,
`torch.ao.nn.quantized`) run them; the torch version brushwork pins has them.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.ao.nn import quantized as qnn
from torch.ao.nn.intrinsic import quantized as qnni
from torch.ao.quantization import HistogramObserver, PerChannelMinMaxObserver

from ..features import deepest_layer, pool
from .network import (ENCODER_LAYER, SKIP_SCALES, Affine, Decoder, Encoder, Upsample, adain_levels, apply_affine,
                      coarse_output, fold_affine, frame, modulate_conv, skip_output, style_vector)

#: Activation ranges: {layer name: {"scale": float, "zero_point": int}} (uint8, per tensor).
Ranges = dict[str, dict[str, float | int]]

# PyTorch warns once that it plans to move quantized tensors out of core; brushwork pins its torch
# and falls back to bf16 where the kernels are missing (`int8_available`), so the warning is noise.
warnings.filterwarnings("ignore", message=r"torch\.quantize_per_tensor, torch\.quantize_per_channel")


class Pool(nn.Module):
    """The encoder's 2x2 max pooling (`features.pool`) as a unit."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return pool(x, "max")


class ReflectPad(nn.Module):
    """1-px reflection padding of a uint8 channels-last tensor, kept channels-last.

    PyTorch's quantized reflection_pad2d returns channels-first, which the next int8 convolution
    then converts back: ~30 ms per full-size layer. Writing the border by slices costs ~1 ms."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = x.shape
        if height < 2 or width < 2:                        # (as F.pad would, refuse what cannot mirror)
            raise ValueError(f"cannot reflect-pad a {height}x{width} feature map")
        out = torch._empty_affine_quantized([batch, channels, height + 2, width + 2], scale=x.q_scale(),
                                            zero_point=x.q_zero_point(), dtype=x.dtype,
                                            memory_format=torch.channels_last)
        out[:, :, 1:-1, 1:-1] = x
        out[:, :, 0, 1:-1] = x[:, :, 1]
        out[:, :, -1, 1:-1] = x[:, :, -2]
        out[:, :, :, 0] = out[:, :, :, 2]
        out[:, :, :, -1] = out[:, :, :, -3]
        return out


class ConvReLU(nn.Module):
    """A float convolution (+ ReLU): the unit that gets one activation range and one int8 kernel.
    A modulated decoder's style `modulation` scales and shifts its output before the ReLU."""

    def __init__(self, conv: nn.Conv2d, relu: bool) -> None:
        super().__init__()
        self.conv, self.relu = conv, relu

    def forward(self, x: torch.Tensor, modulation: Affine | None = None) -> torch.Tensor:
        x = self.conv(x)
        if modulation is not None:
            x = apply_affine(x, modulation)
        return F.relu(x) if self.relu else x


def encoder_layers(encoder: Encoder, levels: tuple[str, ...] = (ENCODER_LAYER,)) -> dict[str, nn.Module]:
    """VGG-19 to relu4_1 (or the deepest of `levels`: relu5_1 for a coarse decoder) as named units:
    "encoder.relu1_1" (conv + ReLU), "encoder.pool1", ..."""
    vgg, layers = encoder.vgg, {}
    convs = iter(vgg.convs)
    for name in vgg.names[: vgg.names.index(deepest_layer((ENCODER_LAYER,), levels)) + 1]:
        if name.startswith("conv"):
            conv = next(convs)
        elif name.startswith("relu"):
            layers[f"encoder.{name}"] = ConvReLU(conv, relu=True)
        else:
            layers[f"encoder.{name}"] = Pool()
    return layers


def decoder_layers(decoder: Decoder) -> dict[str, nn.Module]:
    """The decoder as named units: "decoder.pad0", "decoder.conv0", "decoder.up1", ..."""
    layers: dict[str, nn.Module] = {}
    for index, unit in enumerate(decoder.layers):
        if isinstance(unit, Upsample):
            layers[f"decoder.up{index}"] = unit
        else:                                              # ConvLayer: reflection pad, conv (, ReLU)
            layers[f"decoder.pad{index}"] = unit[0]
            layers[f"decoder.conv{index}"] = ConvReLU(unit[1], relu=unit.hidden)
    return layers


def decoder_segments(decoder: Decoder) -> list[dict[str, nn.Module]]:
    """`decoder_layers` cut after each upsampling: a skip decoder adds a level there (see `Decoder`)."""
    segments: list[dict[str, nn.Module]] = [{}]
    for name, layer in decoder_layers(decoder).items():
        segments[-1][name] = layer
        if isinstance(layer, Upsample) and len(decoder.skips):
            segments.append({})
    return segments


def _skip_names(segment: dict[str, nn.Module]) -> tuple[str, str]:
    """Range names of a skip level's 1x1 conv output and of the sum, after the segment ending in
    "decoder.up1": ("decoder.skip1", "decoder.sum1"); ..."""
    index = list(segment)[-1].removeprefix("decoder.up")
    return f"decoder.skip{index}", f"decoder.sum{index}"


def _observed(layers: dict[str, nn.Module]) -> list[str]:
    return [name for name, layer in layers.items() if isinstance(layer, ConvReLU)]


#: Range of a coarse decoder's first layer output plus its relu5_1 branch (`Decoder.coarse_output`).
COARSE_SUM = "decoder.coarse_sum"


def range_names(encoder: Encoder, decoder: Decoder) -> list[str]:
    """Every activation range the int8 networks need: the encoder's input, each convolution's
    output, for a skip decoder each level's 1x1 conv output and sum, and for a coarse decoder the
    first layer's sum with the coarse branch."""
    segments = decoder_segments(decoder)
    return ["encoder.input", *_observed(encoder_layers(encoder, decoder.levels)),
            *(name for segment in segments for name in _observed(segment)),
            *(name for segment in segments[:-1] for name in _skip_names(segment)),
            *([COARSE_SUM] if decoder.coarse is not None else [])]


def calibrate(encoder: Encoder, decoder: Decoder, photos: Iterable[torch.Tensor],
              paintings: Sequence[torch.Tensor]) -> Ranges:
    """Activation ranges from fp32 runs: every painting through the encoder (as the style network
    sees it), every photo through the whole transfer network with a painting's style (round robin).

    Networks in fp32. Images are (1, 3, H, W) in [0, 1] at the sizes fast mode will see them (for a
    512-px output: photos at 512 px, paintings at 384 px). The ranges come from histograms
    (HistogramObserver minimises the rounding error, so rare outliers get clipped rather than
    stretching every layer's range)."""
    if not paintings:
        raise ValueError("calibration needs at least one painting")
    encoders, segments, levels = encoder_layers(encoder, decoder.levels), decoder_segments(decoder), decoder.levels
    joins = [_skip_names(segment) for segment in segments[:-1]]
    head, rest = _split_head(segments[0])                  # (a coarse decoder adds its branch between)
    observers = {name: HistogramObserver(dtype=torch.quint8, reduce_range=False)
                 for name in range_names(encoder, decoder)}

    def encode(image: torch.Tensor) -> dict[str, torch.Tensor]:
        x = encoder.vgg.preprocess(image.float())
        observers["encoder.input"](x)
        return _run(encoders, x, observers, keep=levels)[1]

    photo_count = 0
    with torch.no_grad():
        vectors = [style_vector(encode(painting), levels) for painting in paintings]
        for index, photo in enumerate(photos):
            vector = vectors[index % len(vectors)]
            deep, *skips = adain_levels(encode(frame(photo)[0]), vector, levels)
            coarse = skips.pop() if decoder.coarse is not None else None
            modulations = iter(decoder.modulations(vector))        # (all None for an unmodulated decoder)
            x = _run(head, deep * decoder.INPUT_SCALE, observers, modulations=modulations)[0]
            if coarse is not None:
                x = x + coarse_output(decoder.coarse, coarse, x.shape[-2:])
                observers[COARSE_SUM](x)
            x = _run(rest, x, observers, modulations=modulations)[0]
            for segment, conv, level, name, (skip_name, sum_name) in zip(segments[1:], decoder.skips, skips,
                                                                         levels[1:], joins):
                skip = skip_output(conv, level, name)
                observers[skip_name](skip)
                x = x + skip
                observers[sum_name](x)
                x = _run(segment, x, observers, modulations=modulations)[0]
            photo_count += 1
    if not photo_count:
        raise ValueError("calibration needs at least one photo")
    ranges: Ranges = {}
    for name, observer in observers.items():
        scale, zero_point = observer.calculate_qparams()
        ranges[name] = {"scale": float(scale), "zero_point": int(zero_point)}
    return ranges


def _split_head(segment: dict[str, nn.Module]) -> tuple[dict[str, nn.Module], dict[str, nn.Module]]:
    """The decoder's first segment cut after its first convolution (pad0, conv0 | up1): where a
    coarse decoder adds its relu5_1 branch, and where the int8 decoder goes from float to int8."""
    names = list(segment)
    return {name: segment[name] for name in names[:2]}, {name: segment[name] for name in names[2:]}


def _run(layers: dict[str, nn.Module], x: torch.Tensor, observers: dict[str, Callable[[torch.Tensor], Any]],
         keep: tuple[str, ...] = (), modulations: Iterator[Affine | None] | None = None
         ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Run `layers` observing their outputs; also returns the outputs of the units named in `keep`
    (without their "encoder." prefix). Each hidden convolution takes the next of `modulations`."""
    kept = {}
    for name, layer in layers.items():
        modulated = modulations is not None and isinstance(layer, ConvReLU) and layer.relu
        x = layer(x, next(modulations)) if modulated else layer(x)
        if name in observers:
            observers[name](x)
        if name.removeprefix("encoder.") in keep:
            kept[name.removeprefix("encoder.")] = x
    return x, kept


def _quantized_conv(unit: ConvReLU, scale: float, zero_point: int) -> nn.Module:
    """The int8 kernel of one conv (+ ReLU): weights per output channel, output range fixed."""
    conv = unit.conv
    kind = qnni.ConvReLU2d if unit.relu else qnn.Conv2d
    quantized = kind(conv.in_channels, conv.out_channels, conv.kernel_size, padding=conv.padding)
    quantized.set_weight_bias(_int8_weight(conv.weight.detach().float()), conv.bias.detach().float())
    quantized.scale, quantized.zero_point = float(scale), int(zero_point)
    return quantized


def _int8_weight(weight: torch.Tensor) -> torch.Tensor:
    """A float conv weight (out, in, kh, kw) in int8, one symmetric scale per output channel."""
    observer = PerChannelMinMaxObserver(ch_axis=0, dtype=torch.qint8, qscheme=torch.per_channel_symmetric)
    observer(weight)
    scale, zero_point = observer.calculate_qparams()
    return torch.quantize_per_channel(weight, scale, zero_point, 0, torch.qint8)


class Int8Stage(nn.Module):
    """fp32 in -> uint8 (the input's fixed range) -> int8 layers -> fp32 out.

    With `modulated`, the hidden convolutions (those with a ReLU) keep their float weights too: a
    modulated decoder's style scales them per call (`run`), so they are quantized per call."""

    def __init__(self, layers: dict[str, nn.Module], input_range: dict[str, float | int], ranges: Ranges,
                 modulated: bool = False) -> None:
        super().__init__()
        self.scale, self.zero_point = float(input_range["scale"]), int(input_range["zero_point"])
        self.names = list(layers)
        self.layers = nn.Sequential(*(_int8_unit(name, layer, ranges) for name, layer in layers.items()))
        self.floats = nn.ModuleDict({name.replace(".", "_"): copy.deepcopy(layer.conv).float()
                                     for name, layer in layers.items()
                                     if modulated and isinstance(layer, ConvReLU) and layer.relu})

    def quantize(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float().contiguous(memory_format=torch.channels_last)   # oneDNN's int8 kernels are NHWC
        return torch.quantize_per_tensor(x, self.scale, self.zero_point, torch.quint8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(self.quantize(x)).dequantize()

    def run(self, x: torch.Tensor, modulations: Iterator[Affine] | None = None) -> torch.Tensor:
        """The int8 layers on uint8 `x`; each modulated convolution takes the next of `modulations`
        (one image), folded into its weights."""
        for name, unit in zip(self.names, self.layers):
            key = name.replace(".", "_")                  # (ModuleDict keys cannot hold dots)
            if modulations is None or key not in self.floats:
                x = unit(x)
                continue
            conv = self.floats[key]
            weight, bias = modulate_conv(conv.weight, conv.bias, next(modulations))
            packed = torch.ops.quantized.conv2d_prepack(_int8_weight(weight), bias, [1, 1], [0, 0], [1, 1], 1)
            x = torch.ops.quantized.conv2d_relu(x, packed, unit.scale, unit.zero_point)
        return x


def _int8_unit(name: str, layer: nn.Module, ranges: Ranges) -> nn.Module:
    if isinstance(layer, ConvReLU):
        return _quantized_conv(layer, **_qparams(ranges, name))
    if isinstance(layer, nn.ReflectionPad2d):
        return ReflectPad()
    return layer                                       # pooling and upsampling run on uint8 as they are


def _qparams(ranges: Ranges, name: str) -> dict[str, Any]:
    if name not in ranges:
        raise KeyError(f"no int8 range for layer {name}")
    return {"scale": float(ranges[name]["scale"]), "zero_point": int(ranges[name]["zero_point"])}


class Int8Encoder(nn.Module):
    """Drop-in for `Encoder` (RGB in [0, 1] -> relu4_1 and shallower levels, fp32) running VGG-19 in int8."""

    def __init__(self, encoder: Encoder, ranges: Ranges, levels: tuple[str, ...] = (ENCODER_LAYER,)) -> None:
        super().__init__()
        self.preprocess = encoder.vgg.preprocess
        self.stage = Int8Stage(encoder_layers(encoder, levels), ranges["encoder.input"], ranges)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.layers(image, (ENCODER_LAYER,))[ENCODER_LAYER].dequantize()

    def layers(self, image: torch.Tensor, names: tuple[str, ...]) -> dict[str, torch.Tensor]:
        """The features at `names` (relu1_1 ... relu4_1) as int8 tensors: `network.mean_std`,
        `apply_affine` and `Int8Decoder.decode` take them as they are."""
        x, found = self.stage.quantize(self.preprocess(image.float())), {}
        for name, unit in zip(self.stage.names, self.stage.layers):
            x = unit(x)
            short = name.removeprefix("encoder.")
            if short in names:
                found[short] = x
                if len(found) == len(names):
                    break
        return found


class Int8Decoder(nn.Module):
    """Drop-in for `Decoder` (AdaIN features -> RGB, fp32): the first convolution in `head_dtype`
    (bf16 where the CPU has it), the rest in int8.

    Why not all int8: the AdaIN features have one uint8 range for 512 channels of very different
    spread, and the decoder is sensitive to its input; rounding them doubled int8's deviation from
    fp32 (4.8 instead of 2.2 levels mean on a 512-px picture) for a ~12 ms saving.

    A skip decoder's levels stay in int8 end to end (`decode`): each level's AdaIN map is folded
    into its 1x1 convolution's weights per call (a * x + b, then W: W·diag(a) and W·b + bias), so
    the int8 encoder's features feed an int8 convolution as they are, and its output is added to
    the upsampled int8 features by a quantized add. Nothing at full size is dequantized.

    A modulated decoder's hidden convolutions are quantized per call with the style's scale and
    shift folded into their weights (`Int8Stage.run`); their output ranges were calibrated with it.
    A coarse decoder's relu5_1 branch (1/16 size, ~5 % of the decoder's work) runs in
    `head_dtype` beside the first convolution, its AdaIN folded into its 3x3 convolution."""

    def __init__(self, decoder: Decoder, ranges: Ranges, head_dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.input_scale, self.levels = decoder.INPUT_SCALE, decoder.levels
        segments = decoder_segments(decoder)
        joins = [_skip_names(segment) for segment in segments[:-1]]
        head, first = _split_head(segments[0])              # pad0, conv0 | up1
        self.head_dtype = head_dtype
        self.head = copy.deepcopy(nn.Sequential(*head.values())).to(head_dtype)
        self.coarse = copy.deepcopy(decoder.coarse).to(head_dtype) if decoder.coarse is not None else None
        modulated = decoder.modulation is not None
        self.modulation = copy.deepcopy(decoder.modulation).float() if modulated else None
        first_range = _qparams(ranges, COARSE_SUM if self.coarse is not None else list(head)[-1])
        self.stages = nn.ModuleList([Int8Stage(first, first_range, ranges, modulated)] +
                                    [Int8Stage(segment, ranges[sum_name], ranges, modulated)
                                     for segment, (_, sum_name) in zip(segments[1:], joins)])
        self.skips = copy.deepcopy(decoder.skips).float()
        self.joins = [(_qparams(ranges, skip_name), _qparams(ranges, sum_name)) for skip_name, sum_name in joins]

    @property
    def dtype(self) -> torch.dtype:      # what the transfer network hands it
        return torch.float32

    def forward(self, features: list[torch.Tensor], affines: list[Affine], style: torch.Tensor | None = None
                ) -> torch.Tensor:
        return self.decode(features, affines, style=style)

    def decode(self, features: list[torch.Tensor], affines: list[Affine], fold: bool = True,
               style: torch.Tensor | None = None) -> torch.Tensor:
        """Raw features of each level (the skip levels int8, from `Int8Encoder.layers`), each
        level's AdaIN map and, for a modulated decoder, the style vector -> RGB (as
        `Decoder.decode`; the skip levels and the modulation are always folded here)."""
        if len(features) != len(self.levels) or not all(f.is_quantized for f in features[1:]):
            raise ValueError(f"this decoder reads {len(self.levels)} levels, the skip levels as int8 features")
        if self.modulation is None:
            return self._decode(features, affines, None)
        if style is None:
            raise ValueError("this decoder is modulated by the style: give it the style vector")
        return torch.cat([self._decode([f[i:i + 1] for f in features], [(a[i:i + 1], b[i:i + 1]) for a, b in affines],
                                       iter(self.modulation(style[i:i + 1])))      # (folded per image)
                          for i in range(features[0].shape[0])])

    def _decode(self, features: list[torch.Tensor], affines: list[Affine],
                modulations: Iterator[Affine] | None) -> torch.Tensor:
        x = (apply_affine(features[0], affines[0]) * self.input_scale).to(self.head_dtype).contiguous(memory_format=torch.channels_last)
        pad, conv = self.head
        x = conv(pad(x), next(modulations) if modulations is not None else None)
        if self.coarse is not None:                          # (its level is the last; AdaIN folded per image)
            x = x + torch.cat([coarse_output(self.coarse, features[-1][i:i + 1].dequantize(), x.shape[-2:],
                                                         (affines[-1][0][i:i + 1], affines[-1][1][i:i + 1]))
                               for i in range(x.shape[0])])
        x = self.stages[0].quantize(x)
        x = self.stages[0].run(x, modulations)
        for stage, skip_conv, level, affine, name, (skip_range, sum_range) in zip(
                self.stages[1:], self.skips, features[1:], affines[1:], self.levels[1:], self.joins):
            skip = _folded_skip(skip_conv, level, affine, SKIP_SCALES[name], skip_range)
            x = torch.ops.quantized.add(x, skip, sum_range["scale"], sum_range["zero_point"])
            x = stage.run(x, modulations)
        return x.dequantize()


def _folded_skip(conv: nn.Conv2d, level: torch.Tensor, affine: Affine, factor: float,
                 out_range: dict[str, Any]) -> torch.Tensor:
    """conv(factor * (a * level + b)) as one int8 1x1 convolution on the int8 `level`, per image."""
    a, b = affine
    outputs = []
    for index in range(level.shape[0]):
        folded, bias = fold_affine(conv, (a[index:index + 1], b[index:index + 1]), factor)
        packed = torch.ops.quantized.conv2d_prepack(_int8_weight(folded), bias, [1, 1], [0, 0], [1, 1], 1)
        outputs.append(torch.ops.quantized.conv2d(level[index:index + 1], packed, out_range["scale"],
                                                  out_range["zero_point"]))
    return outputs[0] if len(outputs) == 1 else torch.cat(outputs)


def int8_available() -> bool:
    """True where this torch has quantized CPU kernels for x86 or ARM."""
    engines = getattr(torch.backends.quantized, "supported_engines", [])
    return hasattr(torch, "quantize_per_tensor") and any(e in engines for e in ("x86", "onednn", "fbgemm", "qnnpack"))


__all__ = ["Int8Decoder", "Int8Encoder", "Ranges", "calibrate", "decoder_layers", "decoder_segments", "encoder_layers",
           "int8_available", "range_names"]
