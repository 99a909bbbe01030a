"""The skip decoder (relu3_1..relu1_1 beside relu4_1), its int8 path, and training it on the optimizer's losses."""

from __future__ import annotations

import csv

import pytest
import torch

import brushwork
from brushwork.cli import main
from brushwork.device import cpu_has_fast_int8
from brushwork.fast import network
from brushwork.fast.int8 import Int8Decoder, Int8Encoder, calibrate, int8_available
from brushwork.fast.model import load_decoder, read_decoder_file
from brushwork.fast.network import Decoder, Encoder, StyleNetwork, TransferNetwork

from tests.conftest import make_content, make_style
from tests.fast.conftest import training_folders


def _plain_and_skip() -> tuple[Decoder, Decoder]:
    plain = Decoder()
    skip = Decoder(skips=True)
    skip.load_state_dict(plain.state_dict(), strict=False)
    return plain, skip


def _tensor(image, size: int) -> torch.Tensor:
    return brushwork.imaging.to_tensor(image.resize((size, size)))


def test_a_new_skip_decoder_is_the_plain_decoder_it_starts_from(stylizer):
    plain, skip = _plain_and_skip()
    assert skip.levels == ("relu4_1", "relu3_1", "relu2_1", "relu1_1") and plain.levels == ("relu4_1",)
    encoder = Encoder(stylizer.weights)
    content, style = _tensor(make_content(48), 48), _tensor(make_style(40), 40)
    with torch.no_grad():
        vectors = StyleNetwork(encoder, plain.levels)(style), StyleNetwork(encoder, skip.levels)(style)
        assert vectors[0].shape == (1, 1024) and vectors[1].shape == (1, network.vector_size(skip.levels)) == (1, 1920)
        assert torch.equal(vectors[1][:, :1024], vectors[0])        # relu4_1's part comes first, unchanged
        outputs = [TransferNetwork(encoder, d)(content, v) for d, v in zip((plain, skip), vectors)]
    assert torch.allclose(outputs[0], outputs[1], atol=1e-6)         # zero-initialised skips add nothing


def test_skip_levels_change_the_picture_and_strength_zero_keeps_the_photos_statistics(stylizer):
    _, skip = _plain_and_skip()
    torch.manual_seed(0)
    for conv in skip.skips:
        torch.nn.init.normal_(conv.weight, std=0.05)
    encoder = Encoder(stylizer.weights)
    content = _tensor(make_content(48), 48)
    styles = [_tensor(make_style(40, seed=s), 40) for s in (1, 2)]
    with torch.no_grad():
        a, b = (StyleNetwork(encoder, skip.levels)(s) for s in styles)
        transfer = TransferNetwork(encoder, skip)
        assert not torch.allclose(transfer(content, a), transfer(content, b))
        # strength 0 = the photo's own statistics at every level, whatever the style
        zero = torch.zeros(1)
        assert torch.allclose(transfer(content, a, zero), transfer(content, b, zero), atol=1e-5)


def test_statistics_of_int8_features_are_those_of_the_dequantized_ones():
    torch.manual_seed(0)
    x = torch.rand(2, 5, 12, 10) * 30
    q = torch.quantize_per_tensor(x, 0.2, 3, torch.quint8)
    mean, std = network.mean_std(q)
    ref_mean, ref_std = network.mean_std(q.dequantize())
    assert torch.allclose(mean, ref_mean, atol=1e-4) and torch.allclose(std, ref_std, atol=1e-3)


def test_blockwise_statistics_stay_on_the_maps_device():
    # the bf16 path sums blocks into accumulators, which must live where the maps do (a CPU
    # accumulator broke training on CUDA); "meta" tensors show the device without a GPU
    maps = torch.empty(2, 4, 6, 6, dtype=torch.bfloat16, device="meta").contiguous(memory_format=torch.channels_last)
    mean, std = network.mean_std(maps)
    assert mean.device.type == std.device.type == "meta" and mean.shape == std.shape == (2, 4)


def test_a_skip_decoder_file_loads_as_one(tmp_path):
    _, skip = _plain_and_skip()
    torch.save({"decoder": {k: v.half() for k, v in skip.state_dict().items()}}, tmp_path / "skip.pt")
    assert len(load_decoder(tmp_path / "skip.pt").skips) == 3


@pytest.mark.skipif(not (int8_available() and cpu_has_fast_int8()), reason="int8 needs quantized kernels and VNNI")
def test_int8_skip_decoder_matches_fp32(stylizer, photo, strokes):
    trained = read_decoder_file()[0].state_dict()    # the shipped weights, without its skips and modulation:
    plain = Decoder()
    plain.load_state_dict({k: v for k, v in trained.items() if not k.startswith(("skips.", "modulation."))})
    skip = Decoder(skips=True)                                       # ... and new, random ones
    skip.load_state_dict(plain.state_dict(), strict=False)
    torch.manual_seed(0)
    for conv in skip.skips:
        torch.nn.init.normal_(conv.weight, std=0.02)
    encoder = Encoder(stylizer.weights)
    content, style = _tensor(photo, 96), _tensor(strokes, 96)
    ranges = calibrate(encoder, skip, iter([content]), [style])
    assert {"decoder.skip1", "decoder.sum1", "decoder.skip7", "decoder.sum7"} <= set(ranges)
    fp32 = TransferNetwork(encoder, skip)
    int8 = TransferNetwork(Int8Encoder(encoder, ranges), Int8Decoder(skip, ranges))
    with torch.no_grad():
        vector = StyleNetwork(encoder, skip.levels)(style)
        reference, ours = fp32(content, vector), int8(content, vector)
        plain_out = TransferNetwork(encoder, plain)(content, vector[:, :1024])
    error = float((ours - reference).abs().mean()) * 255
    assert 0 < error < 8                                             # rounding, not a new picture
    assert float((plain_out - reference).abs().mean()) * 255 > 2 * error   # and the skips do show


