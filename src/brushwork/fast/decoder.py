"""Fast mode's decoder: AdaIN'd VGG-19 features back to an image (resize-convolutions, reflection
padding), with optional skip levels, style modulation and a coarse level (`network.py`'s docstring
says what each adds)."""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from .adain import (CHANNELS, COARSE_LEVEL, ENCODER_LAYER, LEVEL_CHANNELS, SKIP_LEVELS, Affine, apply_affine, fold_affine,
                    vector_size)

SKIP_SCALES = {"relu3_1": 3e-2, "relu2_1": 3e-2, "relu1_1": 1e-1, COARSE_LEVEL: 8e-2}
#: Width of the style modulation's hidden layer, and the factor on its output (`StyleModulation`):
#: the zero-initialised last layer then learns ~10x faster under the decoder's Adam rate, as the skip
#: levels' SKIP_SCALES do (at 1x, 400 steps at 8e-5 moved the scales by ~1 %).
MODULATION_BOTTLENECK = 128
MODULATION_GAIN = 10.0
#: Soft bounds (b * tanh(x / b)) on the modulation's standardised input and on its scales' and
#: shifts' distance from identity: near-identity inside (the training paintings' vectors mostly
#: lie within 2 spreads of the centre), bounded outside, where the map was never trained.
MODULATION_INPUT_BOUND = 2.0
MODULATION_SCALE_BOUND = 1.0
MODULATION_SHIFT_BOUND = 2.0
#: Decoder widths, coarse to fine: relu4_1 (1/8 size) -> 3 upsamplings -> RGB. Narrower than the
#: AdaIN paper's mirror of VGG (256-128-64): 2.5x fewer operations, 2x fewer weights.
DECODER_WIDTHS = (256, 128, 64, 32)


class ConvLayer(nn.Sequential):
    """Reflection pad + 3x3 convolution (+ ReLU)."""

    def __init__(self, inputs: int, outputs: int, relu: bool = True) -> None:
        layers: list[nn.Module] = [nn.ReflectionPad2d(1), nn.Conv2d(inputs, outputs, 3)]
        if relu:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)

    @property
    def hidden(self) -> bool:
        """A hidden layer (with its ReLU; the last, RGB one has none): what the style may modulate."""
        return len(self) == 3


class Upsample(nn.Module):
    """Nearest-neighbour x2 (the "resize" of resize-convolution)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=2.0, mode="nearest")


def skip_output(conv: nn.Conv2d, level: torch.Tensor, name: str) -> torch.Tensor:
    """What a skip decoder adds after an upsampling: the level's (AdaIN'd) features, brought to
    about 10 by SKIP_SCALES, through its 1x1 convolution."""
    return conv(level * SKIP_SCALES[name])


def coarse_output(branch: nn.Sequential, level: torch.Tensor, size: tuple[int, int] | torch.Size,
                  affine: Affine | None = None) -> torch.Tensor:
    """What a coarse decoder adds after its first layer: relu5_1 (AdaIN'd; or raw, with its AdaIN
    map `affine` folded into the 3x3 convolution, for one image) through the `branch` (3x3 conv +
    ReLU, 1x1 conv), enlarged (nearest) to the first layer's `size`."""
    (pad, conv, relu), project = branch
    dtype = conv.weight.dtype
    if affine is None:
        x = conv(pad(level.to(dtype) * SKIP_SCALES[COARSE_LEVEL]))
    else:
        weight, bias = fold_affine(conv, affine, SKIP_SCALES[COARSE_LEVEL])
        x = F.conv2d(pad(level.to(dtype)), weight.to(dtype), bias.to(dtype))
    # x2 nearest (relu5_1's cell j covers relu4_1's 2j and 2j + 1), the last row and column repeated
    # for an odd size (max pooling dropped it) and cut to `size`: the same in every exporter (a
    # nearest resize to `size` put the cells elsewhere in LiteRT than in PyTorch, and Core ML's
    # converter takes a fixed padding, not one computed from the sizes)
    y = F.pad(F.interpolate(project(relu(x)), scale_factor=2.0, mode="nearest"), (0, 1, 0, 1), mode="replicate")
    return y[..., :size[-2], :size[-1]]


