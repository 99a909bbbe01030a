"""A terminal progress bar (rich) fed by the engine's Progress records."""

from __future__ import annotations

from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress as RichProgress, TextColumn, TimeRemainingColumn

from .callbacks import Progress


class ProgressBar:
    """Context manager and callback: one bar per image, with level, loss and an ETA from the engine."""

    def __init__(self, label: str, enabled: bool = True) -> None:
        self.label = label
        self.enabled = enabled
        self._bar = RichProgress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"), TextColumn("ETA"), TimeRemainingColumn(),
            console=Console(stderr=True), transient=False, disable=not enabled)
        self._task = self._bar.add_task(label, total=None, detail="loading")
        self._last_loss = ""

    def __enter__(self) -> "ProgressBar":
        self._bar.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._bar.stop()

    def __call__(self, progress: Progress) -> None:
        level = f"level {progress.scale}/{progress.scales} {progress.size[0]}x{progress.size[1]}  "
        if progress.tile is not None:          # a tiled level, between steps: the tiles of the step under way
            done, total = progress.tile
            detail = level + f"step {progress.step} tile {done}/{total}"
            self._bar.update(self._task, completed=progress.step - 1 + done / total, total=progress.total,
                             detail=detail)
            return
        loss = progress.losses.get("total")  # fast mode has no loss to report
        if loss is not None:
            self._last_loss = f"loss {loss:.3g}"
        detail = level + (f"loss {loss:.3g}" if loss is not None else "feed-forward")
        self._bar.update(self._task, completed=progress.step, total=progress.total, detail=detail)


class FrameBar:
    """Context manager and callback for video runs: one bar over the clip's frames, with an ETA."""

    def __init__(self, label: str, enabled: bool = True) -> None:
        self._bar = RichProgress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("frames"),
            TextColumn("{task.fields[detail]}"), TextColumn("ETA"), TimeRemainingColumn(),
            console=Console(stderr=True), transient=False, disable=not enabled)
        self._task = self._bar.add_task(label, total=None, detail="reading")

    def __enter__(self) -> "FrameBar":
        self._bar.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._bar.stop()

    def __call__(self, progress: Any) -> None:
        """A `brushwork.video.FrameProgress`."""
        made = progress.frame - progress.resumed
        detail = f"{made / progress.elapsed:.2f} frames/s" if made > 0 and progress.elapsed > 0 else ""
        if progress.resumed:
            detail = f"{progress.resumed} resumed  " + detail
        self._bar.update(self._task, completed=progress.frame, total=progress.total, detail=detail)
