"""Exports of the fast networks: ONNX and LiteRT run and match PyTorch on real images; Core ML converts."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from brushwork.cli import main
from brushwork.fast.export import build_networks, export
from brushwork.fast.model import load_decoder
from brushwork.fast.network import vector_size
from brushwork.imaging import to_tensor

from tests.conftest import EXAMPLES, export_module
from tests.fast.conftest import run_litert


def _image(name: str, size: tuple[int, int]) -> torch.Tensor:
    return to_tensor(Image.open(EXAMPLES / name).convert("RGB").resize(size))




@pytest.fixture(scope="module")
def networks():
    return build_networks()


@pytest.fixture(scope="module")
def reference(networks):
    """PyTorch fp32 outputs on the bundled photo and painting (content 96x64, style 64x64)."""
    style_net, transfer_net = networks
    content, style = _image("astronaut.jpg", (96, 64)), _image("strokes.png", (64, 64))
    with torch.no_grad():
        vector = style_net(style)
        out = transfer_net(content, vector, torch.tensor([0.8]))
    return content.numpy(), style.numpy(), vector.numpy(), out.numpy()


@pytest.fixture(scope="module")
def onnx_dir(tmp_path_factory):
    export_module("onnxruntime")
    folder = tmp_path_factory.mktemp("onnx")
    assert main(["export", "--format", "onnx", "-o", str(folder)]) == 0
    return folder


def _run_onnx(folder, reference):
    import onnxruntime as ort

    content, style, _, _ = reference
    style_session = ort.InferenceSession(str(folder / "style.onnx"), providers=["CPUExecutionProvider"])
    transfer = ort.InferenceSession(str(folder / "transfer.onnx"), providers=["CPUExecutionProvider"])
    (vector,) = style_session.run(None, {"style_image": style})
    (out,) = transfer.run(None, {"content_image": content, "style_vector": vector,
                                 "strength": np.array([0.8], dtype=np.float32)})
    return vector, out


def test_onnx_matches_pytorch_with_dynamic_sizes(onnx_dir, reference):
    vector, out = _run_onnx(onnx_dir, reference)
    assert out.shape == (1, 3, 64, 96)                     # exported at 384 px, run at 96x64
    np.testing.assert_allclose(vector, reference[2], rtol=1e-3, atol=1e-2)
    assert np.abs(out - reference[3]).max() < 2e-3
    assert (onnx_dir / "onnx-manifest.json").is_file()


@pytest.mark.parametrize("precision, mean_tolerance", [("fp16", 0.01), ("int8", 0.06)])
def test_onnx_reduced_precision_stays_close(tmp_path, reference, precision, mean_tolerance):
    export_module("onnxruntime")
    export("onnx", tmp_path, precision)
    _, out = _run_onnx(tmp_path, reference)
    assert np.abs(out - reference[3]).mean() < mean_tolerance


def test_tflite_matches_pytorch(tmp_path, networks):
    export_module("litert_torch")
    interpreter_module = export_module("ai_edge_litert.interpreter")
    result = export("tflite", tmp_path, "fp32", content_size=64, style_size=64)
    style_net, transfer_net = networks
    content, style = _image("astronaut.jpg", (64, 64)), _image("strokes.png", (64, 64))
    with torch.no_grad():
        vector = style_net(style)
        expected = transfer_net(content, vector, torch.tensor([1.0])).numpy()

    tfl_vector = run_litert(interpreter_module, result.style, style.numpy())
    np.testing.assert_allclose(tfl_vector, vector.numpy(), rtol=1e-3, atol=1e-2)
    out = run_litert(interpreter_module, result.transfer, content.numpy(), tfl_vector,
                     np.array([1.0], dtype=np.float32))
    assert out.shape == (1, 3, 64, 64) and np.abs(out - expected).max() < 2e-3


def test_coreml_converts_with_the_right_spec(tmp_path):
    export_module("coremltools")
    import coremltools as ct

    result = export("coreml", tmp_path, "fp16", content_size=64, style_size=64)
    spec = ct.utils.load_spec(str(result.transfer))
    inputs = {i.name: list(i.type.multiArrayType.shape) for i in spec.description.input}
    assert result.vector_size == vector_size(load_decoder().levels)        # 1920 for a skip decoder
    assert inputs == {"content_image": [1, 3, 64, 64], "style_vector": [1, result.vector_size], "strength": [1]}
    assert [o.name for o in spec.description.output] == ["stylized_image"]
    style_spec = ct.utils.load_spec(str(result.style))
    assert [list(i.type.multiArrayType.shape) for i in style_spec.description.input] == [[1, 3, 64, 64]]
    assert [o.name for o in style_spec.description.output] == ["style_vector"]


def test_export_bad_arguments_are_exit_2(tmp_path, capsys):
    assert main(["export", "--format", "onnx", "-o", str(tmp_path), "--content-size", "100"]) == 2
    assert "multiple of 8" in capsys.readouterr().err
    assert main(["export", "--format", "pdf", "-o", str(tmp_path)]) == 2
