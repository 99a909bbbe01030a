"""A loss-curve PNG drawn with Pillow (no plotting library needed for one chart)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

from PIL import Image, ImageDraw

SERIES = (("total", (31, 119, 180)), ("content", (44, 160, 44)), ("style", (214, 39, 40)),
          ("gram", (255, 127, 14)), ("identity", (148, 103, 189)))


def plot_curves(csv_path: Path, validation: list[dict[str, float]], target: Path,
                size: tuple[int, int] = (800, 450)) -> None:
    """Training losses (log scale, per logged step) and validation loss at checkpoints."""
    rows: list[dict[str, str]] = []
    if csv_path.is_file():
        with csv_path.open() as handle:
            rows = list(csv.DictReader(handle))
    lines = {name: [(float(r["step"]), float(r[name])) for r in rows if r.get(name) and float(r[name]) > 0]
             for name, _ in SERIES}
    lines["validation"] = [(float(v["step"]), float(v["validation"])) for v in validation if v["validation"] > 0]
    points = [p for line in lines.values() for p in line]
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    left, top, right, bottom = 60, 34, size[0] - 20, size[1] - 40
    draw.rectangle((left, top, right, bottom), outline="black")
    if not points:
        image.save(target)
        return
    x_max = max(p[0] for p in points) or 1.0
    y_lo = math.log10(min(p[1] for p in points))
    y_hi = math.log10(max(p[1] for p in points))
    y_hi = y_hi if y_hi > y_lo else y_lo + 1

    def xy(step: float, value: float) -> tuple[float, float]:
        return (left + (right - left) * step / x_max,
                bottom - (bottom - top) * (math.log10(value) - y_lo) / (y_hi - y_lo))

    for decade in range(math.floor(y_lo), math.ceil(y_hi) + 1):
        if y_lo <= decade <= y_hi:
            y = xy(0, 10.0 ** decade)[1]
            draw.line((left, y, right, y), fill=(225, 225, 225))
            draw.text((5, y - 6), f"1e{decade}", fill="black")
    draw.text((left, bottom + 8), "0", fill="black")
    draw.text((right - 40, bottom + 8), f"{int(x_max)}", fill="black")
    draw.text(((left + right) // 2 - 20, bottom + 20), "step", fill="black")
    colours = dict(SERIES, validation=(0, 0, 0))
    drawn = [(name, line) for name, line in lines.items() if line]       # a run without a term: no legend
    for index, (name, line) in enumerate(drawn):
        if len(line) > 1:
            draw.line([xy(*p) for p in line], fill=colours[name], width=2 if name == "validation" else 1)
        x = left + 100 * index                   # legend in a row above the plot, clear of the curves
        draw.rectangle((x, 12, x + 12, 22), fill=colours[name])
        draw.text((x + 18, 11), name, fill=colours[name])
    image.save(target)
