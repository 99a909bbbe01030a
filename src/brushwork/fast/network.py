"""The fast (feed-forward) model, AdaIN family (Huang & Belongie 2017), split like TFLite's models.

* `StyleNetwork`:    style image (1, 3, H, W) in [0, 1] -> style vector (1, 1024):
                     per-channel mean and std of VGG-19 relu4_1, computed once per style.
* `TransferNetwork`: content image (B, 3, H, W) + style vector (B, 1024) -> image (B, 3, H, W):
                     encode to relu4_1, give the features the style's statistics (AdaIN), decode.

The encoder is our frozen VGG-19 (same bundled weights as the optimizer). Only the decoder is
trained. It upsamples with nearest-neighbour resize + convolution instead of transposed
convolutions (no checkerboard artifacts; Odena et al. 2016) and pads by reflection (no dark
borders). AdaIN is linear in the style vector, so blending styles and style strength are both
just weighted sums of vectors (strength blends with the content's own vector).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..features import VGG19Features
from ..weights import VGGWeights

ENCODER_LAYER = "relu4_1"
CHANNELS = 512
VECTOR_SIZE = 2 * CHANNELS            # mean and std of relu4_1
LOSS_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
EPS = 1e-5
#: Decoder widths, coarse to fine: relu4_1 (1/8 size) -> 3 upsamplings -> RGB. Narrower than the
#: AdaIN paper's mirror of VGG (256-128-64): 2.5x fewer operations, 2x fewer weights.
DECODER_WIDTHS = (256, 128, 64, 32)


def mean_std(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, C, H, W) -> per-channel mean and std, each (B, C), computed in fp32."""
    flat = features.float().flatten(2)                       # (B, C, HW)
    mean = flat.mean(dim=2)
    std = (flat.var(dim=2, unbiased=False) + EPS).sqrt()
    return mean, std


def style_vector(features: torch.Tensor) -> torch.Tensor:
    """relu4_1 features (B, 512, H, W) -> style vector (B, 1024) = [mean, std]."""
    return torch.cat(mean_std(features), dim=1)


def adain(content: torch.Tensor, vector: torch.Tensor) -> torch.Tensor:
    """Content features (B, C, H, W) re-normalised to the statistics in `vector` (B, 2C)."""
    mean_c, std_c = mean_std(content)
    channels = content.shape[1]
    mean_s, std_s = vector[:, :channels], vector[:, channels:]
    normalised = (content.float() - mean_c[..., None, None]) / std_c[..., None, None]
    return normalised * std_s[..., None, None] + mean_s[..., None, None]


class ConvLayer(nn.Sequential):
    """Reflection pad + 3x3 convolution (+ ReLU)."""

    def __init__(self, inputs: int, outputs: int, relu: bool = True) -> None:
        layers: list[nn.Module] = [nn.ReflectionPad2d(1), nn.Conv2d(inputs, outputs, 3)]
        if relu:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class Upsample(nn.Module):
    """Nearest-neighbour x2 (the "resize" of resize-convolution)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=2.0, mode="nearest")


class Decoder(nn.Module):
    """relu4_1-like features (B, 512, h, w) -> RGB (B, 3, 8h, 8w), roughly in [0, 1]."""

    #: Caffe VGG-19's relu4_1 activations are in the hundreds to thousands (inputs are 0-255):
    #: scaling them to about 1 lets a default-initialised decoder start near the right range.
    INPUT_SCALE = 1e-3

    def __init__(self, widths: tuple[int, ...] = DECODER_WIDTHS) -> None:
        super().__init__()
        a, b, c, d = widths
        self.layers = nn.Sequential(
            ConvLayer(CHANNELS, a), Upsample(),
            ConvLayer(a, b), ConvLayer(b, b), Upsample(),
            ConvLayer(b, c), ConvLayer(c, c), Upsample(),
            ConvLayer(c, d), ConvLayer(d, 3, relu=False),
        )
        with torch.no_grad():
            self.layers[-1][1].bias.fill_(0.5)  # start mid-grey rather than black

    @property
    def dtype(self) -> torch.dtype:
        return self.layers[0][1].weight.dtype

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.layers(features * self.INPUT_SCALE)


class Encoder(nn.Module):
    """Frozen VGG-19 up to relu4_1 with our bundled weights; RGB in [0, 1] (preprocessing inside).

    `deepest` lets training's loss network reach further (relu5_1 for the Gram loss); the forward
    pass still stops at relu4_1.
    """

    def __init__(self, weights: VGGWeights, deepest: str = ENCODER_LAYER) -> None:
        super().__init__()
        self.vgg = VGG19Features(weights, deepest, pooling="max")

    def forward(self, image: torch.Tensor) -> torch.Tensor:  # (B, 3, H, W) -> (B, 512, H/8, W/8)
        return self.vgg(image, (ENCODER_LAYER,))[ENCODER_LAYER]

    def layers(self, image: torch.Tensor, names: tuple[str, ...] = LOSS_LAYERS) -> dict[str, torch.Tensor]:
        return self.vgg(image, names)


class StyleNetwork(nn.Module):
    """Style image -> style vector; run once per style, the vector is all a phone needs to keep."""

    def __init__(self, encoder: Encoder) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, style: torch.Tensor) -> torch.Tensor:  # (B, 3, H, W) -> (B, 1024)
        return style_vector(self.encoder(style))


class TransferNetwork(nn.Module):
    """Content image + style vector (+ strength) -> stylized image, clamped to [0, 1].

    `strength` (B,) or (1,) in [0, 1] blends the style vector with the content's own vector;
    as AdaIN is linear in the vector this equals blending the features (AdaIN's alpha).
    """

    def __init__(self, encoder: Encoder, decoder: Decoder) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder

    def forward(self, content: torch.Tensor, vector: torch.Tensor,
                strength: torch.Tensor | None = None) -> torch.Tensor:
        features = self.encoder(content)                           # (B, 512, H/8, W/8)
        if strength is not None:
            own = style_vector(features)
            amount = strength.float().reshape(-1, 1)
            vector = amount * vector.float() + (1 - amount) * own
        out = self.decoder(adain(features, vector).to(self.decoder.dtype))
        return out.float().clamp(0, 1)                             # (B, 3, H, W)


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


__all__ = ["EDGE_MARGIN", "VECTOR_SIZE", "Decoder", "Encoder", "StyleNetwork", "TransferNetwork", "adain",
           "add_margin", "mean_std", "pad_to_multiple", "style_vector"]
