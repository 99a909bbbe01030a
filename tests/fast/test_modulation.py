"""The style-modulated decoder (the style vector scales and shifts every hidden layer): it starts as the
decoder it is made from, folds exactly, runs in int8, trains, exports and loads."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import brushwork
from brushwork.cli import main
from brushwork.device import cpu_has_fast_int8
from brushwork.fast.int8 import Int8Decoder, Int8Encoder, calibrate, int8_available
from brushwork.fast.model import read_decoder_file
from brushwork.fast.network import Decoder, Encoder, StyleNetwork, TransferNetwork, decoder_shape

from tests.conftest import make_content, make_style
from tests.fast.conftest import training_folders


def _tensor(image, size: int) -> torch.Tensor:
    return brushwork.imaging.to_tensor(image.resize((size, size)))


def _shipped_body() -> Decoder:
    """The shipped decoder without its modulation (the shipped one is modulated)."""
    state = {k: v for k, v in read_decoder_file()[0].state_dict().items() if not k.startswith("modulation.")}
    body = Decoder(decoder_shape(state)["widths"], skips=True)
    body.load_state_dict(state)
    return body.eval()


def _modulated_copy(decoder: Decoder, strength: float = 0.0) -> Decoder:
    """`decoder` with a modulation: zero (as training starts it) or random of about `strength`."""
    modulated = Decoder(decoder_shape(decoder.state_dict())["widths"], skips=len(decoder.skips) > 0, modulated=True)
    modulated.load_state_dict(decoder.state_dict(), strict=False)
    if strength:
        torch.manual_seed(0)
        with torch.no_grad():
            modulated.modulation.expand.weight.normal_(0, strength)
            modulated.modulation.expand.bias.normal_(0, strength)
    return modulated.eval()


def test_a_new_modulated_decoder_is_the_decoder_it_starts_from(stylizer):
    shipped = _shipped_body()
    modulated = _modulated_copy(shipped)
    assert decoder_shape(modulated.state_dict())["modulated"] and not decoder_shape(shipped.state_dict())["modulated"]
    encoder = Encoder(stylizer.weights)
    content, style = _tensor(make_content(48), 48), _tensor(make_style(40), 40)
    with torch.no_grad():
        vector = StyleNetwork(encoder, shipped.levels)(style)
        before, after = (TransferNetwork(encoder, d)(content, vector) for d in (shipped, modulated))
    assert torch.equal(before, after)
    with pytest.raises(ValueError, match="style vector"):       # a modulated decoder needs the style
        modulated(torch.zeros(1, 512, 4, 4), [torch.zeros(1, c, 4 * 2 ** i, 4 * 2 ** i)
                                              for i, c in enumerate((256, 128, 64), start=1)])


@pytest.mark.parametrize("skips", [False, True])
def test_the_modulation_changes_the_picture_per_style_and_folds_exactly(stylizer, skips):
    decoder = _modulated_copy(Decoder(skips=skips), strength=0.005)
    encoder = Encoder(stylizer.weights)
    content = _tensor(make_content(48), 48)
    a, b = (StyleNetwork(encoder, decoder.levels)(_tensor(make_style(40, seed=s), 40)) for s in (1, 2))
    with torch.no_grad():
        unmodulated = Decoder(skips=skips)
        unmodulated.load_state_dict({k: v for k, v in decoder.state_dict().items() if not k.startswith("modulation.")})
        plain = TransferNetwork(encoder, decoder)(content, a, torch.tensor([0.8]))
        folded = TransferNetwork(encoder, decoder, fold_adain=True)(content, a, torch.tensor([0.8]))
        without = TransferNetwork(encoder, unmodulated)(content, a, torch.tensor([0.8]))
        # strength 0: the photo's own vector sets the modulation too, whatever the style
        zero = torch.zeros(1)
        transfer = TransferNetwork(encoder, decoder)
        torch.testing.assert_close(transfer(content, a, zero), transfer(content, b, zero), atol=1e-5, rtol=0)
    torch.testing.assert_close(folded, plain, atol=1e-4, rtol=0)
    assert float((plain - without).abs().mean()) > 0.01


@pytest.mark.skipif(not (int8_available() and cpu_has_fast_int8()), reason="int8 needs quantized kernels and VNNI")
def test_int8_modulated_decoder_matches_fp32(stylizer, photo, strokes):
    decoder = _modulated_copy(_shipped_body(), strength=0.002)
    encoder = Encoder(stylizer.weights)
    content, style = _tensor(photo, 96), _tensor(strokes, 96)
    ranges = calibrate(encoder, decoder, iter([content]), [style])
    fp32 = TransferNetwork(encoder, decoder)
    int8 = TransferNetwork(Int8Encoder(encoder, ranges), Int8Decoder(decoder, ranges))
    with torch.no_grad():
        vector = StyleNetwork(encoder, decoder.levels)(style)
        reference, ours = fp32(content, vector), int8(content, vector)
        pair = int8(content.repeat(2, 1, 1, 1), vector.repeat(2, 1))           # a batch: folded per image
        unmodulated = TransferNetwork(encoder, _shipped_body())(content, vector)
    error = float((ours - reference).abs().mean()) * 255
    assert 0 < error < 8                                                        # rounding, not a new picture
    assert float((unmodulated - reference).abs().mean()) * 255 > 2 * error     # and the modulation does show
    torch.testing.assert_close(pair, ours.repeat(2, 1, 1, 1))


def test_training_a_modulated_decoder_from_a_shipped_one(tmp_path, capsys):
    content, style = training_folders(tmp_path)
    out, exported = tmp_path / "run", tmp_path / "modulated.pt"
    shipped = str(brushwork.fast.model.default_decoder_path())
    args = ["train-fast", "--content", str(content), "--style", str(style), "-o", str(out), "--batch-size", "2",
            "--crop", "32", "--style-crops", "1", "--checkpoint-every", "2", "--steps", "2", "--device", "cpu",
            "--precision", "fp32", "--skips", "--objective", "gatys", "--gram-weight", "10", "--identity-weight", "0",
            "--learning-rate", "1e-3"]
    assert main([*args, "--modulate", "--init", shipped, "--export", str(exported)]) == 0
    trained = torch.load(out / "checkpoint-last.pt", weights_only=True)["decoder"]
    assert float(trained["modulation.expand.weight"].abs().max()) > 0          # the modulation learned,
    assert not torch.equal(trained["modulation.spread"], torch.ones_like(trained["modulation.spread"]))
    assert float(trained["modulation.center"].abs().max()) > 0               # its input standardised
    decoder, ranges = read_decoder_file(exported)
    assert decoder.modulation is not None and ranges
    stylizer = brushwork.Stylizer(fast_weights=exported)
    for precision in ("fp32", "auto"):         # (auto: int8 where the CPU has VNNI, with the exported ranges)
        assert stylizer(make_content(48), make_style(40), mode="fast", size=48, precision=precision).image.size == (48, 36)
    # resuming without --modulate, or starting an unmodulated decoder from a modulated one: one line, exit 2
    capsys.readouterr()
    assert main([*args, "--steps", "4"]) == 2
    assert "--modulate" in capsys.readouterr().err
    assert main([*args, "-o", str(tmp_path / "other"), "--init", str(exported)]) == 2
    assert "--modulate" in capsys.readouterr().err and not (tmp_path / "other").exists()


def _painting(kind: str, size: int = 192) -> Image.Image:
    """Pictures unlike the training paintings: a near-black starfield, two-colour stripes, one flat colour."""
    rng = np.random.default_rng(3)
    if kind == "dark":
        image = rng.gamma(0.3, 0.03, (size, size, 3)).clip(0, 1)
    elif kind == "stripes":
        return make_style(size)
    else:
        image = np.broadcast_to([0.8, 0.3, 0.15], (size, size, 3))
    return Image.fromarray((image * 255).astype(np.uint8))


@pytest.mark.parametrize("kind", ["dark", "stripes", "flat"])
@pytest.mark.parametrize("size", [128, 384])
def test_the_shipped_decoder_paints_unusual_paintings_sanely(stylizer, photo, kind, size):
    # The modulation maps the style vector to per-channel scales; a decoder that learnt that map
    # only at its few dozen training paintings turned such pictures into neon or blank images.
    painting = _painting(kind)
    result = np.asarray(stylizer(photo, painting, mode="fast", size=size).image, dtype=np.float64) / 255
    assert 0.03 < result.mean() < 0.97 and result.std() > 0.01          # a picture, not a blank
    if kind != "stripes":   # (a two-colour texture is painted anew: its mean colour need not survive)
        wanted = np.asarray(painting, dtype=np.float64).reshape(-1, 3).mean(0) / 255
        assert np.abs(result.reshape(-1, 3).mean(0) - wanted).max() < 0.2   # the painting's colours


def test_hue_rotation_keeps_luma_and_comes_round():
    from brushwork.fast.training.data import _RGB_TO_YIQ, rotate_hue

    torch.manual_seed(0)
    image = 0.3 + 0.4 * torch.rand(3, 8, 8)              # mid-tones: no clipping on the way
    luma = torch.einsum("j,jhw->hw", _RGB_TO_YIQ[0], image)
    turned = rotate_hue(image, 120)
    assert not torch.allclose(turned, image, atol=1e-2)
    assert torch.allclose(torch.einsum("j,jhw->hw", _RGB_TO_YIQ[0], turned), luma, atol=1e-5)
    assert torch.allclose(rotate_hue(rotate_hue(turned, 120), 120), image, atol=1e-5)


def test_style_augment_recolours_the_cached_painting_crops(tmp_path, capsys):
    import random

    from brushwork.fast.train import augment_painting

    crop = torch.rand(3, 16, 16)
    a, b = augment_painting(crop, random.Random(5)), augment_painting(crop, random.Random(5))
    assert torch.equal(a, b) and a.shape == crop.shape and 0 <= a.min() and a.max() <= 1
    assert not torch.allclose(a, crop, atol=1e-2)
    content, style = training_folders(tmp_path)
    code = main(["train-fast", "--content", str(content), "--style", str(style), "-o", str(tmp_path / "run"),
                 "--steps", "2", "--batch-size", "2", "--crop", "32", "--style-crops", "3", "--style-augment",
                 "--skips", "--modulate", "--objective", "gatys", "--gram-weight", "10", "--identity-weight", "0",
                 "--device", "cpu", "--precision", "fp32", "--checkpoint-every", "2", "-q"])
    assert code == 0
    assert '"style_augment": true' in (tmp_path / "run" / "config.json").read_text()