def test_training_a_skip_decoder_on_the_optimizers_losses(tmp_path, capsys):
    content, style = training_folders(tmp_path)
    plain = tmp_path / "plain.pt"
    torch.save({"decoder": Decoder().state_dict()}, plain)
    out = tmp_path / "run"
    args = ["train-fast", "--content", str(content), "--style", str(style), "-o", str(out), "--batch-size", "2",
            "--crop", "32", "--style-crops", "1", "--log-every", "1", "--checkpoint-every", "3", "--steps", "3",
            "--device", "cpu", "--precision", "fp32", "--identity-weight", "0", "--objective", "gatys",
            "--gram-weight", "10", "--skips", "--init", str(plain), "--learning-rate", "1e-3"]
    assert main(args) == 0
    rows = list(csv.DictReader((out / "loss.csv").open()))
    assert len(rows) == 3 and "style" not in rows[0]
    assert float(rows[0]["total"]) == pytest.approx(float(rows[0]["content"]) + 10 * float(rows[0]["gram"]), rel=1e-4)
    trained = torch.load(out / "checkpoint-last.pt", weights_only=True)["decoder"]
    assert any(float(trained[k].abs().max()) > 0 for k in trained if k.startswith("skips."))   # the skips learned
    assert "gram" in capsys.readouterr().err
    # a skip decoder cannot start a plain one, and the gatys objective needs its Gram weight: one line, exit 2
    assert main([*args[:-5], "--init", str(out / "checkpoint-last.pt"), "-o", str(tmp_path / "again")]) == 2
    assert "--skips" in capsys.readouterr().err and not (tmp_path / "again").exists()
    no_gram = [a for a in args if a not in ("--gram-weight", "10")]
    assert main([*no_gram, "-o", str(tmp_path / "third")]) == 2
    assert "gram" in capsys.readouterr().err


@pytest.mark.parametrize("skips", [False, True])
def test_folding_adain_into_the_convolutions_changes_nothing(stylizer, skips):
    torch.manual_seed(0)
    decoder = Decoder(skips=skips).eval()
    with torch.no_grad():
        for conv in decoder.skips:                    # (zero-initialised: give the skips something to do)
            conv.weight.normal_(0, 0.05), conv.bias.normal_(0, 0.05)
    encoder = Encoder(stylizer.weights)
    content, style = _tensor(make_content(48), 48), _tensor(make_style(40), 40)
    with torch.no_grad():
        vector = StyleNetwork(encoder, decoder.levels)(style)
        plain = TransferNetwork(encoder, decoder)(content, vector, torch.tensor([0.8]))
        folded = TransferNetwork(encoder, decoder, fold_adain=True)(content, vector, torch.tensor([0.8]))
    assert plain.std() > 0.01
    torch.testing.assert_close(folded, plain, atol=1e-4, rtol=0)
    with torch.no_grad():                             # a batch is decoded as before (training's path)
        pair = TransferNetwork(encoder, decoder, fold_adain=True)(content.repeat(2, 1, 1, 1), vector.repeat(2, 1))
    torch.testing.assert_close(pair[:1], TransferNetwork(encoder, decoder)(content, vector), atol=1e-4, rtol=0)


def test_a_decoder_of_other_widths_trains_exports_and_stylizes(tmp_path, capsys):
    content, style = training_folders(tmp_path)
    out, exported = tmp_path / "narrow", tmp_path / "narrow.pt"
    args = ["train-fast", "--content", str(content), "--style", str(style), "-o", str(out), "--batch-size", "2",
            "--crop", "32", "--style-crops", "1", "--checkpoint-every", "2", "--steps", "2", "--device", "cpu",
            "--precision", "fp32", "--skips", "--objective", "gatys", "--gram-weight", "10", "--identity-weight", "0"]
    assert main([*args, "--widths", "24", "16", "8", "8", "--export", str(exported)]) == 0
    decoder, ranges = read_decoder_file(exported)
    assert decoder.layers[0][1].out_channels == 24 and decoder.layers[-1][1].in_channels == 8 and ranges
    assert torch.load(exported, weights_only=True)["widths"] == [24, 16, 8, 8]
    stylizer = brushwork.Stylizer(fast_weights=exported)
    photo = make_content(48)
    for precision in ("fp32", "auto"):         # (auto: int8 where the CPU has VNNI, with the exported ranges)
        assert stylizer(photo, make_style(40), mode="fast", size=48, precision=precision).image.size == (48, 36)
    # resuming with other widths, or starting from a decoder of other widths: one line, exit 2
    capsys.readouterr()
    assert main([*args, "--steps", "4"]) == 2
    assert "widths 24 16 8 8 with --skips" in capsys.readouterr().err
    assert main([*args, "-o", str(tmp_path / "other"), "--init", str(exported)]) == 2
    assert "--widths 24 16 8 8" in capsys.readouterr().err
    assert not (tmp_path / "other").exists()
