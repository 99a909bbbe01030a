"""End-to-end runs with the real VGG-19 on tiny images."""

import numpy as np
import pytest
import torch
from PIL import Image

from brushwork import Cancelled, CancelToken, InvalidInputError, LossHistory, Progress, colour, imaging
from brushwork.metrics import score

from .conftest import EXAMPLES, make_content, make_style

TINY = dict(size=64, epochs=2, steps_per_epoch=6, scales=1)


def _low_frequency_correlation(a: Image.Image, b: Image.Image) -> float:
    small = [np.asarray(im.convert("L").resize((16, 11), Image.Resampling.BOX), float).ravel() for im in (a, b)]
    return float(np.corrcoef(*small)[0, 1])


def test_style_loss_falls_and_content_stays_recognisable(stylizer):
    content, style = Image.open(EXAMPLES / "chelsea.jpg"), Image.open(EXAMPLES / "strokes.png")
    history = LossHistory()
    result = stylizer(content, style, callback=history, size=128, epochs=3, steps_per_epoch=10,
                      scales=2, min_scale_size=64)
    assert result.image.size == (128, 85)
    style_losses = history.series("style")
    assert style_losses[-1] < style_losses[0] / 5     # the style loss fell by a large factor
    scores = score(stylizer, result.image, content, style)
    photo = score(stylizer, content, content, style)
    assert scores.style < photo.style / 2             # much closer to the style than the photo was
    # and the cat is still there: the result's coarse light and dark follow the photo's
    assert _low_frequency_correlation(result.image, content.resize(result.image.size)) > 0.6
    assert _low_frequency_correlation(style.resize(result.image.size), content.resize(result.image.size)) < 0.3


def test_progress_records(stylizer, content_image, style_image):
    seen: list[Progress] = []
    stylizer(content_image, style_image, callback=seen.append, preview_every=5, **TINY)
    assert [p.step for p in seen] == list(range(1, 13))
    assert all(p.total == 12 for p in seen) and seen[-1].eta == 0.0
    assert seen[5].epoch == 1 and seen[6].epoch == 2 and seen[0].epochs == 2
    assert [p.step for p in seen if p.preview is not None] == [5, 10, 12]
    assert set(seen[0].losses) == {"content", "style", "tv", "total"}


def test_cancel_stops_the_run(stylizer, content_image, style_image):
    token = CancelToken()

    def cancel_at_three(progress: Progress) -> None:
        if progress.step == 3:
            token.cancel()
        token.check(progress)

    with pytest.raises(Cancelled):
        stylizer(content_image, style_image, callback=cancel_at_three, **TINY)


def test_seed_makes_noise_runs_repeatable(stylizer, content_image, style_image):
    runs = [np.asarray(stylizer(content_image, style_image, init="noise", seed=seed, **TINY).image)
            for seed in (3, 3, 4)]
    assert np.array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])


def test_several_styles_blend(stylizer, content_image):
    red, blue = make_style(seed=1), make_style(seed=2).transpose(0)
    result = stylizer(content_image, [red, blue], style_blend_weights=(1.0, 1.0), **TINY)
    assert result.image.size == (64, 48)
    with pytest.raises(InvalidInputError, match="2 values for 1 style"):
        stylizer(content_image, red, style_blend_weights=(1.0, 1.0), **TINY)


def test_luminance_preservation_keeps_content_colours(stylizer, content_image, style_image):
    result = stylizer(content_image, style_image, preserve_colour="luminance", **TINY)
    out = imaging.to_tensor(result.image)
    content = imaging.to_tensor(content_image.resize(result.image.size))
    chroma = lambda t: colour.rgb_to_yiq(t)[:, 1:]  # noqa: E731
    assert (chroma(out) - chroma(content)).abs().mean() < 0.02  # clamping to [0, 1] moves a little
    plain = imaging.to_tensor(stylizer(content_image, style_image, **TINY).image)
    assert (chroma(plain) - chroma(content)).abs().mean() > 0.05  # without it the colours change


