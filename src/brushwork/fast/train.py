"""Training the fast model's decoder (AdaIN recipe, adapted to a CPU budget).

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

Weight averaging (`ema`): the decoder files a run writes (best, kept checkpoints, export) hold an
exponential moving average of the weights, not the last step's: the style scores of consecutive
checkpoints of one run moved by +-6 %, as much as most differences between runs.

Cheapness on a CPU: the encoder runs under no_grad for the targets, bf16 autocast + channels-last,
and the style statistics of a few random crops per style image are computed once and reused.
"""

from __future__ import annotations

import csv
import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from .. import imaging
from ..device import resolve
from ..errors import InvalidInputError
from ..features import VGG19Features, deepest_layer
from ..formats import IMAGE_SUFFIXES
from ..options import make_options
from ..losses import gram_matrix, relative_squared_error
from ..weights import VGGWeights, load_vgg19_weights
from .network import (DECODER_WIDTHS, LOSS_LAYERS, Decoder, Encoder, adain_levels, decoder_shape, mean_std,
                      stats_vector, style_vector)
from .plot import plot_curves

LAST = "checkpoint-last.pt"
BEST = "checkpoint-best.pt"


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on; stored in every checkpoint so a resume is exact."""

    content_dir: str
    style_dir: str
    output_dir: str
    steps: int = 20000
    batch_size: int = 6
    crop: int = 256
    learning_rate: float = 5e-4
    lr_decay: float = 1e-4            # lr / (1 + decay * step), as in AdaIN
    content_weight: float = 1.0
    style_weight: float = 10.0
    identity_weight: float = 50.0     # pixel MSE of decoding the content's own features (0: off)
    gram_weight: float = 0.0          # relative Gram-matrix style loss over relu1_1..relu5_1 (0: off)
    objective: str = "adain"          # "adain" (AdaIN's losses) or "gatys" (the optimizer's; see above)
    skips: bool = False               # decoder with skip levels relu3_1..relu1_1 (network.Decoder)
    widths: tuple[int, ...] = DECODER_WIDTHS  # decoder widths, coarse to fine (network.Decoder)
    modulated: bool = False           # the style vector scales and shifts the decoder's channels (network.Decoder)
    coarse: bool = False              # the decoder also reads relu5_1 (network.Decoder; --init may lack it)
    perceptual_every: int = 1         # with identity on: steps between 2 are identity-only (cheap)
    clip_grad_norm: float | None = None  # clip the gradient's global norm to this before each step (None: off)
    init: str | None = None           # start from these decoder weights (a checkpoint or shipped file)
    style_crops: int = 8              # cached random crops per style image
    style_augment: bool = False       # recolour those crops (see augment_painting)
    style_whole: int | None = None    # targets from each whole painting at this long side instead of crops
    whole_share: float = 1.0          # with style_whole: the share of picks from it (below 1: crops for the rest)
    checkpoint_every: int = 100
    keep_checkpoints: bool = False    # also keep each checkpoint's decoder (checkpoint-STEP.pt) to score them
    ema: float = 0.0                  # decay of the weight average the written decoders hold (0: last weights)
    log_every: int = 10
    max_minutes: float | None = None
    device: str = "auto"
    precision: str = "auto"
    seed: int = 0


GRAM_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")   # the optimizer's style layers
#: A coarse decoder's relu5_1 branch learns at this multiple of the learning rate: grafted onto a
#: trained decoder it starts at zero, and at 1x it still added nothing after 2,400 CPU steps.
COARSE_LR_FACTOR = 10.0
OBJECTIVES = ("adain", "gatys")
GATYS_CONTENT_LAYER = "relu4_2"                                          # the optimizer's content layer


@dataclass
class _Data:
    """Training images and the targets of every cached style crop, all on the training device."""

    contents: list[torch.Tensor]      # (3, H, W) uint8, one per photo
    style_means: dict[str, torch.Tensor]   # layer -> (N, C) per cached style crop
    style_stds: dict[str, torch.Tensor]    # layer -> (N, C)
    style_grams: dict[str, torch.Tensor]   # layer -> (N, C, C); empty unless gram_weight
    style_vectors: torch.Tensor       # (N, vector size) the style vector of each cached crop
    layer_scale: dict[str, float]     # mean squared activation per loss layer
    validation: torch.Tensor          # (B, 3, crop, crop) fixed content crops
    validation_styles: torch.Tensor   # (B,) fixed indices of cached style targets
    whole_from: int = 0               # the crop targets' count: whole paintings' targets follow them

    def targets(self, picks: torch.Tensor) -> dict[str, dict[str, torch.Tensor]]:
        """The style targets of the cached crops `picks` (B,): {"mean"|"std"|"gram": {layer: ...}}."""
        return {"mean": {n: t[picks] for n, t in self.style_means.items()},
                "std": {n: t[picks] for n, t in self.style_stds.items()},
                "gram": {n: t[picks] for n, t in self.style_grams.items()}}


@dataclass
class TrainState:
    step: int = 0
    best: float = math.inf
    seconds: float = 0.0
    history: list[dict[str, float]] = field(default_factory=list)


def list_images(folder: str | Path) -> list[Path]:
    """The images in a folder (recursively), or the one image a file path names (tuning for one painting)."""
    path = Path(folder)
    if path.is_file():
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            raise InvalidInputError(f"'{path}' is not an image file ({', '.join(sorted(IMAGE_SUFFIXES))})")
        return [path]
    if not path.is_dir():
        kind = "image file" if path.suffix.lower() in IMAGE_SUFFIXES else "image folder"
        raise InvalidInputError(f"{kind} '{path}' does not exist")
    found = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not found:
        raise InvalidInputError(f"image folder '{path}' holds no images")
    return found


def load_uint8(path: Path, max_side: int) -> torch.Tensor:
    """An image as (3, H, W) uint8, long side at most `max_side` (keeps memory small); `random_crop`'s input."""
    rgb = imaging.load_image(path).rgb
    if max(rgb.size) > max_side:
        rgb = imaging.resize(rgb, imaging.output_size(*rgb.size, max_side))
    return torch.from_numpy(__import__("numpy").asarray(rgb).copy()).permute(2, 0, 1)


