"""The coarse decoder (relu5_1 beside relu4_1 and the skip levels): grafting, folding, int8, training, ONNX."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import brushwork
from brushwork.cli import main
from brushwork.device import cpu_has_fast_int8
from brushwork.fast.export import export
from brushwork.fast.int8 import COARSE_SUM, Int8Decoder, Int8Encoder, calibrate, int8_available, range_names
from brushwork.fast.model import read_decoder_file
from brushwork.fast.network import Decoder, Encoder, StyleNetwork, TransferNetwork, decoder_shape
from brushwork.fast.train import _start_from

from tests.conftest import export_module, make_content, make_style
from tests.fast.conftest import run_litert, training_folders


def _tensor(image, width: int, height: int) -> torch.Tensor:
    return brushwork.imaging.to_tensor(image.resize((width, height)))


def _grafted() -> tuple[Decoder, Decoder]:
    """The shipped decoder, and a coarse decoder started from it."""
    shipped = read_decoder_file()[0]
    coarse = Decoder(skips=True, modulated=True, coarse=True)
    _start_from(coarse, shipped, "shipped")
    return shipped, coarse.eval()


def _with_branch(decoder: Decoder, seed: int = 0) -> Decoder:
    """`decoder` with random weights in its (zero-started) branch, so that it does something."""
    torch.manual_seed(seed)
    with torch.no_grad():
        decoder.coarse[1].weight.normal_(0, 0.05), decoder.coarse[1].bias.normal_(0, 0.05)
    return decoder


def test_a_coarse_decoder_grafted_onto_the_shipped_one_starts_as_it(stylizer):
    shipped, coarse = _grafted()
    assert coarse.levels == (*shipped.levels, "relu5_1") and decoder_shape(coarse.state_dict())["coarse"]
    encoder = Encoder.for_levels(stylizer.weights, coarse.levels)
    assert encoder.vgg.names[-1] == "relu5_1" and Encoder.for_levels(stylizer.weights, shipped.levels).vgg.names[-1] == "relu4_1"
    content, style = _tensor(make_content(64), 72, 56), _tensor(make_style(64), 64, 64)   # (72: not a multiple of 16)
    with torch.no_grad():
        long, short = StyleNetwork(encoder, coarse.levels)(style), StyleNetwork(encoder, shipped.levels)(style)
        assert long.shape == (1, 2944) and torch.equal(long[:, :1920], short)      # relu5_1's part comes last
        ours = TransferNetwork(encoder, coarse)(content, long)
        theirs = TransferNetwork(encoder, shipped)(content, short)
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)
    # the modulation's new entries start at zero weight, centre 0 and spread 1
    assert float(coarse.modulation.squeeze.weight[:, 1920:].detach().abs().max()) == 0
    assert float(coarse.modulation.spread[1920:].min()) == 1.0


def test_the_coarse_branch_changes_the_picture_and_folds_exactly(stylizer):
    _, coarse = _grafted()
    _with_branch(coarse)
    encoder = Encoder.for_levels(stylizer.weights, coarse.levels)
    content, style = _tensor(make_content(64), 72, 56), _tensor(make_style(64), 64, 64)
    with torch.no_grad():
        vector = StyleNetwork(encoder, coarse.levels)(style)
        plain = TransferNetwork(encoder, coarse)(content, vector, torch.tensor([0.8]))
        folded = TransferNetwork(encoder, coarse, fold_adain=True)(content, vector, torch.tensor([0.8]))
        coarse.coarse[1].weight.zero_(), coarse.coarse[1].bias.zero_()
        without = TransferNetwork(encoder, coarse)(content, vector, torch.tensor([0.8]))
    torch.testing.assert_close(folded, plain, atol=1e-4, rtol=0)
    assert float((plain - without).abs().mean()) * 255 > 1


@pytest.mark.skipif(not (int8_available() and cpu_has_fast_int8()), reason="int8 needs quantized kernels and VNNI")
def test_int8_coarse_decoder_matches_fp32(stylizer, photo, strokes):
    _, coarse = _grafted()
    _with_branch(coarse)
    encoder = Encoder.for_levels(stylizer.weights, coarse.levels)
    content, style = _tensor(photo, 104, 88), _tensor(strokes, 96, 96)
    ranges = calibrate(encoder, coarse, iter([content]), [style])
    assert set(ranges) == set(range_names(encoder, coarse)) and COARSE_SUM in ranges and "encoder.relu5_1" in ranges
    fp32 = TransferNetwork(encoder, coarse)
    int8 = TransferNetwork(Int8Encoder(encoder, ranges, coarse.levels), Int8Decoder(coarse, ranges))
    with torch.no_grad():
        vector = StyleNetwork(encoder, coarse.levels)(style)
        reference, ours = fp32(content, vector), int8(content, vector)
        coarse.coarse[1].weight.zero_(), coarse.coarse[1].bias.zero_()
        without = fp32(content, vector)
    error = float((ours - reference).abs().mean()) * 255
    assert 0 < error < 8                                             # rounding, not a new picture
    assert float((without - reference).abs().mean()) * 255 > 2 * error   # and the branch does show


def test_training_a_coarse_decoder_from_the_shipped_one(tmp_path, capsys):
    content, style = training_folders(tmp_path)
    out, exported = tmp_path / "run", tmp_path / "coarse.pt"
    shipped = str(brushwork.fast.model.default_decoder_path())
    args = ["train-fast", "--content", str(content), "--style", str(style), "-o", str(out), "--batch-size", "2",
            "--crop", "48", "--style-crops", "1", "--checkpoint-every", "2", "--steps", "2", "--device", "cpu",
            "--precision", "fp32", "--identity-weight", "0", "--objective", "gatys", "--gram-weight", "10",
            "--skips", "--modulate", "--learning-rate", "1e-3", "--init", shipped]
    assert main([*args, "--coarse", "--export", str(exported)]) == 0
    trained, ranges = read_decoder_file(exported)
    before = read_decoder_file()[0]
    assert trained.coarse is not None and COARSE_SUM in ranges
    assert float(trained.coarse[1].weight.abs().max()) > 0                        # the branch learned
    # the modulation kept its fit for the shipped entries and fitted the new ones
    torch.testing.assert_close(trained.modulation.center[:1920], before.modulation.center.float(), atol=1e-3, rtol=0)
    assert float((trained.modulation.spread[1920:] - 1).abs().max()) > 0
    stylizer = brushwork.Stylizer(fast_weights=exported)
    for precision in ("fp32", "auto"):          # (auto: int8 where the CPU has VNNI, with the exported ranges)
        result = stylizer(make_content(72), make_style(48), mode="fast", size=72, precision=precision)
        assert result.image.size == (72, 54) and np.asarray(result.image).std() > 5
    # resuming without --coarse, or starting a plain decoder from a coarse one: one line, exit 2
    capsys.readouterr()
    assert main(args) == 2
    assert "--coarse" in capsys.readouterr().err
    assert main([*args[:-1], str(exported), "-o", str(tmp_path / "other")]) == 2
    assert "--coarse" in capsys.readouterr().err and not (tmp_path / "other").exists()


@pytest.fixture(scope="module")
def coarse_file(tmp_path_factory) -> Path:
    """A grafted coarse decoder with a working branch, saved as a decoder file."""
    path = tmp_path_factory.mktemp("coarse") / "coarse.pt"
    torch.save({"decoder": _with_branch(_grafted()[1]).state_dict()}, path)
    return path


def _coarse_reference(weights, path: Path, size: tuple[int, int]) -> tuple[torch.Tensor, ...]:
    """Content (72x56: not a multiple of 16), style, and PyTorch's vector and picture at strength 0.8."""
    decoder = read_decoder_file(path)[0]
    encoder = Encoder.for_levels(weights, decoder.levels)
    content, style = _tensor(make_content(64), *size), _tensor(make_style(64), 64, 64)
    with torch.no_grad():
        vector = StyleNetwork(encoder, decoder.levels)(style)
        picture = TransferNetwork(encoder, decoder)(content, vector, torch.tensor([0.8]))
    return content, style, vector, picture


