"""Figures for the notebooks: images side by side, image grids, feature maps, Gram matrices, losses.

matplotlib is imported only when a figure is drawn (it comes with the `notebooks` extra), so the
library itself never needs it. Each function returns its matplotlib Figure: Jupyter shows it,
and `fig.savefig("name.png")` writes it to a file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Union

import numpy as np
import torch
from PIL import Image

from .callbacks import LossHistory
from .errors import BrushworkError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

Picture = Union[Image.Image, torch.Tensor, np.ndarray]


def strongest_channels(features: torch.Tensor, count: int) -> torch.Tensor:
    """The `count` channels that vary most across the image, each scaled to [0, 1].

    (1, C, h, w) -> (min(count, C), h, w). Many ReLU channels are flat (all zero) on a given
    image; showing the most varied ones shows what the layer actually responds to.
    """
    maps = features[0].detach().float().cpu()                       # (C, h, w)
    order = maps.flatten(1).std(dim=1).argsort(descending=True)[:count]
    chosen = maps[order]                                            # (count, h, w)
    low = chosen.flatten(1).min(dim=1).values[:, None, None]
    high = chosen.flatten(1).max(dim=1).values[:, None, None]
    return (chosen - low) / (high - low).clamp_min(1e-12)


def show_images(images: Sequence[Picture], titles: Sequence[str] | None = None, *,
                height: float = 3.2) -> "Figure":
    """Images in one row, each with its title (content, style and result side by side)."""
    arrays = [_as_array(image) for image in images]
    widths = [a.shape[1] / a.shape[0] * height for a in arrays]
    figure, axes = _pyplot().subplots(1, len(arrays), figsize=(sum(widths) + 0.2 * len(arrays), height + 0.4),
                                      gridspec_kw={"width_ratios": widths}, squeeze=False)
    for ax, array, title in zip(axes[0], arrays, _labels(titles, len(arrays))):
        ax.imshow(array)
        ax.set_title(title, fontsize=10)
        ax.axis("off")
    figure.tight_layout()
    return figure


def show_grid(rows: Sequence[Sequence[Picture]], *, row_labels: Sequence[str] | None = None,
              col_labels: Sequence[str] | None = None, cell: float = 2.6,
              titles: Sequence[Sequence[str]] | None = None) -> "Figure":
    """A grid of images with labelled rows and columns (a parameter sweep, intermediates)."""
    arrays = [[_as_array(image) for image in row] for row in rows]
    columns = max(len(row) for row in arrays)
    aspect = arrays[0][0].shape[1] / arrays[0][0].shape[0]
    figure, axes = _pyplot().subplots(len(arrays), columns, squeeze=False,
                                      figsize=(cell * aspect * columns + 0.6, cell * len(arrays) + 0.4))
    for r, row in enumerate(arrays):
        for c in range(columns):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c >= len(row):
                ax.axis("off")
                continue
            ax.imshow(row[c])
            if titles is not None:
                ax.set_title(titles[r][c], fontsize=9)
            if r == 0 and col_labels is not None:
                ax.set_title(col_labels[c] + (f"\n{titles[r][c]}" if titles is not None else ""), fontsize=9)
            if c == 0 and row_labels is not None:
                ax.set_ylabel(row_labels[r], fontsize=9)
    figure.tight_layout()
    return figure


def show_feature_maps(features: Mapping[str, torch.Tensor], per_layer: int = 6, cell: float = 1.5) -> "Figure":
    """One row per layer: its most varied channels, with the layer's name and shape."""
    figure, axes = _pyplot().subplots(len(features), per_layer, squeeze=False,
                                      figsize=(cell * per_layer + 0.8, cell * len(features)))
    for ax_row, (name, value) in zip(axes, features.items()):
        maps = strongest_channels(value, per_layer)
        _, channels, h, w = value.shape
        for c, ax in enumerate(ax_row):
            ax.set_xticks([])
            ax.set_yticks([])
            if c < len(maps):
                ax.imshow(maps[c].numpy(), cmap="viridis")
        ax_row[0].set_ylabel(f"{name}\n{channels}×{h}×{w}", fontsize=9)
    figure.tight_layout()
    return figure


