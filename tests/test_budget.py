"""Memory budgets (`max_memory`): sizes, the run plan, refusals, and a real run through tiled levels."""

from __future__ import annotations

import numpy as np
import pytest

from brushwork.callbacks import Progress
from brushwork.errors import Cancelled, InvalidInputError, MemoryBudgetError
from brushwork.lbfgs import LBFGS_HISTORY
from brushwork.memory import format_size, parse_size
from brushwork.options import make_options
from brushwork.planning import MIN_HISTORY, LevelPlan, PlanInputs, RunPlan, plan_run
from brushwork.schedule import Level
from brushwork.tiling import grid_count

from .conftest import make_content, make_style

GB, MB = 2**30, 2**20


@pytest.mark.parametrize("text, size", [("3GB", 3 * GB), ("1500MB", 1500 * MB), ("2.5g", int(2.5 * GB)),
                                        ("800M", 800 * MB), (4096, 4096)])
def test_sizes_read_with_binary_units(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["lots", "3 parsecs", "-1GB", 0, True])
def test_bad_sizes_are_refused(text):
    with pytest.raises(InvalidInputError):
        parse_size(text)


def test_sizes_print_as_they_are_read():
    assert format_size(3 * GB) == "3.0 GB" and format_size(640 * MB) == "640 MB"
    assert make_options(max_memory="1500MB").max_memory == 1500 * MB


def _inputs(budget: int, **changes) -> PlanInputs:
    values = dict(budget=budget, baseline=400 * MB, resident=0, full_size=(4096, 3072), halo=80, alignment=16,
                  content_layers=("relu4_2",), lbfgs=True)
    values.update(changes)
    return PlanInputs(**values)


def test_a_level_that_fits_runs_whole_with_the_full_history():
    plan = plan_run([Level(512, 384, 100)], _inputs(8 * GB, full_size=(512, 384)))
    level = plan.levels[0]
    assert not level.tiled and level.tiles == 1 and level.history == LBFGS_HISTORY
    assert level.peak <= 8 * GB and not plan.tiled


def test_a_print_size_level_is_cut_into_tiles_within_the_budget():
    plan = plan_run([Level(1024, 768, 50), Level(4096, 3072, 20)], _inputs(4 * GB))
    small, large = plan.levels
    assert not small.tiled
    assert large.tiled and large.tiles == grid_count(3072, 4096, large.core) > 1
    assert large.core % 16 == 0 and MIN_HISTORY <= large.history < LBFGS_HISTORY
    assert all(level.peak <= 4 * GB for level in plan.levels)
    assert plan.lines()[0].startswith("plan: peak ~") and "tiles of" in plan.lines()[2]
    assert plan.as_dict()["levels"][1]["core"] == large.core


def test_a_tighter_budget_shortens_the_history_before_refusing():
    level = plan_run([Level(4096, 3072, 20)], _inputs(3 * GB)).levels[0]
    assert level.tiled and 1 <= level.history < MIN_HISTORY and level.peak <= 3 * GB


def test_more_memory_gives_larger_tiles_and_a_longer_history():
    tight = plan_run([Level(4096, 3072, 20)], _inputs(4 * GB)).levels[0]
    roomy = plan_run([Level(4096, 3072, 20)], _inputs(6 * GB)).levels[0]
    assert (roomy.core or 10**9) >= tight.core and roomy.history >= tight.history


def test_a_budget_without_room_for_one_tile_is_refused_in_one_line():
    with pytest.raises(MemoryBudgetError, match=r"^max_memory: a budget of 500 MB cannot hold one tile") as error:
        plan_run([Level(4096, 3072, 20)], _inputs(500 * MB))
    assert "\n" not in str(error.value)


def test_the_library_refuses_a_budget_before_the_first_step(stylizer, content_image, style_image):
    seen: list[Progress] = []
    with pytest.raises(MemoryBudgetError, match="max_memory"):
        stylizer(content_image, style_image, size=48, scales=1, epochs=1, steps_per_epoch=2,
                 max_memory="64MB", callback=seen.append)
    assert seen == []


