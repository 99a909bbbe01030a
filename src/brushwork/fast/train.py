"""Training the fast model's decoder (AdaIN recipe, adapted to a CPU budget): the loop and the
entry points of `brushwork train-fast` and `brushwork calibrate-int8`.

The parts of a run live in `brushwork.fast.training`: `config` (TrainConfig), `data` (images,
crops, style targets), `objectives` (the losses, described there) and `checkpoints` (save,
resume, export). Their public names are importable from here too, as they always were.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import torch
from torch.optim.swa_utils import AveragedModel

from .. import imaging
from ..device import resolve
from ..errors import InvalidInputError
from ..features import VGG19Features, deepest_layer
from ..options import make_options
from ..weights import VGGWeights, load_vgg19_weights
from .network import Decoder, Encoder, decoder_shape
from .training.checkpoints import (BEST, LAST, TrainState, export_decoder, log_row, restore_checkpoint,
                                   save_checkpoint, weight_average)
from .training.config import GATYS_CONTENT_LAYER, GRAM_LAYERS, OBJECTIVES, TrainConfig, channels_last, loss_layers
from .training.data import (TrainingData, augment_painting, list_images, load_uint8, pick_styles, prepare_data,
                            random_crop, rotate_hue, spread)
from .training.objectives import gram_loss, identity_loss, loss_terms, validation_loss

__all__ = [
    "BEST", "COARSE_LR_FACTOR", "GATYS_CONTENT_LAYER", "GRAM_LAYERS", "LAST", "OBJECTIVES", "TrainConfig",
    "TrainState", "TrainingData", "augment_painting", "calibrate_int8", "export_decoder", "gram_loss",
    "identity_loss", "list_images", "load_uint8", "loss_terms", "pick_styles", "random_crop", "rotate_hue",
    "train", "validation_loss",
]

#: A coarse decoder's relu5_1 branch learns at this multiple of the learning rate: grafted onto a
#: trained decoder it starts at zero, and at 1x it still added nothing after 2,400 CPU steps.
COARSE_LR_FACTOR = 10.0


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
    encoder = Encoder(weights, deepest_layer(loss_layers(config), decoder.levels))
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
        state, average, fit_from = *restore_checkpoint(out / LAST, decoder, optimizer, rng, config.ema), None
    elif config.init:
        from .model import load_decoder

        trained = load_decoder(config.init)
        _start_from(decoder, trained, config.init)
        if trained.modulation is not None:                 # fitted already, up to a grafted level's entries
            fit_from = trained.modulation.center.numel() if trained.levels != decoder.levels else None
    data = prepare_data(config, encoder, loss_network, decoder.levels, device, dtype, random.Random(config.seed + 1))
    if fit_from is not None:                               # standardise its input by the training paintings
        decoder.modulation.fit(data.style_vectors, start=fit_from)
    if config.ema and average is None:                     # (after the fit: it averages buffers too)
        average = weight_average(decoder, config.ema)
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
            terms = loss_terms(encoder, decoder, channels_last(content), data.style_vectors[picks],
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
            log_row(out, row)
            if report:
                report(row)
        if state.step % config.checkpoint_every == 0 or state.step == config.steps:
            save_checkpoint(out, config, encoder, decoder, average, optimizer, state, data, rng, device, dtype,
                            loss_network)
            saved_at = state.step
    if saved_at != state.step or not (out / BEST).is_file():   # stopped by the clock between checkpoints
        save_checkpoint(out, config, encoder, decoder, average, optimizer, state, data, rng, device, dtype,
                        loss_network)
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
    photo_files, painting_files = spread(list_images(content_dir), photos), spread(list_images(style_dir), paintings)
    style_side = style_long_side(make_options(size=size), size, size)
    painting_images = [imaging.load_tensor(path, style_side) for path in painting_files]
    ranges = calibrate(Encoder.for_levels(weights or load_vgg19_weights(), decoder.levels), decoder,
                       (imaging.load_tensor(path, size) for path in photo_files), painting_images)
    return save_int8_ranges(decoder_file, ranges, target)