def decoder_shape(state: dict[str, torch.Tensor]) -> dict[str, object]:
    """`Decoder(**decoder_shape(state))` builds the decoder a state dict was saved from: its widths
    (the output channels of the convolutions before each upsampling and of the last hidden one),
    whether it has skip levels and a coarse level and whether the style modulates it."""
    widths = tuple(int(state[f"layers.{index}.1.weight"].shape[0]) for index in (0, 2, 5, 8))
    return {"widths": widths, "skips": any(key.startswith("skips.") for key in state),
            "modulated": any(key.startswith("modulation.") for key in state),
            "coarse": any(key.startswith("coarse.") for key in state)}


class StyleModulation(nn.Module):
    """Style vector (B, N) -> a per-channel scale and shift (B, C each) for every hidden convolution
    of the decoder, applied to its output before the ReLU.

    The idea of conditional instance normalisation (Dumoulin et al. 2017; Ghiasi et al. 2017, the
    model behind TFLite's arbitrary style transfer): the painting sets how each decoder channel is
    weighted, so the decoder's textures depend on the style, not only its input features. No
    normalisation here: the AdaIN'd input already carries the style's statistics, and a plain
    affine map folds into the convolution's weights for one image (`modulate_conv`).

    The vector's means and stds span 0 to ~10^3 and differ between paintings far less than they
    differ between channels, so it is read through log1p and standardised per entry by the
    training paintings' spread (`center`, `spread`: set once by `fit`, saved with the weights);
    without that, the first layer's outputs were nearly the same for every painting and the
    modulation learnt one global, style-blind offset. The last layer starts at zero: a modulated
    decoder starts as the decoder it was made from.

    Both ends are soft-bounded (`soft_bound`): learnt from a few dozen paintings, the map is only
    known near their vectors, and an 8,400-step GPU run extrapolated to scales of -0.8 to 4 for an
    unseen dark or two-colour picture, which came out neon green or blank white. Bounded, the
    same decoder paints those sanely and scores the same on the benchmark (2.64 against 2.63)."""

    def __init__(self, vector_size: int, channels: tuple[int, ...], bottleneck: int = MODULATION_BOTTLENECK) -> None:
        super().__init__()
        self.channels = channels
        self.squeeze = nn.Linear(vector_size, bottleneck)
        self.expand = nn.Linear(bottleneck, 2 * sum(channels))
        self.register_buffer("center", torch.zeros(vector_size))
        self.register_buffer("spread", torch.ones(vector_size))
        with torch.no_grad():
            self.expand.weight.zero_(), self.expand.bias.zero_()

    def fit(self, vectors: torch.Tensor, start: int = 0) -> None:
        """Standardise the input by these style vectors (B, N): the training paintings'. From `start`
        on only (a grafted level's new entries), where the earlier ones were fitted already."""
        logs = torch.log1p(F.relu(vectors.float()))[:, start:]
        self.center[start:] = logs.mean(dim=0)
        self.spread[start:] = logs.std(dim=0).clamp_min(1e-2) if len(logs) > 1 else 1.0

    def widen(self, state: dict[str, torch.Tensor], prefix: str = "modulation.") -> dict[str, torch.Tensor]:
        """A trained modulation's state (`prefix`ed keys of a decoder's state dict) for this module's
        longer style vector: the new entries' weights start at zero (they change nothing until
        trained), their center at 0 and spread at 1 (for `fit` with `start`)."""
        widened = dict(state)
        current = {"squeeze.weight": self.squeeze.weight, "center": self.center, "spread": self.spread}
        for name, fill in (("squeeze.weight", 0.0), ("center", 0.0), ("spread", 1.0)):
            old = state[prefix + name]
            grown = torch.full_like(current[name].detach(), fill)
            grown[..., :old.shape[-1]] = old
            widened[prefix + name] = grown
        return widened

    def forward(self, vector: torch.Tensor) -> list[Affine]:
        standard = soft_bound((torch.log1p(F.relu(vector.float())) - self.center) / self.spread,
                              MODULATION_INPUT_BOUND)
        hidden = F.relu(self.squeeze(standard.to(self.squeeze.weight.dtype)))
        parts = (MODULATION_GAIN * self.expand(hidden).float()).split([2 * width for width in self.channels], dim=1)
        return [(1 + soft_bound(scale, MODULATION_SCALE_BOUND), soft_bound(shift, MODULATION_SHIFT_BOUND))
                for scale, shift in (part.chunk(2, dim=1) for part in parts)]


