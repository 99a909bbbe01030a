"""The training objectives of the fast model's decoder.

Loss (Huang & Belongie 2017): with t = AdaIN(enc(content), style vector) and g = dec(t),
  content = ||enc(g) - t||^2                         at relu4_1
  style   = sum_l ||mean_l(g) - mean_l(s)||^2 + ||std_l(g) - std_l(s)||^2   over relu1_1..relu4_1
Departure: our encoder is the original Caffe VGG-19 (inputs 0-255), whose layers differ in scale
by orders of magnitude, where AdaIN used a "normalised" VGG. Each layer's terms are therefore
divided by that layer's mean squared activation on the style images, measured once at the start.
Optional (`gram_weight`): Gatys' Gram-matrix style loss over relu1_1..relu5_1, each layer's error
relative to the painting's Gram norm (as Ghiasi et al. 2017, the model behind TFLite's arbitrary
style transfer, trained); it teaches the decoder the channel correlations that mean/std ignore.

Objective "gatys" (`objective`): the optimizer's own losses instead, i.e. what `brushwork score`
measures: content = relative squared error of relu4_2 against the *photo's* (not the AdaIN
target's), style = the relative Gram loss (weight `gram_weight`), both from an average-pooling
VGG-19 (the optimizer's), with no mean/std term. The AdaIN style vectors still come from the
max-pooling encoder that fast mode runs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ...features import VGG19Features
from ...losses import gram_matrix, relative_squared_error
from ..network import LOSS_LAYERS, Decoder, Encoder, adain_levels, mean_std, style_vector
from .config import GATYS_CONTENT_LAYER, GRAM_LAYERS, TrainConfig, autocast, channels_last, loss_layers
from .data import TrainingData


def gram_loss(found: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]) -> torch.Tensor:
    """Mean over layers and batch of ||G(out) - G(style)||^2 / ||G(style)||^2 (scale-free per layer).

    The optimizer's `relative_squared_error`, taken per image (each crop relative to its own
    painting's Gram norm) rather than over the whole batch."""
    per_image = torch.vmap(relative_squared_error)
    return torch.stack([per_image(gram_matrix(found[name]), target).mean() for name, target in targets.items()]).mean()


def loss_terms(encoder: Encoder, decoder: Decoder, content: torch.Tensor, vectors: torch.Tensor,
               targets: dict[str, dict[str, torch.Tensor]], layer_scale: dict[str, float],
               config: TrainConfig, device: torch.device, dtype: torch.dtype,
               loss_network: VGG19Features | None = None) -> dict[str, torch.Tensor]:
    """Content, style (and identity) loss of one batch (content (B, 3, S, S), vectors (B, N));
    `loss_network` (average pooling, to relu5_1) is the optimizer's VGG, for objective "gatys"."""
    batch, levels = content.shape[0], decoder.levels
    with autocast(device, dtype):
        with torch.no_grad():
            features = encoder.layers(content, levels)
            adapted = adain_levels(features, vectors, levels)             # relu4_1: (B, 512, S/8, S/8) fp32
            if config.identity_weight:                                    # + the content's own features
                adapted = [torch.cat([t, features[name].float()]) for t, name in zip(adapted, levels)]
                vectors = torch.cat([vectors, style_vector(features, levels)])
            if loss_network is not None:
                photo = loss_network(content, (GATYS_CONTENT_LAYER,))[GATYS_CONTENT_LAYER].float()
        decoded = decoder.read([channels_last(t) for t in adapted], vectors)
        output = channels_last(decoded[:batch].float())
        if loss_network is None:
            found = encoder.layers(output, loss_layers(config))
        else:
            found = loss_network(output, (*GRAM_LAYERS, GATYS_CONTENT_LAYER))
    terms = (_adain_terms(found, adapted[0][:batch], targets, layer_scale, config) if loss_network is None
             else _gatys_terms(found, photo, config))
    total = terms["total"]
    if config.gram_weight:
        terms["gram"] = gram_loss(found, targets["gram"])
        total = total + config.gram_weight * terms["gram"]
        terms["total"] = total
    if config.identity_weight:
        # Departure: an identity term (decoding the content's own features must give the photo back,
        # as in SANet's identity loss), in pixels so it needs no pass back through the encoder. It
        # teaches the decoder to invert VGG far sooner than the perceptual losses alone, which
        # matters on a CPU budget, and keeps strength 0 close to the photo.
        identity = F.mse_loss(decoded[batch:].float(), content)
        terms["identity"] = identity
        terms["total"] = total + config.identity_weight * identity
    return terms


def _adain_terms(found: dict[str, torch.Tensor], target: torch.Tensor, targets: dict[str, dict[str, torch.Tensor]],
                 layer_scale: dict[str, float], config: TrainConfig) -> dict[str, torch.Tensor]:
    """AdaIN's losses: relu4_1 against the AdaIN target, mean/std over LOSS_LAYERS (max-pooling encoder)."""
    content_loss = F.mse_loss(found["relu4_1"].float(), target) / layer_scale["relu4_1"]
    style_loss = content_loss.new_zeros(())
    for name in LOSS_LAYERS:
        mean, std = mean_std(found[name])
        style_loss = style_loss + (F.mse_loss(mean, targets["mean"][name]) + F.mse_loss(std, targets["std"][name])) \
            / layer_scale[name]
    total = config.content_weight * content_loss + config.style_weight * style_loss
    return {"total": total, "content": content_loss, "style": style_loss}


def _gatys_terms(found: dict[str, torch.Tensor], photo: torch.Tensor, config: TrainConfig) -> dict[str, torch.Tensor]:
    """The optimizer's content loss, per image: relu4_2 against the photo's (the Gram term is added by the caller)."""
    content_loss = torch.vmap(relative_squared_error)(found[GATYS_CONTENT_LAYER].float(), photo).mean()
    return {"total": config.content_weight * content_loss, "content": content_loss}


def identity_loss(encoder: Encoder, decoder: Decoder, content: torch.Tensor, device: torch.device,
                  dtype: torch.dtype) -> torch.Tensor:
    """Pixel MSE of decoding the photo's own features: no pass back through the encoder, so ~4x cheaper."""
    with autocast(device, dtype):
        with torch.no_grad():
            features = encoder.layers(channels_last(content), decoder.levels)
            own = style_vector(features, decoder.levels)
        decoded = decoder.read([channels_last(features[name].float()) for name in decoder.levels], own)
    return F.mse_loss(decoded.float(), content)


def validation_loss(encoder: Encoder, decoder: Decoder, data: TrainingData, config: TrainConfig,
                    device: torch.device, dtype: torch.dtype, loss_network: VGG19Features | None = None) -> float:
    """Loss on fixed content crops and styles: comparable across checkpoints (unlike batch losses)."""
    decoder.eval()
    picks = data.validation_styles
    with torch.no_grad():
        terms = loss_terms(encoder, decoder, channels_last(data.validation), data.style_vectors[picks],
                           data.targets(picks), data.layer_scale, config, device, dtype, loss_network)
    decoder.train()
    return float(terms["total"])