def random_crop(image: torch.Tensor, crop: int, rng: random.Random, jitter: bool) -> torch.Tensor:
    """(3, H, W) uint8 -> (3, crop, crop) float in [0, 1]: random scale, crop, flip (+ colour jitter)."""
    if image.dtype != torch.uint8:       # a [0, 1] float image would come out black (it is divided by 255)
        raise TypeError(f"random_crop takes (3, H, W) uint8 images (load_uint8), got {image.dtype}")
    x = image.float().div(255)[None]
    short = min(x.shape[-2:])
    target = rng.uniform(crop, crop * 1.6)                   # short side after rescaling
    scale = target / short
    size = (max(crop, round(x.shape[-2] * scale)), max(crop, round(x.shape[-1] * scale)))
    x = F.interpolate(x, size=size, mode="bilinear", antialias=scale < 1, align_corners=False)
    top, left = rng.randint(0, size[0] - crop), rng.randint(0, size[1] - crop)
    x = x[..., top:top + crop, left:left + crop]
    if rng.random() < 0.5:
        x = x.flip(-1)
    if jitter:
        grey = x.mean(1, keepdim=True)
        x = grey + (x - grey) * rng.uniform(0.8, 1.2)        # saturation
        x = x * rng.uniform(0.85, 1.15) + rng.uniform(-0.05, 0.05)  # contrast / brightness
    return x.clamp(0, 1)[0]


#: YIQ <-> RGB (NTSC): a hue turn is a rotation of the I/Q plane, luma (Y) untouched.
_RGB_TO_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])


