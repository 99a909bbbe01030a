"""The coarse-to-fine plan: which sizes to solve at, and how many steps each gets.

Most steps go to the small levels, where a step is cheap and the large-scale structure of
the style forms; the full-size level only refines texture detail (Gatys et al. 2017, sec. 5).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: Steps at a level are proportional to (final long side / level long side) ** STEP_SHARE_POWER.
#: 1.0 gives 4:2:1 over 128/256/512 px. Measured on tubingen/starry_night at 577 px, 125 steps:
#: 2.0 (16:4:1, 6 full-size steps) 22 s, style 0.30, content 1.14; 1.0: 36 s, 0.15, 0.88 -
#: the full-size level needs enough steps to settle the texture the upsampling blurred.
STEP_SHARE_POWER = 1.0


@dataclass(frozen=True)
class Level:
    """One level of the plan: the image size there and its optimizer steps."""

    width: int
    height: int
    steps: int

    @property
    def pixels(self) -> int:
        return self.width * self.height


def auto_scale_count(long_side: int, min_size: int) -> int:
    """One level per doubling from `min_size` up to `long_side` (3 for 512 px from 128 px, 5 for 2048)."""
    return 1 + max(0, round(math.log2(max(long_side, 1) / min_size)))


def plan_levels(width: int, height: int, scales: int | None, min_size: int, total_steps: int) -> list[Level]:
    """Geometric sizes from `min_size` (long side) up to (width, height), steps split across them.

    `scales=None` picks one level per doubling. Fewer levels are used when the output is too
    small for `scales` levels above `min_size`.
    """
    long_side = max(width, height)
    if scales is None:
        scales = auto_scale_count(long_side, min_size)
    count = max(1, min(scales, total_steps))
    while count > 1 and long_side / min_size < 1.25 ** (count - 1):
        count -= 1  # levels closer than 1.25x apart are not worth their own solve
    if count == 1:
        return [Level(width, height, total_steps)]
    ratio = long_side / min_size
    sides = [min_size * ratio ** (i / (count - 1)) for i in range(count)]
    shares = [(long_side / side) ** STEP_SHARE_POWER for side in sides]
    steps = _split(total_steps, shares)
    return [Level(max(1, round(width * side / long_side)), max(1, round(height * side / long_side)), n)
            for side, n in zip(sides, steps)]


def _split(total: int, shares: list[float]) -> list[int]:
    """Integers >= 1 proportional to `shares` that add up to `total` (largest remainders)."""
    scale = (total - len(shares)) / sum(shares)
    exact = [1 + share * scale for share in shares]
    counts = [int(value) for value in exact]
    order = sorted(range(len(shares)), key=lambda i: exact[i] - counts[i], reverse=True)
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return counts
