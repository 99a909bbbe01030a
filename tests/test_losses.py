import pytest
import torch

from brushwork.losses import (blend_grams, content_loss, gram_matrix, normalized_weights, relative_squared_error,
                              style_loss, total_variation_loss)


def test_gram_matrix_hand_computed():
    # two channels over a 1x2 image: f0 = (1, 2), f1 = (3, 4)
    features = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])
    expected = torch.tensor([[[1 + 4, 3 + 8], [3 + 8, 9 + 16]]]) / 2.0
    assert torch.allclose(gram_matrix(features), expected)


def test_gram_same_for_channels_last():
    features = torch.randn(1, 8, 5, 7)
    assert torch.allclose(gram_matrix(features.contiguous(memory_format=torch.channels_last)),
                          gram_matrix(features), atol=1e-5)


def test_gram_is_invariant_to_pixel_permutation():
    features = torch.randn(1, 8, 5, 7)
    permuted = features.flatten(2)[..., torch.randperm(35)].reshape(1, 8, 5, 7)
    assert torch.allclose(gram_matrix(features), gram_matrix(permuted), atol=1e-5)


def test_gram_does_not_grow_with_image_size():
    small = torch.rand(1, 4, 8, 8)
    tiled = small.repeat(1, 1, 2, 2)
    assert torch.allclose(gram_matrix(small), gram_matrix(tiled), atol=1e-6)


def test_relative_squared_error_hand_computed():
    value, target = torch.tensor([1.0, 2.0]), torch.tensor([2.0, 2.0])
    assert relative_squared_error(value, target).item() == pytest.approx(1.0 / 8.0)
    assert content_loss(target, target).item() == 0.0


def test_style_loss_weights_layers():
    target = {"a": torch.ones(1, 2, 2), "b": torch.ones(1, 2, 2)}
    grams = {"a": torch.zeros(1, 2, 2), "b": torch.ones(1, 2, 2)}  # layer a fully wrong, b exact
    assert style_loss(grams, target, {"a": 0.25, "b": 0.75}).item() == pytest.approx(0.25)


def test_total_variation():
    assert total_variation_loss(torch.full((1, 3, 4, 4), 0.3)).item() == 0.0
    ramp = torch.arange(4.0).view(1, 1, 1, 4).expand(1, 3, 4, 4)
    assert total_variation_loss(ramp).item() == pytest.approx(1.0)  # dx = 1 everywhere, dy = 0


def test_blend_and_normalized_weights():
    a, b = {"x": torch.zeros(1, 1, 1)}, {"x": torch.ones(1, 1, 1)}
    assert blend_grams([a, b], [1, 3])["x"].item() == pytest.approx(0.75)
    assert normalized_weights(["p", "q"], None) == {"p": 0.5, "q": 0.5}
    assert normalized_weights(["p", "q"], [1, 3]) == {"p": 0.25, "q": 0.75}