def rotate_hue(image: torch.Tensor, degrees: float) -> torch.Tensor:
    """(3, H, W) RGB in [0, 1] with its hues turned by `degrees` (luma kept), clipped to [0, 1]."""
    angle = math.radians(degrees)
    turn = torch.tensor([[1.0, 0.0, 0.0], [0.0, math.cos(angle), -math.sin(angle)],
                         [0.0, math.sin(angle), math.cos(angle)]])
    matrix = (torch.linalg.inv(_RGB_TO_YIQ) @ turn @ _RGB_TO_YIQ).to(image)
    return torch.einsum("ij,jhw->ihw", matrix, image).clamp(0, 1)


def augment_painting(image: torch.Tensor, rng: random.Random) -> torch.Tensor:
    """A painting crop (3, H, W) in [0, 1], recoloured: hue turned (half the time), saturation
    0.2-1.4x, then a gamma of 0.5-2 (dark and washed-out versions).

    Why: the modulated decoder maps the style vector to per-channel scales, and with only the
    training paintings' few dozen vectors it learnt that map exactly there; a GPU run (8,400
    steps) turned an unseen dark or two-colour picture into a neon or blank image. Recoloured
    crops spread the vectors it learns from (for training from scratch: 400 CPU steps of it from
    that run did not mend those faults; the modulation's bounds in network.py did)."""
    if rng.random() < 0.5:
        image = rotate_hue(image, rng.uniform(0, 360))
    grey = image.mean(0, keepdim=True)
    image = (grey + (image - grey) * rng.uniform(0.2, 1.4)).clamp(0, 1)
    return image.pow(math.exp(rng.uniform(math.log(0.5), math.log(2.0))))


def _autocast(device: torch.device, dtype: torch.dtype):
    enabled = dtype != torch.float32
    return torch.autocast(device.type, dtype=dtype, enabled=enabled)


def _prepare(config: TrainConfig, encoder: Encoder, loss_network: VGG19Features | None, levels: tuple[str, ...],
             device: torch.device, dtype: torch.dtype, rng: random.Random) -> _Data:
    # Photos live on the training device: cropping there keeps a GPU fed without loader workers.
    contents = [load_uint8(p, 768).to(device) for p in list_images(config.content_dir)]
    paintings = list_images(config.style_dir)
    gram_layers = GRAM_LAYERS if config.gram_weight else ()
    with_crops = not config.style_whole or config.whole_share < 1
    # Targets in two runs, cached crops first, then whole paintings (from index `whole_from`)
    layers = tuple(dict.fromkeys((*_loss_layers(config), *levels)))     # (a coarse decoder's relu5_1 too)
    kinds = {"crops": _Targets(layers), "whole": _Targets(layers)}
    with torch.no_grad(), _autocast(device, dtype):
        for painting in paintings:
            if with_crops:
                style = load_uint8(painting, 768).to(device)
                crops = [random_crop(style, config.crop, rng, jitter=False) for _ in range(config.style_crops)]
                if config.style_augment:               # the first crop of each painting stays as painted
                    crops[1:] = [augment_painting(crop, rng) for crop in crops[1:]]
                crops = torch.stack(crops)
                found = encoder.layers(_channels_last(crops), layers)
                # Gram targets as the loss network sees them (objective "gatys": the optimizer's VGG)
                seen = found if loss_network is None else loss_network(_channels_last(crops), gram_layers)
                kinds["crops"].add(found, seen, gram_layers)
            if config.style_whole:                 # the painting as fast mode and `brushwork score` read it
                found, seen = _whole_painting_features(painting, config.style_whole, encoder, loss_network,
                                                       layers, gram_layers, device)
                kinds["whole"].add(found, seen, gram_layers)
    used = [t for t in kinds.values() if t.means]
    style_means = {n: torch.cat([m for t in used for m in t.means[n]]) for n in layers}
    style_stds = {n: torch.cat([m for t in used for m in t.stds[n]]) for n in layers}
    style_grams = {n: torch.cat([m for t in used for m in t.grams[n]]) for n in gram_layers}
    sums = {n: sum(s for t in used for s in t.squares[n]) / sum(len(t.squares[n]) for t in used)
            for n in LOSS_LAYERS}
    vectors = stats_vector([(style_means[name], style_stds[name]) for name in levels])
    whole_from = sum(len(m) for m in kinds["crops"].means[LOSS_LAYERS[0]]) if with_crops else 0
    val = torch.stack([random_crop(contents[i % len(contents)], config.crop, random.Random(i), jitter=False)
                       for i in range(config.batch_size)])
    val_styles = torch.tensor([(i * 7919) % len(vectors) for i in range(config.batch_size)], device=device)
    return _Data(contents, style_means, style_stds, style_grams, vectors, sums, val, val_styles, whole_from)


