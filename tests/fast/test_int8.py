"""Fast mode in int8: calibration, the int8 networks, how precision auto picks them, and errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import brushwork
from brushwork.cli import main
from brushwork.device import cpu_has_fast_int8
from brushwork.fast.int8 import (ConvReLU, Int8Decoder, Int8Encoder, calibrate, decoder_layers, encoder_layers,
                                  int8_available, range_names)
from brushwork.fast.model import default_decoder_path, read_decoder_file, save_int8_ranges
from brushwork.fast.network import Encoder, StyleNetwork, TransferNetwork

from tests.conftest import EXAMPLES, make_content, make_style

pytestmark = pytest.mark.skipif(not int8_available(), reason="this torch has no quantized CPU kernels")
needs_vnni = pytest.mark.skipif(not cpu_has_fast_int8(), reason="int8 precision needs a CPU with VNNI")


def _tensor(image: Image.Image, size: int) -> torch.Tensor:
    return brushwork.imaging.to_tensor(image.resize((size, size)))


def test_shipped_decoder_carries_a_range_for_every_int8_layer(stylizer):
    decoder, ranges = read_decoder_file(default_decoder_path())
    assert ranges is not None
    layers = {**encoder_layers(Encoder(stylizer.weights)), **decoder_layers(decoder)}
    convolutions = {name for name, layer in layers.items() if isinstance(layer, ConvReLU)}
    joins = {f"decoder.{kind}{index}" for kind in ("skip", "sum") for index in (1, 4, 7)} if len(decoder.skips) else set()
    assert len(convolutions) == 9 + 7 and set(ranges) == {"encoder.input", *convolutions, *joins}
    assert set(ranges) == set(range_names(Encoder(stylizer.weights), decoder))
    assert all(r["scale"] > 0 and 0 <= r["zero_point"] <= 255 for r in ranges.values())


@needs_vnni           # (without VNNI, x86 kernels may saturate uint8 x int8 sums: brushwork uses int8 only with it)
def test_int8_networks_match_fp32_on_a_real_photo(stylizer, photo, strokes):
    encoder, (decoder, ranges) = Encoder(stylizer.weights), read_decoder_file()
    fp32 = TransferNetwork(encoder, decoder)
    int8 = TransferNetwork(Int8Encoder(encoder, ranges), Int8Decoder(decoder, ranges))
    content, style = _tensor(photo, 128), _tensor(strokes, 128)
    with torch.no_grad():
        vector = StyleNetwork(encoder, decoder.levels)(style)   # (fast mode computes them in bf16/fp32)
        reference, ours = fp32(content, vector), int8(content, vector)
    assert ours.shape == reference.shape and ours.dtype == torch.float32
    error = float((ours - reference).abs().mean()) * 255
    assert 0 < error < 7              # a few levels of rounding (bf16: ~1), not a new picture; and it ran in int8


def test_calibration_measures_every_layer_from_photos_and_paintings(stylizer):
    encoder, decoder = Encoder(stylizer.weights), read_decoder_file()[0]
    photos = [brushwork.imaging.to_tensor(make_content(64)), _tensor(make_style(48, seed=3), 64)]
    ranges = calibrate(encoder, decoder, iter(photos), [brushwork.imaging.to_tensor(make_style(48))])
    assert set(ranges) == set(read_decoder_file()[1])
    assert ranges["encoder.input"]["zero_point"] > 0          # BGR minus the mean: negative and positive
    assert ranges["encoder.relu1_1"]["zero_point"] == 0       # after a ReLU: nothing below zero
    with pytest.raises(ValueError, match="photo"):
        calibrate(encoder, decoder, iter([]), [photos[0]])


@needs_vnni
def test_precision_auto_runs_fast_mode_in_int8_and_bf16_gives_the_same_picture(stylizer, photo, strokes):
    auto = stylizer(photo, strokes, mode="fast", size=128)
    bf16 = stylizer(photo, strokes, mode="fast", size=128, precision="bf16")
    assert auto.precision == "int8" and bf16.precision == "bf16"
    difference = np.abs(np.asarray(auto.image, dtype=float) - np.asarray(bf16.image, dtype=float))
    # (levels of 255; the bundled strokes painting, read at 320 px, is int8's hardest case measured:
    # 13.6 here, against 2.4-6.6 on the benchmark pairs at 512 px; a blank or wrong picture is ~100)
    assert difference.mean() < 16
    thin = stylizer(make_content(40).resize((40, 1)), strokes, mode="fast", size=None, precision="int8")
    assert thin.image.size == (40, 1)


def test_int8_is_for_fast_mode_only(stylizer, photo, strokes, image_files, capsys):
    with pytest.raises(brushwork.InvalidInputError, match="int8 is for fast mode"):
        stylizer(photo, strokes, size=64, precision="int8")
    code = main(["stylize", str(image_files["content"]), str(image_files["style"]), "-o",
                 str(image_files["dir"] / "x.png"), "--precision", "int8", "--size", "32", "-q"])
    assert code == 2 and "int8 is for fast mode" in capsys.readouterr().err
    assert not (image_files["dir"] / "x.png").exists()


def _uncalibrated(tmp_path: Path) -> Path:
    payload = torch.load(default_decoder_path(), map_location="cpu", weights_only=True)
    del payload["int8"]
    path = tmp_path / "plain.pt"
    torch.save(payload, path)
    return path


@needs_vnni
def test_a_decoder_without_calibration_runs_bf16_on_auto_and_explains_on_int8(tmp_path, stylizer, photo, strokes):
    plain = brushwork.Stylizer(stylizer.weights, device="cpu", fast_weights=_uncalibrated(tmp_path))
    assert plain(photo, strokes, mode="fast", size=64).precision in {"bf16", "fp32"}
    with pytest.raises(brushwork.WeightsError, match="no int8 calibration.*calibrate-fast"):
        plain(photo, strokes, mode="fast", size=64, precision="int8")


@needs_vnni
def test_calibrate_fast_command_adds_ranges_and_keeps_the_weights(tmp_path, capsys):
    photos, paintings = tmp_path / "photos", tmp_path / "paintings"
    photos.mkdir(), paintings.mkdir()
    make_content(64).save(photos / "a.png")
    make_style(48).save(paintings / "b.png")
    source, target = _uncalibrated(tmp_path), tmp_path / "calibrated.pt"
    code = main(["calibrate-fast", "--content", str(photos), "--style", str(paintings), "--fast-weights",
                 str(source), "-o", str(target), "--size", "64"])
    assert code == 0 and "int8 ranges" in capsys.readouterr().err
    before, after = torch.load(source, weights_only=True), torch.load(target, weights_only=True)
    assert "int8" in after and all(torch.equal(before["decoder"][k], after["decoder"][k]) for k in before["decoder"])
    out = tmp_path / "out.png"
    assert main(["stylize", str(photos / "a.png"), str(paintings / "b.png"), "-o", str(out), "--fast",
                 "--fast-weights", str(target), "--precision", "int8", "--size", "64", "-q"]) == 0
    assert Image.open(out).size == (64, 48)
    # in place (output = input): the weights stay, the ranges are replaced
    assert save_int8_ranges(target, {"x": {"scale": 1.0, "zero_point": 0}}, target) == target
    assert torch.load(target, weights_only=True)["int8"] == {"x": {"scale": 1.0, "zero_point": 0}}
    with pytest.raises(brushwork.WeightsError, match="does not fit its decoder"):
        brushwork.Stylizer(device="cpu", fast_weights=target)(photos / "a.png", paintings / "b.png", mode="fast",
                                                              size=32, precision="int8")


def test_calibrate_fast_bad_input_is_one_line_exit_2(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code = main(["calibrate-fast", "--content", str(tmp_path / "empty"), "--style", str(tmp_path / "empty"),
                 "-o", str(tmp_path / "x.pt")])
    assert code == 2 and "holds no images" in capsys.readouterr().err
    code = main(["calibrate-fast", "--content", str(EXAMPLES), "--style", str(EXAMPLES), "--photos", "0",
                 "-o", str(tmp_path / "x.pt")])
    assert code == 2 and "--photos must be positive" in capsys.readouterr().err
    code = main(["calibrate-fast", "--content", str(EXAMPLES), "--style", str(EXAMPLES), "-o", str(tmp_path)])
    assert code == 2 and "cannot write" in capsys.readouterr().err
    assert not (tmp_path / "x.pt").exists()


def test_a_failed_write_is_one_line_and_leaves_nothing(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise RuntimeError("open file failed with strerror: No space left on device")

    monkeypatch.setattr(torch, "save", refuse)
    with pytest.raises(brushwork.InvalidInputError, match="cannot write"):
        save_int8_ranges(default_decoder_path(), {}, tmp_path / "out.pt")
    assert list(tmp_path.iterdir()) == []