def test_onnx_export_of_a_coarse_decoder_matches_pytorch(tmp_path, stylizer, coarse_file):
    ort = export_module("onnxruntime")
    result = export("onnx", tmp_path, weights=stylizer.weights, decoder=coarse_file)
    assert result.vector_size == 2944
    content, style, vector, reference = _coarse_reference(stylizer.weights, coarse_file, (72, 56))
    sessions = [ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
                for path in (result.style, result.transfer)]
    (ours_vector,) = sessions[0].run(None, {"style_image": style.numpy()})
    np.testing.assert_allclose(ours_vector, vector.numpy(), rtol=1e-3, atol=1e-2)
    (ours,) = sessions[1].run(None, {"content_image": content.numpy(), "style_vector": ours_vector,
                                     "strength": np.array([0.8], dtype=np.float32)})
    assert ours.shape == reference.shape == (1, 3, 56, 72)          # (exported at 384 px: sizes are dynamic)
    assert float(np.abs(ours - reference.numpy()).max()) < 2e-3


def test_tflite_export_of_a_coarse_decoder_matches_pytorch(tmp_path, stylizer, coarse_file):
    export_module("litert_torch")
    interpreter_module = export_module("ai_edge_litert.interpreter")
    result = export("tflite", tmp_path, content_size=72, style_size=64, weights=stylizer.weights, decoder=coarse_file)
    content, style, vector, reference = _coarse_reference(stylizer.weights, coarse_file, (72, 72))
    ours_vector = run_litert(interpreter_module, result.style, style.numpy())
    np.testing.assert_allclose(ours_vector, vector.numpy(), rtol=1e-3, atol=1e-2)
    ours = run_litert(interpreter_module, result.transfer, content.numpy(), ours_vector,
                      np.array([0.8], dtype=np.float32))
    assert ours.shape == (1, 3, 72, 72) and float(np.abs(ours - reference.numpy()).max()) < 2e-3


def test_coreml_export_of_a_coarse_decoder_converts(tmp_path, stylizer, coarse_file):
    ct = export_module("coremltools")
    result = export("coreml", tmp_path, "fp16", content_size=72, style_size=64, weights=stylizer.weights,
                    decoder=coarse_file)
    spec = ct.utils.load_spec(str(result.transfer))
    inputs = {i.name: list(i.type.multiArrayType.shape) for i in spec.description.input}
    assert inputs == {"content_image": [1, 3, 72, 72], "style_vector": [1, 2944], "strength": [1]}
    assert [o.name for o in spec.description.output] == ["stylized_image"]