class _Targets:
    """Style targets of one kind (crops or whole paintings) as they are gathered, painting by painting:
    mean and std at every layer of `layers` (the losses' and the decoder's levels), the mean square
    at the loss layers, Gram matrices at the Gram layers."""

    def __init__(self, layers: tuple[str, ...]) -> None:
        self.means: dict[str, list[torch.Tensor]] = {n: [] for n in layers}
        self.stds: dict[str, list[torch.Tensor]] = {n: [] for n in layers}
        self.grams: dict[str, list[torch.Tensor]] = {n: [] for n in GRAM_LAYERS}
        self.squares: dict[str, list[float]] = {n: [] for n in LOSS_LAYERS}

    def add(self, found: dict[str, torch.Tensor], seen: dict[str, torch.Tensor], gram_layers: tuple[str, ...]) -> None:
        for name in self.means:
            mean, std = mean_std(found[name])
            self.means[name].append(mean), self.stds[name].append(std)
        for name in self.squares:
            self.squares[name].append(float(found[name].float().pow(2).mean()))
        with torch.autocast(found[LOSS_LAYERS[0]].device.type, enabled=False):      # Gram targets in fp32
            for name in gram_layers:
                self.grams[name].append(gram_matrix(seen[name]))


def pick_styles(data: _Data, count: int, whole_share: float, rng: random.Random) -> list[int]:
    """Indices of `count` style targets: each a whole painting with probability `whole_share` where the
    data has both kinds, else any target (the data holds one kind)."""
    total = len(data.style_vectors)
    if 0 < data.whole_from < total:
        return [rng.randrange(data.whole_from, total) if rng.random() < whole_share else rng.randrange(data.whole_from)
                for _ in range(count)]
    return [rng.randrange(total) for _ in range(count)]