def soft_bound(x: torch.Tensor, bound: float) -> torch.Tensor:
    """x squashed smoothly into (-bound, bound): about x where |x| << bound."""
    return bound * torch.tanh(x / bound)


def modulate_conv(weight: torch.Tensor, bias: torch.Tensor, modulation: Affine) -> tuple[torch.Tensor, torch.Tensor]:
    """Weight and bias of x -> s * conv(x) + t per output channel as one convolution (s, t: (1, C))."""
    scale, shift = (part[0] for part in modulation)
    return weight * scale[:, None, None, None], bias * scale + shift


class Decoder(nn.Module):
    """relu4_1-like features (B, 512, h, w) -> RGB (B, 3, 8h, 8w), roughly in [0, 1].

    With `skips`, also the relu3_1, relu2_1 and relu1_1-like features (2h, 4h and 8h high), each
    through a 1x1 conv added after the upsampling to its size. With `coarse`, also the relu5_1-like
    features (h/2 high), through a 3x3 and a 1x1 conv, enlarged and added after the first layer."""

    #: Caffe VGG-19's relu4_1 activations are in the hundreds to thousands (inputs are 0-255):
    #: scaling them to about 1 lets a default-initialised decoder start near the right range.
    INPUT_SCALE = 1e-3

    def __init__(self, widths: tuple[int, ...] = DECODER_WIDTHS, skips: bool = False, modulated: bool = False,
                 coarse: bool = False) -> None:
        super().__init__()
        a, b, c, d = widths
        self.layers = nn.Sequential(
            ConvLayer(CHANNELS, a), Upsample(),
            ConvLayer(a, b), ConvLayer(b, b), Upsample(),
            ConvLayer(b, c), ConvLayer(c, c), Upsample(),
            ConvLayer(c, d), ConvLayer(d, 3, relu=False),
        )
        self.skips = nn.ModuleList(nn.Conv2d(LEVEL_CHANNELS[name], width, 1)
                                   for name, width in zip(SKIP_LEVELS, (a, b, c)) if skips)
        self.coarse = nn.Sequential(ConvLayer(LEVEL_CHANNELS[COARSE_LEVEL], a), nn.Conv2d(a, a, 1)) if coarse else None
        with torch.no_grad():
            self.layers[-1][1].bias.fill_(0.5)  # start mid-grey rather than black
            for conv in [*self.skips, *([self.coarse[1]] if coarse else [])]:    # start as the plain decoder
                conv.weight.zero_(), conv.bias.zero_()
        self.modulation = StyleModulation(vector_size(self.levels), self.modulation_channels) if modulated else None

    @property
    def dtype(self) -> torch.dtype:
        return self.layers[0][1].weight.dtype

    @property
    def levels(self) -> tuple[str, ...]:
        """The encoder levels this decoder reads, in the style vector's order."""
        return (ENCODER_LAYER, *(SKIP_LEVELS if len(self.skips) else ()),
                *((COARSE_LEVEL,) if self.coarse is not None else ()))

    def modulations(self, vector: torch.Tensor | None) -> list[Affine | None]:
        """Each hidden convolution's (scale, shift) for the style `vector`; all None when unmodulated."""
        if self.modulation is None:
            return [None] * len(self.modulation_channels)
        if vector is None:
            raise ValueError("this decoder is modulated by the style: give it the style vector")
        return self.modulation(vector)

    @property
    def modulation_channels(self) -> tuple[int, ...]:
        """Output channels of each hidden convolution (those the style may modulate)."""
        return tuple(layer[1].out_channels for layer in self.layers if isinstance(layer, ConvLayer) and layer.hidden)

    def forward(self, features: torch.Tensor, skips: list[torch.Tensor] | tuple[torch.Tensor, ...] = (),
                style: torch.Tensor | None = None, coarse: torch.Tensor | None = None) -> torch.Tensor:
        """`features` (relu4_1) and, for a skip decoder, the relu3_1, relu2_1, relu1_1 ones; `style`:
        the style vector (B, N), for a modulated decoder; `coarse`: relu5_1, for a coarse decoder
        (all AdaIN'd)."""
        if len(skips) != len(self.skips):
            raise ValueError(f"this decoder reads {len(self.skips)} skip levels, got {len(skips)}")
        if (coarse is None) != (self.coarse is None):
            raise ValueError(f"this decoder {'reads' if self.coarse is not None else 'has no'} coarse level {COARSE_LEVEL}")
        first, *rest = self.modulations(style)
        x = _conv_layer(self.layers[0], features * self.INPUT_SCALE, first)
        if coarse is not None:
            x = x + coarse_output(self.coarse, coarse, x.shape[-2:])
        added = (skip_output(conv, level, name) for conv, level, name in zip(self.skips, skips, SKIP_LEVELS))
        return self._upper(x, added, iter(rest))

    def read(self, levels: list[torch.Tensor] | tuple[torch.Tensor, ...], style: torch.Tensor | None = None
             ) -> torch.Tensor:
        """`forward` on the AdaIN'd features of every level in `levels`' order."""
        deep, *rest = levels
        coarse = rest.pop() if self.coarse is not None else None
        return self(deep, rest, style, coarse)

    def decode(self, features: list[torch.Tensor], affines: list[Affine], fold: bool = False,
               style: torch.Tensor | None = None) -> torch.Tensor:
        """Raw features of each level (`levels`' order), each level's AdaIN map (and the style
        vector, for a modulated decoder) -> RGB.

        With `fold` (one image), each level's AdaIN goes into the weights of the convolution that
        reads it, as the int8 decoder does: no AdaIN'd fp32 copy of a map is written (relu1_1 of a
        512-px photo is 76 MB of it); so does the style's modulation. Not for exports, whose
        converters want constant weights."""
        if fold and features[0].shape[0] == 1:
            return self._decode_folded(features, affines, style)
        return self.read([apply_affine(f, affine).to(self.dtype) for f, affine in zip(features, affines)], style)

    def _decode_folded(self, features: list[torch.Tensor], affines: list[Affine],
                       style: torch.Tensor | None) -> torch.Tensor:
        def read(conv: nn.Conv2d, x: torch.Tensor, affine: Affine, factor: float,
                 modulation: Affine | None = None) -> torch.Tensor:
            weight, bias = fold_affine(conv, affine, factor)
            if modulation is not None:
                weight, bias = modulate_conv(weight, bias, modulation)
            return F.conv2d(x.to(self.dtype), weight.to(self.dtype), bias.to(self.dtype))

        (deep, *skips), (deep_affine, *skip_affines) = features, affines
        first_modulation, *rest = self.modulations(style)
        pad, conv, relu = self.layers[0]
        first = relu(read(conv, pad(deep.to(self.dtype)), deep_affine, self.INPUT_SCALE, first_modulation))
        if self.coarse is not None:
            first = first + coarse_output(self.coarse, skips.pop(), first.shape[-2:], skip_affines.pop())
        added = (read(conv, level, affine, SKIP_SCALES[name])
                 for conv, level, affine, name in zip(self.skips, skips, skip_affines, SKIP_LEVELS))
        return self._upper(first, added, iter(rest), fold=True)

    def _upper(self, x: torch.Tensor, added: Iterator[torch.Tensor], modulations: Iterator[Affine | None],
               fold: bool = False) -> torch.Tensor:
        """The layers after the first convolution; after each upsampling the next skip's output is
        added (`added` is lazy, so only one skip map exists at a time); each hidden convolution
        takes the next modulation (folded into its weights with `fold`)."""
        for layer in self.layers[1:]:
            if isinstance(layer, Upsample):
                x = layer(x)
                if len(self.skips):
                    x = x + next(added)
            else:
                x = _conv_layer(layer, x, next(modulations) if layer.hidden else None, fold)
        return x


def _conv_layer(layer: ConvLayer, x: torch.Tensor, modulation: Affine | None, fold: bool = False) -> torch.Tensor:
    """One ConvLayer, its output scaled and shifted per channel by `modulation` before the ReLU
    (folded into the weights for one image with `fold`)."""
    if modulation is None:
        return layer(x)
    pad, conv, relu = layer
    if fold:
        weight, bias = modulate_conv(conv.weight.float(), conv.bias.float(), modulation)
        return relu(F.conv2d(pad(x), weight.to(x.dtype), bias.to(x.dtype)))
    scale, shift = modulation
    y = conv(pad(x))
    return relu(y * scale[..., None, None].to(y.dtype) + shift[..., None, None].to(y.dtype))


__all__ = ["DECODER_WIDTHS", "SKIP_SCALES", "ConvLayer", "Decoder", "StyleModulation", "Upsample", "coarse_output",
           "decoder_shape", "modulate_conv", "skip_output", "soft_bound"]