def test_luminance_matching_takes_the_contents_mean_and_spread_even_for_one_pixel():
    style = imaging.to_tensor(make_style())
    for content in (imaging.to_tensor(make_content()), torch.full((1, 3, 1, 1), 0.4)):
        matched = colour.luminance(colour.match_luminance(style, content))
        assert torch.isfinite(matched).all()
        assert torch.allclose(matched.mean(), colour.luminance(content).mean(), atol=0.02)


def test_histogram_matching_moves_style_colours():
    style, content = imaging.to_tensor(make_style()), imaging.to_tensor(make_content())
    matched = colour.match_histogram(style, content)
    assert torch.allclose(matched.mean(dim=(2, 3)), content.mean(dim=(2, 3)), atol=0.03)


def test_adam_and_init_image_and_alpha(stylizer, content_image, style_image):
    rgba = content_image.convert("RGBA")
    result = stylizer(rgba, style_image, optimizer="adam", init="image", init_image=style_image, **TINY)
    assert result.image.mode == "RGB"  # fully opaque alpha is not kept
    with pytest.raises(InvalidInputError, match="init_image"):
        stylizer(content_image, style_image, init="image", **TINY)


def test_original_size_and_style_scale(stylizer, style_image):
    content = make_content(40)
    result = stylizer(content, style_image, size=None, style_scale=0.5, epochs=1, steps_per_epoch=3)
    assert result.image.size == content.size


def test_style_targets_are_cached(stylizer, content_image, style_image):
    stylizer._style_cache.clear()
    stylizer(content_image, style_image, **TINY)
    cached = len(stylizer._style_cache)
    stylizer(content_image, style_image, **TINY)
    assert cached == 1 and len(stylizer._style_cache) == 1


def test_stylizer_reports_device_and_refuses_missing_cuda(stylizer, content_image, style_image):
    result = stylizer(content_image, style_image, epochs=1, steps_per_epoch=1, size=32)
    assert result.device == "cpu" and result.precision in {"fp32", "bf16"}
    if not torch.cuda.is_available():
        from brushwork import DeviceError

        with pytest.raises(DeviceError, match="CUDA"):
            stylizer(content_image, style_image, device="cuda", epochs=1, steps_per_epoch=1, size=32)


def test_bf16_reaches_fp32_quality(stylizer, content_image, style_image):
    fp32 = stylizer(content_image, style_image, precision="fp32", **TINY)
    bf16 = stylizer(content_image, style_image, precision="bf16", **TINY)
    assert bf16.precision == "bf16"
    a, b = (score(stylizer, r.image, content_image, style_image) for r in (fp32, bf16))
    assert b.style < a.style * 1.3 and b.content < a.content * 1.3


def test_module_level_stylize_returns_image(content_image, style_image):
    import brushwork

    image = brushwork.stylize(content_image, style_image, size=32, epochs=1, steps_per_epoch=2, device="cpu")
    assert image.size == (32, 24)


def test_content_detail_is_the_band_finer_than_the_coarse_level():
    import torch

    from brushwork.pipeline import content_detail

    flat = torch.full((1, 3, 32, 48), 0.4)
    assert content_detail(flat, (8, 12)).abs().max() < 1e-6          # no detail in a flat photo
    stripes = torch.zeros(1, 3, 32, 48)
    stripes[..., ::2] = 1.0                                           # one-pixel stripes: all fine detail
    detail = content_detail(stripes, (8, 12))
    assert detail.abs().mean() > 0.4
    assert abs(float(detail.mean())) < 1e-3                           # detail adds no overall brightness


@pytest.mark.parametrize("content_size, style_size", [((1, 40), (64, 64)), ((64, 64), (1, 40)), ((2, 2), (3, 3))])
def test_tiny_and_very_thin_images_still_stylize(stylizer, content_size, style_size):
    """VGG halves the image four times: a 1-px side must stay 1 px, not vanish into an error."""
    content, style = Image.new("RGB", content_size, "red"), Image.new("RGB", style_size, "blue")
    for mode in ("optimize", "fast"):
        result = stylizer(content, style, size=None, epochs=1, steps_per_epoch=2, mode=mode)
        assert result.image.size == content_size
