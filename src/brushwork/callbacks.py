"""Progress records and ready-made callbacks. The engine only ever calls `callback(Progress)`.

Cancellation is a callback raising `Cancelled` (see `CancelToken`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from .errors import Cancelled


@dataclass(frozen=True)
class Progress:
    """One optimizer step: where the run is, its losses and timing, and an optional preview."""

    step: int                      # 1-based, over the whole run
    total: int                     # steps in the whole run
    epoch: int                     # 1-based; an epoch is `steps_per_epoch` steps
    epochs: int
    scale: int                     # 1-based coarse-to-fine level
    scales: int
    size: tuple[int, int]          # (width, height) being optimized at this level
    losses: dict[str, float]       # content, style, tv, total
    elapsed: float                 # seconds since the run began
    eta: float                     # seconds left, weighted by the cost of each level's steps
    preview: Image.Image | None = None
    #: (done, total) tiles of the step under way, on the records a tiled level sends between its
    #: steps (the step then is the one in progress, and `losses` is empty); None on a step's record.
    tile: tuple[int, int] | None = None
    #: The run's `brushwork.planning.RunPlan` (levels, tiles, estimated peak memory and time).
    plan: Any = None

    @property
    def finished_step(self) -> bool:
        """True on the record of a finished step; False on a tile record sent between steps."""
        return self.tile is None

    @property
    def fraction(self) -> float:
        return self.step / self.total

    def plan_dict(self) -> dict[str, Any] | None:
        """The plan as plain data (job status, JSON), or None when the run has none."""
        return self.plan.as_dict() if self.plan is not None else None


Callback = Callable[[Progress], None]


class CancelToken:
    """A thread-safe flag; use `token.check` as (or inside) a callback to stop a run."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self, progress: Progress | None = None) -> None:
        if self._event.is_set():
            raise Cancelled("the run was cancelled")


def chain(*callbacks: Callback | None) -> Callback:
    """One callback that calls each given one in turn (None entries skipped)."""
    active = [cb for cb in callbacks if cb is not None]

    def call(progress: Progress) -> None:
        for cb in active:
            cb(progress)

    return call


@dataclass
class SaveEvery:
    """Save the preview image every time one arrives, as `folder/stem_0100.png` (step number)."""

    folder: Path
    stem: str = "step"
    suffix: str = ".png"
    saved: list[Path] = field(default_factory=list)

    def __call__(self, progress: Progress) -> None:
        if progress.preview is None or not progress.finished_step:
            return
        from .imaging import save_image  # local: keep this module free of torch imports

        path = self.folder / f"{self.stem}_{progress.step:04d}{self.suffix}"
        self.saved.append(save_image(progress.preview, path))


@dataclass
class LossHistory:
    """Collect every step's losses and the level it ran at (what the notebooks plot)."""

    steps: list[int] = field(default_factory=list)
    losses: list[dict[str, float]] = field(default_factory=list)
    sizes: list[tuple[int, int]] = field(default_factory=list)   # (width, height) of each step's level

    def __call__(self, progress: Progress) -> None:
        if not progress.finished_step:
            return
        self.steps.append(progress.step)
        self.losses.append(progress.losses)
        self.sizes.append(progress.size)

    def series(self, name: str) -> Sequence[float]:
        return [entry[name] for entry in self.losses]

    def level_starts(self) -> list[tuple[int, tuple[int, int]]]:
        """(step, size) where each coarse-to-fine level began: the losses jump there."""
        return [(step, size) for i, (step, size) in enumerate(zip(self.steps, self.sizes))
                if i == 0 or size != self.sizes[i - 1]]


@dataclass
class Previews:
    """Keep each preview image in memory with its step and level size (for a grid of intermediates).

    Previews arrive every `preview_every` steps (a StyleOptions field) and at the last step.
    """

    steps: list[int] = field(default_factory=list)
    sizes: list[tuple[int, int]] = field(default_factory=list)
    images: list[Image.Image] = field(default_factory=list)

    def __call__(self, progress: Progress) -> None:
        if progress.preview is None or not progress.finished_step:
            return
        self.steps.append(progress.step)
        self.sizes.append(progress.size)
        self.images.append(progress.preview)