def show_grams(grams: Mapping[str, torch.Tensor], cell: float = 3.0) -> "Figure":
    """Gram matrices (channel × channel correlations) as heat maps on one shared colour scale."""
    from matplotlib.colors import PowerNorm

    matrices = {title: gram[0].detach().float().cpu().numpy() for title, gram in grams.items()}
    # one colour scale for all panels, so their strengths compare; the square-root scale keeps
    # the many small correlations visible next to the few large ones
    norm = PowerNorm(0.5, vmin=0.0, vmax=max(float(m.max()) for m in matrices.values()))
    figure, axes = _pyplot().subplots(1, len(grams), squeeze=False, figsize=(cell * len(grams), cell + 0.4))
    for ax, (title, matrix) in zip(axes[0], matrices.items()):
        ax.imshow(matrix.clip(min=0.0), cmap="magma", norm=norm)
        ax.set_title(f"{title}\n{matrix.shape[0]}×{matrix.shape[1]}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    figure.tight_layout()
    return figure


def plot_losses(history: LossHistory, names: Sequence[str] = ("content", "style", "tv", "total"),
                log: bool = True) -> "Figure":
    """Each loss term per optimizer step, with dashed lines where a coarse-to-fine level begins."""
    if not history.steps:
        raise BrushworkError("the loss history is empty: pass it as the run's callback first")
    figure, ax = _pyplot().subplots(figsize=(8, 4))
    for name in names:
        ax.plot(history.steps, history.series(name), label=name)
    for step, (width, height) in history.level_starts()[1:]:
        ax.axvline(step - 0.5, color="grey", linestyle="--", linewidth=0.8)
    for step, (width, height) in history.level_starts():
        ax.annotate(f"{width}×{height}", (step, 1.0), xycoords=("data", "axes fraction"),
                    xytext=(3, -12), textcoords="offset points", fontsize=8, color="grey")
    _finish_axes(ax, log, "optimizer step", "loss (content, style, tv unweighted)")
    if log:  # the content loss starts at exactly 0: do not let it stretch the axis down to 1e-9
        largest = max(max(history.series(name)) for name in names)
        ax.set_ylim(bottom=max(ax.get_ylim()[0], largest * 1e-3))
    figure.tight_layout()
    return figure


def plot_curves(curves: Mapping[str, Sequence[float]], *, log: bool = True, xlabel: str = "optimizer step",
                ylabel: str = "total cost") -> "Figure":
    """Several named curves on one axis (e.g. optimizers and learning rates compared)."""
    figure, ax = _pyplot().subplots(figsize=(8, 4))
    for name, values in curves.items():
        ax.plot(range(1, len(values) + 1), values, label=name)
    _finish_axes(ax, log, xlabel, ylabel)
    figure.tight_layout()
    return figure


def _finish_axes(ax: Any, log: bool, xlabel: str, ylabel: str) -> None:
    if log:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    ax.legend()


def _as_array(image: Picture) -> np.ndarray:
    """PIL image, (1, 3, H, W)/(3, H, W) tensor in [0, 1], or HxWx3 array -> HxWx3 array for imshow."""
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"))
    if isinstance(image, torch.Tensor):
        tensor = image.detach().float().cpu().clamp(0, 1)
        tensor = tensor[0] if tensor.dim() == 4 else tensor
        return tensor.permute(1, 2, 0).numpy()
    return np.asarray(image)


def _labels(titles: Sequence[str] | None, count: int) -> list[str]:
    return list(titles) if titles is not None else [""] * count


def _pyplot() -> Any:
    try:
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover - depends on the environment
        raise BrushworkError("brushwork.plotting needs matplotlib: pip install 'brushwork[notebooks]'") from None
    return plt


__all__ = ["plot_curves", "plot_losses", "show_feature_maps", "show_grams", "show_grid", "show_images",
           "strongest_channels"]
