"""brushwork.plotting: the notebooks' figures, drawn off-screen with the Agg backend."""

import matplotlib
import pytest
import torch
from PIL import Image

from brushwork import BrushworkError, LossHistory, Progress, plotting

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_strongest_channels_orders_by_variation_and_scales_to_unit_range():
    features = torch.zeros(1, 4, 5, 5)
    features[0, 1] = torch.arange(25.0).view(5, 5)          # varies most
    features[0, 3, 0, 0] = 2.0                               # varies a little
    features[0, 2] = 7.0                                     # flat: shows nothing
    maps = plotting.strongest_channels(features, 2)
    assert maps.shape == (2, 5, 5)
    assert torch.equal(maps[0], torch.arange(25.0).view(5, 5) / 24)
    assert maps[1, 0, 0] == 1.0 and maps[1].sum() == 1.0
    assert plotting.strongest_channels(features, 10).shape[0] == 4


def test_image_figures_have_one_panel_per_image():
    picture = Image.new("RGB", (40, 30), "blue")
    tensor = torch.rand(1, 3, 30, 40)
    figure = plotting.show_images([picture, tensor, tensor[0]], ["a", "b", "c"])
    assert [ax.get_title() for ax in figure.axes] == ["a", "b", "c"]
    grid = plotting.show_grid([[picture, picture, picture], [tensor]], row_labels=["r1", "r2"],
                              col_labels=["x", "y", "z"])
    assert len(grid.axes) == 6
    assert grid.axes[0].get_ylabel() == "r1" and grid.axes[2].get_title() == "z"
    assert not grid.axes[4].axison                           # the empty cells stay blank


def test_feature_maps_and_grams():
    features = {"relu1_1": torch.rand(1, 64, 16, 16), "relu3_1": torch.rand(1, 256, 4, 4)}
    figure = plotting.show_feature_maps(features, per_layer=3)
    assert len(figure.axes) == 6 and figure.axes[3].get_ylabel() == "relu3_1\n256×4×4"
    grams = plotting.show_grams({"content": torch.rand(1, 8, 8), "style": torch.rand(1, 8, 8)})
    assert [ax.get_title() for ax in grams.axes] == ["content\n8×8", "style\n8×8"]


def test_loss_plot_marks_each_level():
    history = LossHistory()
    for step in range(1, 7):
        size = (32, 32) if step <= 4 else (64, 64)
        history(Progress(step=step, total=6, epoch=1, epochs=1, scale=1, scales=2, size=size,
                         losses={"content": 0.1, "style": 1.0 / step, "tv": 0.01, "total": 2.0},
                         elapsed=0.0, eta=0.0))
    figure = plotting.plot_losses(history)
    ax = figure.axes[0]
    assert [line.get_label() for line in ax.get_lines()[:4]] == ["content", "style", "tv", "total"]
    assert len(ax.get_lines()) == 5                          # four curves and one level boundary
    assert [text.get_text() for text in ax.texts] == ["32×32", "64×64"]
    assert ax.get_yscale() == "log"
    with pytest.raises(BrushworkError, match="empty"):
        plotting.plot_losses(LossHistory())
    curves = plotting.plot_curves({"a": [3, 2, 1], "b": [3, 3, 3]}, log=False)
    assert [line.get_label() for line in curves.axes[0].get_lines()] == ["a", "b"]


def test_loss_plot_is_not_stretched_by_a_zero_start():
    history = LossHistory()
    for step, content in enumerate([0.0, 1e-9, 0.1, 0.2], start=1):
        history(Progress(step=step, total=4, epoch=1, epochs=1, scale=1, scales=1, size=(8, 8),
                         losses={"content": content, "style": 1.0, "tv": 0.01, "total": 2.0},
                         elapsed=0.0, eta=0.0))
    bottom, top = plotting.plot_losses(history).axes[0].get_ylim()
    assert bottom >= 2.0 * 1e-3 and top >= 2.0


def test_grams_share_one_colour_scale():
    figure = plotting.show_grams({"weak": torch.full((1, 4, 4), 0.5), "strong": torch.full((1, 4, 4), 8.0)})
    weak, strong = (ax.get_images()[0] for ax in figure.axes)
    assert weak.norm.vmax == strong.norm.vmax == 8.0