def _forced_tiles(stylizer, monkeypatch, core: int) -> None:
    """Make every level of the plan tiled with `core` px cores: a budget that forces tiles needs a
    print-size image, too slow for the suite; the tiled optimizer is the same either way."""
    original = type(stylizer)._plan_for

    def plan(self, *args, **kwargs) -> RunPlan:
        made = original(self, *args, **kwargs)
        levels = tuple(LevelPlan(lv.width, lv.height, lv.steps, core, grid_count(lv.height, lv.width, core),
                                 lv.history, lv.peak, lv.seconds) for lv in made.levels)
        return RunPlan(levels, made.budget, made.halo)

    monkeypatch.setattr(type(stylizer), "_plan_for", plan)


@pytest.mark.slow
def test_a_run_through_tiled_levels_paints_and_reports_its_tiles(stylizer, monkeypatch):
    _forced_tiles(stylizer, monkeypatch, 96)
    seen: list[Progress] = []
    result = stylizer(make_content(160), make_style(96), size=160, scales=1, epochs=1, steps_per_epoch=3,
                      seed=0, callback=seen.append)
    steps = [p for p in seen if p.finished_step]
    assert result.image.size == (160, 120) and [p.step for p in steps] == [1, 2, 3]
    planned = result.plan.levels[0]
    assert result.plan.tiled and planned.core == 96 and planned.tiles > 1
    for step in (1, 2, 3):                              # two passes over the step's tiles, in order
        tiles = [p.tile for p in seen if p.step == step and not p.finished_step]
        total = tiles[-1][1]
        assert tiles == [(done, total) for done in range(1, total + 1)] and total % 2 == 0
        assert 4 <= total // 2 <= planned.tiles          # the grid moves: 2x2 to the planned worst case
    assert steps[-1].losses["style"] < steps[0].losses["style"]
    assert np.asarray(result.image, dtype=np.float32).std() > 10                                          # a picture, not a flat field


def test_a_callback_can_cancel_between_tiles(stylizer, monkeypatch):
    _forced_tiles(stylizer, monkeypatch, 96)
    seen: list[Progress] = []

    def cancel_on_the_second_tile(progress: Progress) -> None:
        seen.append(progress)
        if progress.tile is not None and progress.tile[0] == 2:
            raise Cancelled("stop")

    with pytest.raises(Cancelled):
        stylizer(make_content(160), make_style(96), size=160, scales=1, epochs=1, steps_per_epoch=4,
                 callback=cancel_on_the_second_tile)
    assert [p.tile[0] for p in seen] == [1, 2]                        # no step finished


@pytest.mark.slow
def test_tiles_leave_no_seams(stylizer, monkeypatch):
    """The same run whole and in moving tiles gives the same picture, along tile boundaries too."""
    options = dict(size=160, scales=1, epochs=1, steps_per_epoch=3, seed=0)
    whole = np.asarray(stylizer(make_content(160), make_style(96), **options).image, dtype=np.float32)
    _forced_tiles(stylizer, monkeypatch, 96)
    tiled = np.asarray(stylizer(make_content(160), make_style(96), **options).image, dtype=np.float32)
    difference = np.abs(tiled - whole).max(axis=2)
    assert difference.mean() < 0.5 and difference.max() <= 4            # 8-bit levels
    # no column or row (a cut falls on multiples of 16 px) differs more than the picture does at large
    assert difference.mean(axis=0).max() < 1.5 and difference.mean(axis=1).max() < 1.5


def test_a_cli_run_in_tiles_shows_them_and_writes_the_picture(stylizer, monkeypatch, capsys, image_files):
    from brushwork.cli import main

    _forced_tiles(stylizer, monkeypatch, 64)
    out = image_files["dir"] / "tiled.png"
    code = main(["stylize", str(image_files["content"]), str(image_files["style"]), "-o", str(out), "--size", "96",
                 "--scales", "1", "--epochs", "1", "--steps-per-epoch", "2", "--max-memory", "8GB"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "tiles of 64 px (+80 px halo)" in err and out.exists()
