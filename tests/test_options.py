import pytest

from brushwork import InvalidInputError, StyleOptions, make_options
from brushwork.schedule import plan_levels


def test_defaults_are_valid_and_frozen():
    options = StyleOptions()
    assert options.total_steps == options.epochs * options.steps_per_epoch
    with pytest.raises(Exception):
        options.size = 10  # type: ignore[misc]


@pytest.mark.parametrize("changes, message", [
    ({"size": 4}, "size"),
    ({"epochs": 0}, "epochs"),
    ({"style_weight": -1}, "style_weight"),
    ({"optimizer": "sgd"}, "optimizer"),
    ({"device": "tpu"}, "device must be"),
    ({"style_layers": ("relu9_9",)}, "unknown VGG-19 layer"),
    ({"style_layer_weights": (1.0, 2.0)}, "style_layer_weights has 2 values"),
    ({"style_blend_weights": (0.0, 0.0)}, "not all zero"),
    ({"colour": "none"}, "unknown option"),
    ({"init": "fast", "backend": "tensorflow"}, "init 'fast' starts from fast mode's picture"),
])
def test_bad_options_give_one_clear_line(changes, message):
    with pytest.raises(InvalidInputError, match=message) as caught:
        make_options(**changes)
    assert "\n" not in str(caught.value)


def test_replace_validates():
    options = make_options(size=64)
    assert options.replace(epochs=2).size == 64
    with pytest.raises(InvalidInputError):
        options.replace(epochs=-1)


def test_plan_levels_geometric_with_most_steps_small():
    levels = plan_levels(512, 384, scales=3, min_size=128, total_steps=125)
    assert [max(lv.width, lv.height) for lv in levels] == [128, 256, 512]
    assert sum(lv.steps for lv in levels) == 125
    assert levels[0].steps > levels[1].steps > levels[2].steps >= 1
    assert (levels[-1].width, levels[-1].height) == (512, 384)


def test_plan_levels_falls_back_to_one_level_when_small():
    assert len(plan_levels(64, 48, scales=3, min_size=128, total_steps=10)) == 1
    assert len(plan_levels(512, 512, scales=5, min_size=128, total_steps=3)) == 3


def test_auto_scales_one_level_per_doubling():
    assert [lv.width for lv in plan_levels(512, 384, scales=None, min_size=128, total_steps=125)] == [128, 256, 512]
    big = plan_levels(2048, 1536, scales=None, min_size=128, total_steps=125)
    assert [lv.width for lv in big] == [128, 256, 512, 1024, 2048]
    assert sum(lv.steps for lv in big) == 125
    assert len(plan_levels(100, 80, scales=None, min_size=128, total_steps=10)) == 1
