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

network.py: the encoder and the two networks (and how a photo is framed for them); the AdaIN
arithmetic is in `adain.py`, the decoder in `decoder.py`. Their names are importable from here too.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..features import VGG19Features, deepest_layer
from ..weights import VGGWeights
from .adain import (CHANNELS, COARSE_LEVEL, ENCODER_LAYER, EPS, LEVEL_CHANNELS, LOSS_LAYERS, SKIP_LEVELS, Affine, adain,
                    adain_affine, adain_levels, apply_affine, fold_affine, mean_std, split_vector, stats_vector,
                    style_vector, vector_size)
from .decoder import (DECODER_WIDTHS, SKIP_SCALES, ConvLayer, Decoder, StyleModulation, Upsample, coarse_output,
                      decoder_shape, modulate_conv, skip_output, soft_bound)

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



#: The networks and framing defined here, and (for every caller that imported them from here) the
#: AdaIN and decoder names.
__all__ = ["CHANNELS", "COARSE_LEVEL", "DECODER_WIDTHS", "EDGE_MARGIN", "ENCODER_LAYER", "EPS", "LEVEL_CHANNELS",
           "LOSS_LAYERS", "SKIP_LEVELS", "SKIP_SCALES", "Affine", "ConvLayer", "Decoder", "Encoder", "StyleModulation",
           "StyleNetwork", "TransferNetwork", "Upsample", "adain", "adain_affine", "adain_levels", "add_margin",
           "apply_affine", "coarse_output", "decoder_shape", "fold_affine", "frame", "mean_std", "modulate_conv",
           "pad_to_multiple", "skip_output", "soft_bound", "split_vector", "stats_vector", "style_vector",
           "vector_size"]
