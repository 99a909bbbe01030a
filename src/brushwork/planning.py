"""The run plan: for each level, whole or tiled, how many tiles, how much L-BFGS history, and the
estimated peak memory and time; made before the first step, so a run that cannot fit its memory
budget is refused at once, and the user sees what a print-size run will cost.

How the budget is spent, largest first: the process as it stands (network, weights, inputs), the
level's image-sized buffers (image, gradient, content, optimizer state), the content targets, one
network pass (the whole level, or one tile), then as much L-BFGS history as fits (at most
`lbfgs.LBFGS_HISTORY` pairs, and never more than the level has steps). A level keeps at least
`MIN_HISTORY` pairs where it has as many steps, before it is cut into tiles or its tiles made
smaller: a shorter history would cost quality, smaller tiles only time. Where even the smallest
tiles leave no room for MIN_HISTORY pairs, the history is shortened further, down to one pair.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .errors import MemoryBudgetError
from .lbfgs import LBFGS_HISTORY
from .memory import FORWARD_PASS, GRAD_PASS, format_size, image_bytes
from .schedule import Level
from .tiling import grid_count, layer_stride, window_pixels
from .weights import VGG19_BLOCKS

#: Tile cores tried, largest first (multiples of 16, relu5_1's stride).
TILE_CORES = (2048, 1536, 1024, 768, 512, 384, 256, 192, 128, 96, 64)
#: L-BFGS pairs a level keeps at least (where it has that many steps), before tiles are made smaller.
MIN_HISTORY = 5
#: Image-sized fp32 buffers a level holds besides its L-BFGS pairs and its content image: the image
#: and its gradient, the optimizer's last point, last gradient and step (`lbfgs.lbfgs_step` makes
#: no other vector: tests/test_lbfgs.py measures it), and one for what the allocator keeps back
#: from freed tile passes (a 4096x3072 run peaked that much over five).
LEVEL_BUFFERS = 6
#: A forward pass alone costs about this share of a forward and backward pass (measured on the CPU).
FORWARD_TIME_SHARE = 0.35


@dataclass(frozen=True)
class LevelPlan:
    """How one level runs: its size and steps, its tiles (core side, tiles per pass; core None =
    the whole level in one pass), L-BFGS pairs kept, estimated peak bytes and seconds."""

    width: int
    height: int
    steps: int
    core: int | None
    tiles: int
    history: int
    peak: int
    seconds: float | None = None

    @property
    def tiled(self) -> bool:
        return self.core is not None


@dataclass(frozen=True)
class RunPlan:
    """The whole run's plan; `lines()` is what the CLI prints, `as_dict()` what the server reports."""

    levels: tuple[LevelPlan, ...]
    budget: int
    halo: int

    @property
    def peak(self) -> int:
        return max(level.peak for level in self.levels)

    @property
    def seconds(self) -> float | None:
        times = [level.seconds for level in self.levels]
        return None if any(t is None for t in times) else float(sum(times))  # type: ignore[arg-type]

    @property
    def tiled(self) -> bool:
        return any(level.tiled for level in self.levels)

    def lines(self) -> list[str]:
        """Human-readable plan: one line per level and a summary."""
        rows = []
        for number, level in enumerate(self.levels, start=1):
            tiles = (f"{level.tiles} tiles of {level.core} px (+{self.halo} px halo)" if level.tiled
                     else "whole image")
            history = f", L-BFGS history {level.history}" if level.history else ""
            rows.append(f"  level {number}/{len(self.levels)}  {level.width}x{level.height}  {level.steps} steps  "
                        f"{tiles}{history}  ~{format_size(level.peak)}")
        seconds = self.seconds
        eta = f", ~{_duration(seconds)}" if seconds is not None else ""
        head = f"plan: peak ~{format_size(self.peak)} of a {format_size(self.budget)} budget{eta}"
        return [head, *rows]

    def as_dict(self) -> dict[str, object]:
        return {"budget": self.budget, "peak": self.peak, "seconds": self.seconds, "halo": self.halo,
                "tiled": self.tiled, "levels": [asdict(level) for level in self.levels]}


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def layer_channels(layer: str) -> int:
    """Channels of a VGG-19 layer ("relu4_2" -> 512)."""
    return VGG19_BLOCKS[int(layer[4]) - 1][0]           # conv4_2, relu4_2, pool4: block 4


