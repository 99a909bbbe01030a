"""A training run on disk: checkpoints (save, resume), the decoder files it gives, its loss log.

Weight averaging (`ema`): the decoder files a run writes (best, kept checkpoints, export) hold an
exponential moving average of the weights, not the last step's: the style scores of consecutive
checkpoints of one run moved by +-6 %, as much as most differences between runs.

Every file is written atomically (`brushwork.files.atomic_write`): a run killed mid-save keeps its
previous checkpoint.
"""

from __future__ import annotations

import csv
import json
import math
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from ...errors import InvalidInputError
from ...features import VGG19Features
from ...files import atomic_write
from ..network import Decoder, Encoder, decoder_shape
from ..plot import plot_curves
from .config import TrainConfig
from .data import TrainingData
from .objectives import validation_loss

LAST = "checkpoint-last.pt"
BEST = "checkpoint-best.pt"


@dataclass
class TrainState:
    """Where a run is: steps done, best validation loss, seconds trained, the validation history."""

    step: int = 0
    best: float = math.inf
    seconds: float = 0.0
    history: list[dict[str, float]] = field(default_factory=list)


def weight_average(decoder: Decoder, decay: float) -> AveragedModel:
    """An exponential moving average of `decoder`'s weights (and buffers), starting at them."""
    average = AveragedModel(decoder, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
    average.update_parameters(decoder)                     # the first update copies
    return average


def cpu_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}


def save_checkpoint(out: Path, config: TrainConfig, encoder: Encoder, decoder: Decoder,
                    average: AveragedModel | None, optimizer: torch.optim.Optimizer, state: TrainState,
                    data: TrainingData, rng: random.Random, device: torch.device, dtype: torch.dtype,
                    loss_network: VGG19Features | None) -> None:
    """Save the run (checkpoint-last.pt) and the decoder it gives: the average where there is one.
    "decoder" is always the decoder to use (exports, --init, fast mode); a resume reads the
    training weights from "training_decoder" where they differ."""
    given = decoder if average is None else average.module
    val = validation_loss(encoder, given, data, config, device, dtype, loss_network)
    state.history.append({"step": state.step, "validation": val, "seconds": round(state.seconds, 1)})
    is_best = val < state.best
    state.best = min(state.best, val)
    payload = {"decoder": cpu_state(given),
               "optimizer": optimizer.state_dict(), "step": state.step, "best": state.best,
               "seconds": state.seconds, "history": state.history, "config": asdict(config),
               "rng": json.dumps(rng.getstate()), "torch_rng": torch.get_rng_state()}
    if average is not None:
        payload |= {"training_decoder": cpu_state(decoder), "averaged": int(average.n_averaged)}
    _save(payload, out / LAST)
    decoder_only = {"decoder": payload["decoder"], "step": state.step, "validation": val, "config": asdict(config)}
    if is_best:
        _save(decoder_only, out / BEST)
    if config.keep_checkpoints:     # the validation loss (a few fixed crops) is noisy: choose on scores instead
        _save(decoder_only, out / f"checkpoint-{state.step}.pt")
    (out / "validation.json").write_text(json.dumps(state.history, indent=1))
    plot_curves(out / "loss.csv", state.history, out / "loss.png")


def restore_checkpoint(path: Path, decoder: Decoder, optimizer: torch.optim.Optimizer, rng: random.Random,
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
        average = weight_average(decoder, ema)
        average.module.load_state_dict(payload["decoder"])
        average.n_averaged.fill_(payload["averaged"])
    state = TrainState(step=payload["step"], best=payload["best"], seconds=payload["seconds"],
                       history=list(payload["history"]))
    return state, average


def log_row(out: Path, row: dict[str, float]) -> None:
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
    _save({"decoder": state, "step": payload.get("step", 0),
                  "widths": list(decoder_shape(state)["widths"])}, target)
    return target


def _save(payload: dict, path: Path) -> None:
    with atomic_write(path) as stream:
        torch.save(payload, stream)