def _whole_painting_features(painting: Path, long_side: int, encoder: Encoder,
                             loss_network: VGG19Features | None, layers: tuple[str, ...],
                             gram_layers: tuple[str, ...], device: torch.device,
                             ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """A whole painting's encoder features at fast mode's style size for `long_side`-px outputs (its
    style vector), and its Gram-layer features at `long_side` px (the targets `brushwork score` uses);
    read from the file at each size, as those two read it."""
    from .model import style_long_side

    def at(side: int) -> torch.Tensor:
        return _channels_last(imaging.load_tensor(painting, side, device))

    found = encoder.layers(at(style_long_side(make_options(), long_side, long_side)), layers)
    gram_network = encoder.layers if loss_network is None else loss_network
    seen = gram_network(at(long_side), gram_layers) if gram_layers else {}
    return found, seen


def _loss_layers(config: TrainConfig) -> tuple[str, ...]:
    """What the max-pooling encoder must give for the losses (with objective "gatys": the vectors only)."""
    return GRAM_LAYERS if config.gram_weight and config.objective == "adain" else LOSS_LAYERS


def _channels_last(x: torch.Tensor) -> torch.Tensor:
    """Channels-last: the fast layout for bf16 convolutions on both oneDNN (CPU) and cuDNN."""
    return x.contiguous(memory_format=torch.channels_last)


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
    with _autocast(device, dtype):
        with torch.no_grad():
            features = encoder.layers(content, levels)
            adapted = adain_levels(features, vectors, levels)             # relu4_1: (B, 512, S/8, S/8) fp32
            if config.identity_weight:                                    # + the content's own features
                adapted = [torch.cat([t, features[name].float()]) for t, name in zip(adapted, levels)]
                vectors = torch.cat([vectors, style_vector(features, levels)])
            if loss_network is not None:
                photo = loss_network(content, (GATYS_CONTENT_LAYER,))[GATYS_CONTENT_LAYER].float()
        decoded = decoder.read([_channels_last(t) for t in adapted], vectors)
        output = _channels_last(decoded[:batch].float())
        if loss_network is None:
            found = encoder.layers(output, _loss_layers(config))
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
    with _autocast(device, dtype):
        with torch.no_grad():
            features = encoder.layers(_channels_last(content), decoder.levels)
            own = style_vector(features, decoder.levels)
        decoded = decoder.read([_channels_last(features[name].float()) for name in decoder.levels], own)
    return F.mse_loss(decoded.float(), content)


def train(config: TrainConfig, *, weights: VGGWeights | None = None, resume: bool = True,
          report: Callable[[dict[str, float]], None] | None = None) -> Path:
    """Run (or continue) training; returns the path of the best checkpoint."""
    out = Path(config.output_dir)
    placement = resolve(config.device, config.precision)
    device, dtype = placement.device, placement.dtype
    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    if config.objective not in OBJECTIVES:
        raise InvalidInputError(f"objective must be one of {', '.join(OBJECTIVES)}, not {config.objective!r}")
    if config.objective == "gatys" and config.gram_weight <= 0:
        raise InvalidInputError("objective gatys measures style by the Gram loss alone: give it a --gram-weight")
    weights = weights or load_vgg19_weights()
    gatys = config.objective == "gatys"
    decoder = Decoder(tuple(config.widths), skips=config.skips, modulated=config.modulated, coarse=config.coarse)
    decoder = decoder.to(device).to(memory_format=torch.channels_last)
    encoder = Encoder(weights, deepest_layer(_loss_layers(config), decoder.levels))
    encoder = encoder.to(device).to(memory_format=torch.channels_last)
    loss_network = (VGG19Features(weights, "relu5_1", pooling="avg").to(device).to(memory_format=torch.channels_last)
                    if gatys else None)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True     # fixed crop size: let cuDNN pick its fastest kernels
    optimizer = torch.optim.Adam(_parameter_groups(decoder, config.learning_rate))
    state = TrainState()
    fit_from: int | None = 0 if config.modulated else None    # style vector entries the modulation must fit
    average: AveragedModel | None = None
    if resume and (out / LAST).is_file():
        state, average, fit_from = *_restore(out / LAST, decoder, optimizer, rng, config.ema), None
    elif config.init:
        from .model import load_decoder

        trained = load_decoder(config.init)
        _start_from(decoder, trained, config.init)
        if trained.modulation is not None:                 # fitted already, up to a grafted level's entries
            fit_from = trained.modulation.center.numel() if trained.levels != decoder.levels else None
    data = _prepare(config, encoder, loss_network, decoder.levels, device, dtype, random.Random(config.seed + 1))
    if fit_from is not None:                               # standardise its input by the training paintings
        decoder.modulation.fit(data.style_vectors, start=fit_from)
    if config.ema and average is None:                     # (after the fit: it averages buffers too)
        average = _average_of(decoder, config.ema)
    out.mkdir(parents=True, exist_ok=True)                 # (after every check: a refused run leaves nothing)
    (out / "config.json").write_text(json.dumps(asdict(config), indent=2))
    started = time.perf_counter() - state.seconds
    deadline = None if config.max_minutes is None else time.perf_counter() + 60 * config.max_minutes
    decoder.train()
    saved_at = state.step
    last: dict[str, torch.Tensor] = {}           # losses of the latest full step (read only when logged:
                                                 # reading a GPU value each step would stall the queue)
    while state.step < config.steps and (deadline is None or time.perf_counter() < deadline):
        lr = config.learning_rate / (1 + config.lr_decay * state.step)
        for group in optimizer.param_groups:
            group["lr"] = lr * group.get("factor", 1.0)
        full = config.identity_weight == 0 or state.step % config.perceptual_every == 0
        count = config.batch_size if full else 2 * config.batch_size
        content = torch.stack([random_crop(rng.choice(data.contents), config.crop, rng, jitter=True)
                               for _ in range(count)])
        if full:
            picks = torch.tensor(pick_styles(data, config.batch_size, config.whole_share, rng), device=device)
            terms = loss_terms(encoder, decoder, _channels_last(content), data.style_vectors[picks],
                               data.targets(picks), data.layer_scale, config, device, dtype, loss_network)
            last = {k: v.detach() for k, v in terms.items()}
        else:
            terms = {"total": config.identity_weight * identity_loss(encoder, decoder, content, device, dtype)}
        optimizer.zero_grad(set_to_none=True)
        terms["total"].backward()
        # (norm measured on every step, read only when logged; infinite bound = measure, no clipping)
        norm = torch.nn.utils.clip_grad_norm_(decoder.parameters(), config.clip_grad_norm or math.inf)
        if full:
            last["grad_norm"] = norm.detach()
        optimizer.step()
        if average is not None:
            average.update_parameters(decoder)
        state.step += 1
        state.seconds = time.perf_counter() - started
        if (state.step % config.log_every == 0 or state.step == config.steps) and last:
            row = {"step": state.step, "seconds": round(state.seconds, 1), "lr": lr,
                   **{k: float(v) for k, v in last.items()}}
            _log(out, row)
            if report:
                report(row)
        if state.step % config.checkpoint_every == 0 or state.step == config.steps:
            _checkpoint(out, config, encoder, decoder, average, optimizer, state, data, rng, device, dtype,
                        loss_network)
            saved_at = state.step
    if saved_at != state.step or not (out / BEST).is_file():   # stopped by the clock between checkpoints
        _checkpoint(out, config, encoder, decoder, average, optimizer, state, data, rng, device, dtype, loss_network)
    return out / BEST


def _parameter_groups(decoder: Decoder, learning_rate: float) -> list[dict]:
    """Adam's parameter groups: a coarse decoder's relu5_1 branch at COARSE_LR_FACTOR times the rate
    (each group's "factor"; `train` sets every group's rate per step)."""
    branch = list(decoder.coarse.parameters()) if decoder.coarse is not None else []
    chosen = {id(p) for p in branch}
    groups = [{"params": [p for p in decoder.parameters() if id(p) not in chosen], "factor": 1.0}]
    if branch:
        groups.append({"params": branch, "factor": COARSE_LR_FACTOR})
    for group in groups:
        group["lr"] = learning_rate * group["factor"]
    return groups


def _start_from(decoder: Decoder, trained: Decoder, source: str) -> None:
    """Copy `trained`'s weights; a plain decoder may start a skip decoder (its skips stay zero), an
    unmodulated one a modulated decoder (its modulation starts at identity), one without a coarse
    level a coarse decoder (its branch and the modulation's weights for the new entries start at
    zero: it starts as the decoder it was made from)."""
    given, asked = decoder_shape(trained.state_dict()), decoder_shape(decoder.state_dict())
    for key, flag, what in (("skips", "--skips", "a skip decoder"), ("modulated", "--modulate", "a modulated decoder"),
                            ("coarse", "--coarse", "a coarse decoder (relu5_1)")):
        if given[key] and not asked[key]:
            raise InvalidInputError(f"'{source}' is {what}; train it with {flag}")
    if given["widths"] != asked["widths"]:
        widths = " ".join(map(str, given["widths"]))
        raise InvalidInputError(f"'{source}' has decoder widths {widths}; train it with --widths {widths}")
    state = trained.state_dict()
    if given["modulated"] and trained.levels != decoder.levels:
        if decoder.levels[:len(trained.levels)] != trained.levels:     # (a plain decoder: its vector is not a prefix)
            raise InvalidInputError(f"'{source}' is a modulated decoder without skip levels; train it without --skips")
        state = decoder.modulation.widen(state)
    missing, _ = decoder.load_state_dict(state, strict=False)
    assert all(key.startswith(("skips.", "modulation.", "coarse.")) for key in missing), missing


def validation_loss(encoder: Encoder, decoder: Decoder, data: _Data, config: TrainConfig,
                    device: torch.device, dtype: torch.dtype, loss_network: VGG19Features | None = None) -> float:
    """Loss on fixed content crops and styles: comparable across checkpoints (unlike batch losses)."""
    decoder.eval()
    picks = data.validation_styles
    with torch.no_grad():
        terms = loss_terms(encoder, decoder, _channels_last(data.validation), data.style_vectors[picks],
                           data.targets(picks), data.layer_scale, config, device, dtype, loss_network)
    decoder.train()
    return float(terms["total"])


def _average_of(decoder: Decoder, decay: float) -> AveragedModel:
    """An exponential moving average of `decoder`'s weights (and buffers), starting at them."""
    average = AveragedModel(decoder, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
    average.update_parameters(decoder)                     # the first update copies
    return average


def _cpu_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}


def _checkpoint(out: Path, config: TrainConfig, encoder: Encoder, decoder: Decoder, average: AveragedModel | None,
                optimizer: torch.optim.Optimizer, state: TrainState, data: _Data, rng: random.Random,
                device: torch.device, dtype: torch.dtype, loss_network: VGG19Features | None) -> None:
    """Save the run (checkpoint-last.pt) and the decoder it gives: the average where there is one.
    "decoder" is always the decoder to use (exports, --init, fast mode); a resume reads the
    training weights from "training_decoder" where they differ."""
    given = decoder if average is None else average.module
    val = validation_loss(encoder, given, data, config, device, dtype, loss_network)
    state.history.append({"step": state.step, "validation": val, "seconds": round(state.seconds, 1)})
    is_best = val < state.best
    state.best = min(state.best, val)
    payload = {"decoder": _cpu_state(given),
               "optimizer": optimizer.state_dict(), "step": state.step, "best": state.best,
               "seconds": state.seconds, "history": state.history, "config": asdict(config),
               "rng": json.dumps(rng.getstate()), "torch_rng": torch.get_rng_state()}
    if average is not None:
        payload |= {"training_decoder": _cpu_state(decoder), "averaged": int(average.n_averaged)}
    _atomic_save(payload, out / LAST)
    decoder_only = {"decoder": payload["decoder"], "step": state.step, "validation": val, "config": asdict(config)}
    if is_best:
        _atomic_save(decoder_only, out / BEST)
    if config.keep_checkpoints:     # the validation loss (a few fixed crops) is noisy: choose on scores instead
        _atomic_save(decoder_only, out / f"checkpoint-{state.step}.pt")
    (out / "validation.json").write_text(json.dumps(state.history, indent=1))
    plot_curves(out / "loss.csv", state.history, out / "loss.png")


def _restore(path: Path, decoder: Decoder, optimizer: torch.optim.Optimizer, rng: random.Random,
             ema: float) -> tuple[TrainState, AveragedModel | None]:
    """Continue a run: its training weights, optimizer, random states and (with `ema`) the average it
    saved; a run saved without one gets its average from `train`, started at these weights."""
    payload = torch.load(path, map_location="cpu", weights_only=True)
    saved, asked = decoder_shape(payload["decoder"]), decoder_shape(decoder.state_dict())
    if saved != asked:
        flags = " ".join(map(str, saved["widths"])) + (" with --skips" if saved["skips"] else " without --skips") + \
            (" and --modulate" if saved["modulated"] else "") + (" and --coarse" if saved["coarse"] else "")
        raise InvalidInputError(f"the checkpoint in '{path.parent}' is a decoder of widths {flags}; resume it with "
                                "those options, or start over with --fresh")
    decoder.load_state_dict(payload.get("training_decoder", payload["decoder"]))
    optimizer.load_state_dict(payload["optimizer"])
    rng_state = json.loads(payload["rng"])
    rng.setstate((rng_state[0], tuple(rng_state[1]), rng_state[2]))
    torch.set_rng_state(payload["torch_rng"])
    average = None
    if ema and "training_decoder" in payload:
        average = _average_of(decoder, ema)
        average.module.load_state_dict(payload["decoder"])
        average.n_averaged.fill_(payload["averaged"])
    state = TrainState(step=payload["step"], best=payload["best"], seconds=payload["seconds"],
                       history=list(payload["history"]))
    return state, average


def _atomic_save(payload: dict, path: Path) -> None:
    temporary = path.with_suffix(".tmp")
    torch.save(payload, temporary)
    temporary.replace(path)


def _log(out: Path, row: dict[str, float]) -> None:
    """Append a row to loss.csv; a resumed run keeps the file's columns (a new column is left out,
    a missing one left empty), so every row stays readable under the header."""
    path = out / "loss.csv"
    header = None
    if path.is_file():
        with path.open(newline="") as handle:
            header = next(csv.reader(handle), None)
    with path.open("a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header or list(row), restval="", extrasaction="ignore")
        if not header:
            writer.writeheader()
        writer.writerow(row)


def export_decoder(checkpoint: str | Path, target: str | Path) -> Path:
    """The decoder of a checkpoint as the fp16 state dict brushwork ships (a few MB)."""
    payload = torch.load(checkpoint, map_location="cpu", weights_only=True)
    state = {k: v.half() if v.is_floating_point() else v for k, v in payload["decoder"].items()}
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    _atomic_save({"decoder": state, "step": payload.get("step", 0),
                  "widths": list(decoder_shape(state)["widths"])}, target)
    return target


def calibrate_int8(decoder_file: str | Path, content_dir: str | Path, style_dir: str | Path, target: str | Path,
                   *, photos: int = 48, paintings: int = 48, size: int = 512,
                   weights: VGGWeights | None = None) -> Path:
    """Measure the int8 activation ranges of `decoder_file` on (an even spread of) the photos and
    paintings in the folders, and write the decoder plus ranges to `target` (see fast/int8.py).

    Photos are read at `size` px (fast mode's default output), paintings at the size fast mode
    reads them for that output."""
    from .int8 import calibrate
    from .model import load_decoder, save_int8_ranges, style_long_side

    decoder = load_decoder(decoder_file)
    photo_files, painting_files = _spread(list_images(content_dir), photos), _spread(list_images(style_dir), paintings)
    style_side = style_long_side(make_options(size=size), size, size)
    painting_images = [imaging.load_tensor(path, style_side) for path in painting_files]
    ranges = calibrate(Encoder.for_levels(weights or load_vgg19_weights(), decoder.levels), decoder,
                       (imaging.load_tensor(path, size) for path in photo_files), painting_images)
    return save_int8_ranges(decoder_file, ranges, target)


def _spread(files: list[Path], count: int) -> list[Path]:
    """`count` files spread evenly over the sorted list (all of them where there are fewer)."""
    if len(files) <= count:
        return files
    return [files[round(i * (len(files) - 1) / max(1, count - 1))] for i in range(count)]
