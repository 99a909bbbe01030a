"""The fast (feed-forward) model, AdaIN family (Huang & Belongie 2017), split like TFLite's models.

* `StyleNetwork`:    style image (1, 3, H, W) in [0, 1] -> style vector (1, N):
                     per-channel mean and std of VGG-19 relu4_1 (N = 1024), and with a skip
                     decoder also of relu3_1, relu2_1 and relu1_1 (N = 1920); once per style.
* `TransferNetwork`: content image (B, 3, H, W) + style vector (B, N) -> image (B, 3, H, W):
                     encode, give the features the style's statistics (AdaIN) at every level the
                     decoder reads, decode.

The encoder is our frozen VGG-19 (same bundled weights as the optimizer). Only the decoder is
trained. It upsamples with nearest-neighbour resize + convolution instead of transposed
convolutions (no checkerboard artifacts; Odena et al. 2016) and pads by reflection (no dark
borders). AdaIN is linear in the style vector, so blending styles and style strength are both
just weighted sums of vectors (strength blends with the content's own vector).

Skip decoder (`Decoder(skips=True)`): besides relu4_1 it reads the AdaIN'd relu3_1, relu2_1 and
relu1_1 features, each through a 1x1 convolution added after the upsampling to that level's size
(zero-initialised, so it starts as the plain decoder it was made from). The fine levels carry the
photo's edges (straight lines stay straight) and the painting's finer statistics.

Modulated decoder (`Decoder(modulated=True)`): the style vector also scales and shifts every hidden
convolution's output channels (`StyleModulation`, zero-initialised too), so the decoder itself
depends on the painting, not only its input.

Coarse level (`Decoder(coarse=True)`): the decoder also reads the AdaIN'd relu5_1 features (1/16
size) through a 3x3 and a zero-initialised 1x1 convolution, enlarged and added to the first
layer's output. relu5_1 holds 35-63 % of the gap between fast mode's Gram distances and the
optimizer's (research/fast-mode-runs.md), and a decoder reading only relu4_1 and shallower
never sees it. Its statistics go at the end of the style vector (N = 2944 with skips), so a
trained decoder grafts onto a coarse one unchanged (`train-fast --coarse --init ...`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from ..features import VGG19Features, deepest_layer
from ..weights import VGGWeights

ENCODER_LAYER = "relu4_1"
CHANNELS = 512
#: Levels a skip decoder also reads, coarse to fine, with their channels and input factors. The
#: factors bring the activations (Caffe VGG: RMS ~80-350 for 0-255 inputs) to about 10, so that
#: the zero-initialised 1x1 convs learn ~10x faster than the rest of a decoder under one Adam rate.
SKIP_LEVELS = ("relu3_1", "relu2_1", "relu1_1")
#: The level a coarse decoder also reads, below relu4_1 (`Decoder(coarse=True)`).
COARSE_LEVEL = "relu5_1"
LEVEL_CHANNELS = {"relu1_1": 64, "relu2_1": 128, "relu3_1": 256, ENCODER_LAYER: CHANNELS, COARSE_LEVEL: CHANNELS}
SKIP_SCALES = {"relu3_1": 3e-2, "relu2_1": 3e-2, "relu1_1": 1e-1, COARSE_LEVEL: 8e-2}
LOSS_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
EPS = 1e-5
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


class Encoder(nn.Module):
    """Frozen VGG-19 up to relu4_1 with our bundled weights; RGB in [0, 1] (preprocessing inside).

    `deepest` lets it reach further: relu5_1 for a coarse decoder's level (`for_levels`) and for
    training's Gram loss; the forward pass still stops at relu4_1.
    """

    def __init__(self, weights: VGGWeights, deepest: str = ENCODER_LAYER) -> None:
        super().__init__()
        self.vgg = VGG19Features(weights, deepest, pooling="max")

    @classmethod
    def for_levels(cls, weights: VGGWeights, levels: tuple[str, ...]) -> Encoder:
        """The encoder a decoder reading `levels` needs (no deeper: every extra layer costs time)."""
        return cls(weights, deepest_layer((ENCODER_LAYER,), levels))

    def forward(self, image: torch.Tensor) -> torch.Tensor:  # (B, 3, H, W) -> (B, 512, H/8, W/8)
        return self.vgg(image, (ENCODER_LAYER,))[ENCODER_LAYER]

    def layers(self, image: torch.Tensor, names: tuple[str, ...] = LOSS_LAYERS) -> dict[str, torch.Tensor]:
        return self.vgg(image, names)


class StyleNetwork(nn.Module):
    """Style image -> style vector; run once per style, the vector is all a phone needs to keep."""

    def __init__(self, encoder: Encoder, levels: tuple[str, ...] = (ENCODER_LAYER,)) -> None:
        super().__init__()
        self.encoder, self.levels = encoder, levels

    def forward(self, style: torch.Tensor) -> torch.Tensor:  # (B, 3, H, W) -> (B, vector size)
        return style_vector(self.encoder.layers(style, self.levels), self.levels)


class TransferNetwork(nn.Module):
    """Content image + style vector (+ strength) -> stylized image, clamped to [0, 1].

    `strength` (B,) or (1,) in [0, 1] blends the style vector with the content's own vector;
    as AdaIN is linear in the vector this equals blending the features (AdaIN's alpha).
    """

    def __init__(self, encoder: Encoder, decoder: Decoder, fold_adain: bool = False) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.fold_adain = fold_adain           # (see Decoder.decode; off for exports)

    def forward(self, content: torch.Tensor, vector: torch.Tensor,
                strength: torch.Tensor | None = None) -> torch.Tensor:
        levels = self.decoder.levels
        found = self.encoder.layers(content, levels)               # relu4_1: (B, 512, H/8, W/8), ...
        features = [found[name] for name in levels]
        stats = [mean_std(f) for f in features]
        if strength is not None:
            own = stats_vector(stats)
            amount = strength.float().reshape(-1, 1)
            vector = amount * vector.float() + (1 - amount) * own
        affines = [adain_affine(pair, part) for pair, part in zip(stats, split_vector(vector, levels))]
        decoded = self.decoder.decode(features, affines, fold=self.fold_adain, style=vector)
        return decoded.float().clamp(0, 1)                                                     # (B, 3, H, W)


def pad_to_multiple(image: torch.Tensor, multiple: int = 8, minimum: int = 16) -> tuple[torch.Tensor, tuple[int, int]]:
    """Reflection-pad (B, 3, H, W) so H and W divide by `multiple` (three poolings) and are at least
    `minimum` (the decoder's reflection padding needs 2x2 features); returns the original (H, W)."""
    height, width = image.shape[-2:]
    pad_h = max(minimum, height + (-height) % multiple) - height
    pad_w = max(minimum, width + (-width) % multiple) - width
    if pad_h or pad_w:
        image = F.pad(image, (0, pad_w, 0, pad_h), mode="reflect" if min(height, width) > 8 else "replicate")
    return image, (height, width)


#: Mirrored border added around the photo and cut off again. VGG's zero padding makes the features
#: at the image's edges unlike any the decoder saw inside its training crops, and it drew streaks
#: there (flat skies showed a band of horizontal lines along the top); with the border those
#: edge effects fall outside the picture. Costs ~15 % more work at 512x384.
EDGE_MARGIN = 16


def add_margin(image: torch.Tensor, margin: int = EDGE_MARGIN) -> tuple[torch.Tensor, int]:
    """(B, 3, H, W) -> the image inside a mirrored border (as wide as the image allows), and its width."""
    margin = min(margin, image.shape[-2] - 1, image.shape[-1] - 1)
    if margin <= 0:
        return image, 0
    return F.pad(image, (margin, margin, margin, margin), mode="reflect"), margin


def frame(image: torch.Tensor) -> tuple[torch.Tensor, Callable[[torch.Tensor], torch.Tensor]]:
    """The photo as the transfer network takes it (mirrored border, padded to a multiple of 8), and
    the function that cuts the network's output back to the photo."""
    framed, margin = add_margin(image)
    padded, (height, width) = pad_to_multiple(framed)
    return padded, lambda out: out[..., margin:height - margin, margin:width - margin]


__all__ = ["COARSE_LEVEL", "EDGE_MARGIN", "SKIP_LEVELS", "Affine", "Decoder", "Encoder", "StyleModulation", "StyleNetwork", "TransferNetwork", "adain",
           "adain_affine", "adain_levels", "add_margin", "apply_affine", "coarse_output", "decoder_shape", "fold_affine", "frame",
           "mean_std", "modulate_conv", "pad_to_multiple", "skip_output", "split_vector", "stats_vector", "style_vector",
           "vector_size"]
