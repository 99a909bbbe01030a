"""Tiled evaluation (brushwork.tiling): the same features, loss and gradient as one whole-image pass."""

from __future__ import annotations

import pytest
import torch

from brushwork.engine import loss_terms
from brushwork.features import build_features
from brushwork.imaging import to_tensor
from brushwork.losses import gram_matrix, normalized_weights
from brushwork.options import make_options
from brushwork.tiling import (LossWeights, TiledLoss, halo_for, layer_stride, random_offset, tile_grid,
                              tiled_feature_maps, tiled_grams, total_variation_and_gradient)
from brushwork.losses import total_variation_loss

from .conftest import make_content, make_style

OPTS = make_options()
LAYERS = (*OPTS.content_layers, *OPTS.style_layers)


@pytest.fixture(scope="module")
def network(stylizer):
    return build_features(stylizer.weights, LAYERS, "avg", torch.device("cpu"), torch.float32)


@pytest.fixture(scope="module")
def image():
    """A 184x232 image: odd sizes, so poolings floor and the last tiles end off the grid."""
    content = to_tensor(make_content(232))[..., :174, :]
    noise = torch.rand(content.shape, generator=torch.Generator().manual_seed(3))
    return (0.7 * content + 0.3 * noise).clamp(0, 1)


def test_halo_adds_up_the_spoiled_rows_of_every_layer():
    assert halo_for(("relu1_1",)) == (1, 1)            # one 3x3 convolution: one spoiled row
    assert halo_for(("relu5_1",)) == (80, 16)          # 5 cells of 16 px
    assert halo_for(("relu4_2",)) == (40, 8)
    assert halo_for(OPTS.style_layers + OPTS.content_layers) == (80, 16)
    assert layer_stride("relu3_1") == 4 and layer_stride("pool3") == 8


def test_grid_covers_the_image_once_with_cores_on_the_alignment():
    tiles = tile_grid(174, 232, 48, 80, 16, offset=(32, 16))
    covered = torch.zeros(174, 232, dtype=torch.int32)
    for tile in tiles:
        top, left, bottom, right = tile.core
        covered[top:bottom, left:right] += 1
        assert top % 16 == 0 and left % 16 == 0
        assert tile.window[0] % 16 == 0 and tile.window[1] % 16 == 0
    assert torch.all(covered == 1)


def test_tiled_features_equal_the_whole_image_features(network, image):
    with torch.no_grad():
        whole = network(image, LAYERS)
    tiles = tile_grid(*image.shape[-2:], 96, 80, 16, offset=(16, 32))
    channels = {name: whole[name].shape[1] for name in LAYERS}
    maps = tiled_feature_maps(network, image, LAYERS, tiles, channels)
    for name in LAYERS:
        assert maps[name].shape == whole[name].shape
        torch.testing.assert_close(maps[name], whole[name], rtol=1e-4, atol=1e-3 * whole[name].abs().max().item())


def test_a_halo_too_narrow_changes_the_features(network, image):
    """The test above can fail: with half the halo the deep features near the cuts differ."""
    with torch.no_grad():
        whole = network(image, ("relu5_1",))["relu5_1"]
    tiles = tile_grid(*image.shape[-2:], 96, 32, 16)
    maps = tiled_feature_maps(network, image, ("relu5_1",), tiles, {"relu5_1": 512})
    assert (maps["relu5_1"] - whole).abs().max() > 1e-2 * whole.abs().max()


def test_tiled_grams_equal_whole_grams(network, image):
    with torch.no_grad():
        whole = {name: gram_matrix(v) for name, v in network(image, OPTS.style_layers).items()}
    grams = tiled_grams(network, image, OPTS.style_layers, tile_grid(*image.shape[-2:], 64, 80, 16))
    for name in OPTS.style_layers:
        torch.testing.assert_close(grams[name], whole[name], rtol=1e-4, atol=1e-4 * whole[name].abs().max().item())


def test_closed_form_total_variation_matches_autograd(image):
    pixels = image.clone().requires_grad_(True)
    total_variation_loss(pixels).backward()
    value, gradient = total_variation_and_gradient(image)
    assert value == pytest.approx(float(total_variation_loss(image)), rel=1e-5)
    torch.testing.assert_close(gradient, pixels.grad, rtol=1e-4, atol=1e-8)


def test_tiled_loss_and_gradient_equal_the_whole_image_pass(network, image):
    style = to_tensor(make_style(160))
    with torch.no_grad():
        content_targets = {k: v.float() for k, v in network(to_tensor(make_content(232))[..., :174, :],
                                                               OPTS.content_layers).items()}
        style_targets = {k: gram_matrix(v) for k, v in network(style, OPTS.style_layers).items()}
    weights = normalized_weights(OPTS.style_layers, None)
    pixels = image.clone().requires_grad_(True)
    terms = loss_terms(network, pixels, content_targets, style_targets, OPTS, weights)
    terms["total"].backward()
    loss = TiledLoss(network, content_targets, style_targets, LossWeights.from_options(OPTS))
    for offset in [(0, 0), random_offset(96, 16, torch.Generator().manual_seed(1))]:
        seen = []
        tiled_terms, gradient = loss(image, tile_grid(*image.shape[-2:], 96, 80, 16, offset),
                                     lambda done, total: seen.append((done, total)))
        for name in ("content", "style", "tv", "total"):
            assert tiled_terms[name] == pytest.approx(float(terms[name].detach()), rel=1e-4), name
        scale = pixels.grad.abs().max().item()
        torch.testing.assert_close(gradient, pixels.grad, rtol=1e-3, atol=1e-4 * scale)
        assert seen[-1][0] == seen[-1][1] == len(seen) and len(seen) % 2 == 0    # both passes, every tile
