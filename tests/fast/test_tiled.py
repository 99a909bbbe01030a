"""Fast mode in tiles (`brushwork.fast.tiled`): the same picture as one pass, statistics global."""

from __future__ import annotations

import pytest
import torch

from brushwork.device import Placement
from brushwork.fast.model import FastStylizer
from brushwork.fast.tiled import fast_plan, style_vector_tiled, transfer_halo
from brushwork.imaging import to_tensor

from tests.conftest import make_content, make_style


@pytest.fixture(scope="module")
def model(stylizer) -> FastStylizer:
    return FastStylizer(stylizer.weights, Placement(torch.device("cpu"), torch.float32))


@pytest.fixture(scope="module")
def photo() -> torch.Tensor:
    """A 224x168 photo with noise: detail everywhere, so a wrong halo or local statistics would show."""
    content = to_tensor(make_content(224))
    noise = torch.rand(content.shape, generator=torch.Generator().manual_seed(5))
    return (0.8 * content + 0.2 * noise).clamp(0, 1)


@pytest.mark.parametrize("strength", [1.0, 0.5])
def test_tiles_paint_the_picture_one_pass_paints(model, photo, strength):
    vector = model.style_vector(make_style(128), 256)
    whole = model.transfer(photo, vector, strength)
    tiled = model.transfer(photo, vector, strength, core=128)
    halo, _ = transfer_halo(model.transfer_network)
    assert 128 < max(photo.shape[-2:]) and halo > 0
    assert tiled.shape == whole.shape == photo.shape
    assert (tiled - whole).abs().max() < 2e-3                # fp32 sums in another order; no seams


def test_tiles_with_their_own_statistics_would_differ(model, photo):
    """The test above can fail: AdaIN per tile (each tile's own mean and std) changes the colours."""
    vector = model.style_vector(make_style(128), 256)
    whole = model.transfer(photo, vector, 1.0)
    left = model.transfer(photo[..., :112], vector, 1.0)     # the left half on its own statistics
    assert (left - whole[..., :112]).abs().mean() > 5e-3


def test_a_paintings_statistics_in_tiles_are_the_whole_paintings(model):
    painting = to_tensor(make_style(320))
    network = model.style_network
    whole = network(painting)
    tiled = style_vector_tiled(network.encoder, network.levels, painting, 1, lambda image: image)   # 1 byte: tiles
    assert tiled is not None and tiled.shape == whole.shape
    torch.testing.assert_close(tiled, whole.float(), rtol=1e-4, atol=1e-4)
    assert style_vector_tiled(network.encoder, network.levels, painting, 2**40, lambda image: image) is None


def test_the_plan_tiles_a_phone_photo_within_a_gigabyte(model):
    plan = fast_plan(model, 4000, 3000, 2**30, 450 * 2**20)
    level = plan.levels[0]
    assert level.tiled and level.tiles > 1 and level.peak <= 2**30
    assert not fast_plan(model, 4000, 3000, 32 * 2**30, 450 * 2**20).tiled       # a pass needs ~19 GB


def test_a_tiled_fast_run_reports_its_tiles_and_can_be_cancelled(stylizer, monkeypatch):
    from brushwork.callbacks import Progress
    from brushwork.errors import Cancelled

    monkeypatch.setattr(FastStylizer, "_tile_core", lambda self, content, budget: 128)   # a 12-MP photo's path
    seen: list[Progress] = []
    result = stylizer(make_content(224), make_style(96), mode="fast", precision="fp32", size=224, callback=seen.append)
    tiles = [p.tile for p in seen if not p.finished_step]
    total = tiles[-1][1]
    assert result.image.size == (224, 168) and total > 2 and tiles == [(n, total) for n in range(1, total + 1)]
    assert seen[-1].finished_step and seen[-1].step == seen[-1].total == 1

    def cancel(progress: Progress) -> None:
        if progress.tile == (1, total):
            raise Cancelled("stop")

    with pytest.raises(Cancelled):
        stylizer(make_content(224), make_style(96), mode="fast", precision="fp32", size=224, callback=cancel)
