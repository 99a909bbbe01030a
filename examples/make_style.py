"""Generate `examples/strokes.png`: a procedural painting of curved brush strokes along a swirling
flow field. It is the bundled style image, so the project ships no third-party artwork.

    python examples/make_style.py
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

PALETTE = [(20, 40, 110), (35, 75, 160), (70, 130, 200), (230, 200, 70), (245, 230, 140),
           (25, 90, 80), (200, 90, 40), (15, 20, 45), (140, 185, 215)]


def flow_angle(x: float, y: float, size: int) -> float:
    """Direction of the strokes at (x, y): two swirls plus a gentle wave."""
    u, v = x / size, y / size
    angle = math.sin(u * 6.0) + math.cos(v * 5.0)
    for cx, cy, strength in ((0.3, 0.35, 1.0), (0.72, 0.6, -1.0)):
        dx, dy = u - cx, v - cy
        angle += strength * math.atan2(dy, dx) * math.exp(-(dx * dx + dy * dy) * 12.0) * 2.0
    return angle


def paint(size: int = 512, strokes: int = 4500, seed: int = 7) -> Image.Image:
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", (size, size), PALETTE[0])
    draw = ImageDraw.Draw(image)
    for _ in range(strokes):
        x, y = rng.uniform(0, size, 2)
        base = np.array(PALETTE[rng.integers(len(PALETTE))], dtype=float)
        colour = tuple(int(c) for c in np.clip(base + rng.normal(0, 12, 3), 0, 255))
        width = int(rng.integers(3, 9))
        points = [(x, y)]
        for _ in range(int(rng.integers(6, 16))):
            angle = flow_angle(x, y, size)
            x, y = x + 4.0 * math.cos(angle), y + 4.0 * math.sin(angle)
            points.append((x, y))
        draw.line(points, fill=colour, width=width, joint="curve")
    return image.filter(ImageFilter.SMOOTH)


if __name__ == "__main__":
    target = Path(__file__).with_name("strokes.png")
    paint().save(target)
    print(f"wrote {target}")