def content_target_bytes(width: int, height: int, layers: tuple[str, ...], tiled: bool = False) -> int:
    """The content targets' feature maps at `layers` for a (width, height) level: fp32, or bf16 on
    a tiled level (`engine.content_targets`)."""
    return sum((2 if tiled else 4) * layer_channels(name) * (width // layer_stride(name)) * (height // layer_stride(name))
               for name in layers)


@dataclass(frozen=True)
class PlanInputs:
    """What the planner needs to know besides the levels: the budget, what the process holds already,
    the full-size buffers the run keeps for its whole length, the halo, and measured speed."""

    budget: int
    baseline: int
    resident: int                 # full-size inputs kept all run (content, its colour, init image)
    full_size: tuple[int, int]    # (width, height) of the output: a smaller level holds its own content copy
    halo: int
    alignment: int
    content_layers: tuple[str, ...]
    lbfgs: bool
    seconds_per_pixel: float | None = None   # one forward + backward pass, per pixel


def plan_run(levels: list[Level], inputs: PlanInputs) -> RunPlan:
    """A plan for every level; raises `MemoryBudgetError` when a level cannot fit even in tiles."""
    return RunPlan(tuple(plan_level(level, inputs) for level in levels), inputs.budget, inputs.halo)


def plan_level(level: Level, inputs: PlanInputs) -> LevelPlan:
    """The largest pass that fits (whole, else the largest tile core), then the history that fits."""
    width, height = level.width, level.height
    pair = 2 * image_bytes(width, height)
    # the first step makes no curvature pair: a level of n steps uses n - 1 at most
    wanted = max(1, min(LBFGS_HISTORY, level.steps - 1)) if inputs.lbfgs else 0
    buffers = LEVEL_BUFFERS + ((width, height) != inputs.full_size) + (0 if inputs.lbfgs else 2)  # Adam's moments
    fixed = inputs.baseline + inputs.resident + buffers * image_bytes(width, height)
    # a shorter history costs quality, smaller tiles only time: every tile size is tried with
    # MIN_HISTORY pairs before the history goes below it (down to one pair)
    floors = range(min(wanted, MIN_HISTORY), 0, -1) if inputs.lbfgs else (0,)
    for floor in floors:
        for core in (None, *(c for c in TILE_CORES if c < max(width, height))):
            window = largest_window(core, width, height, inputs.halo)
            needed = fixed + GRAD_PASS.bytes(window) + content_target_bytes(width, height, inputs.content_layers,
                                                                             tiled=core is not None)
            if needed + floor * pair <= inputs.budget:
                history = min(wanted, (inputs.budget - needed) // pair) if inputs.lbfgs else 0
                tiles = 1 if core is None else grid_count(height, width, core)
                return LevelPlan(width, height, level.steps, core, tiles, int(history),
                                 int(needed + history * pair), _seconds(level, core, inputs))
    smallest = fixed + GRAD_PASS.bytes(largest_window(TILE_CORES[-1], width, height, inputs.halo)) + \
        content_target_bytes(width, height, inputs.content_layers, tiled=True) + floors[-1] * pair
    raise MemoryBudgetError(
        f"max_memory: a budget of {format_size(inputs.budget)} cannot hold one tile of the "
        f"{width}x{height} level (that needs about {format_size(smallest)}); give more memory or a smaller size")


def largest_window(core: int | None, width: int, height: int, halo: int) -> int:
    """Pixels of the largest window one pass runs on."""
    if core is None:
        return width * height
    side = core + 2 * halo + 16                 # a window by the far edge may be up to 15 px longer
    return min(height, side) * min(width, side)


def _seconds(level: Level, core: int | None, inputs: PlanInputs) -> float | None:
    if inputs.seconds_per_pixel is None:
        return None
    if core is None:
        work = level.pixels * (level.steps + 2 * FORWARD_TIME_SHARE)            # + the targets' passes
    else:
        windows = window_pixels(level.height, level.width, core, inputs.halo)
        work = windows * (level.steps * (1 + FORWARD_TIME_SHARE) + 2 * FORWARD_TIME_SHARE)
    return work * inputs.seconds_per_pixel


def forward_fits(pixels: int, available: int) -> bool:
    """Whether a forward pass (no gradients) over `pixels` fits in `available` bytes."""
    return FORWARD_PASS.bytes(pixels) <= available


def tile_core_for_forward(width: int, height: int, available: int, halo: int) -> int | None:
    """The largest tile core whose forward pass fits in `available` bytes (None: the whole image fits)."""
    if forward_fits(width * height, available):
        return None
    for core in TILE_CORES:
        if core < max(width, height) and forward_fits(largest_window(core, width, height, halo), available):
            return core
    return TILE_CORES[-1]


__all__ = ["LEVEL_BUFFERS", "MIN_HISTORY", "TILE_CORES", "LevelPlan", "MemoryBudgetError", "PlanInputs", "RunPlan",
           "content_target_bytes", "forward_fits", "layer_channels", "plan_level", "plan_run",
           "tile_core_for_forward"]
