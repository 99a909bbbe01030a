"""Exports of the fast mode's two networks for phones and browsers: ONNX, LiteRT (TFLite), Core ML.

Each export writes `style.<ext>` (style image -> (1, N) vector: 1920 floats for the shipped
decoder, 2944 for a coarse one) and `transfer.<ext>` (content image, style vector, strength ->
image), like TFLite's arbitrary-style models, so an app computes a style once. Images are NCHW
float32 RGB in [0, 1]. ONNX keeps height and width dynamic (any multiple of 8); LiteRT and Core ML
get fixed sizes (`content_size`, `style_size`).
Converters are optional dependencies (`pip install brushwork[export]`), imported on use.
"""

from __future__ import annotations

import json
import shutil
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from ..errors import BrushworkError, InvalidInputError
from ..weights import VGGWeights, load_vgg19_weights
from .model import load_decoder
from .network import Encoder, StyleNetwork, TransferNetwork, vector_size

Format = Literal["onnx", "tflite", "coreml"]
ExportPrecision = Literal["fp32", "fp16", "int8"]
FORMATS: tuple[str, ...] = ("onnx", "tflite", "coreml")
PRECISIONS: tuple[str, ...] = ("fp32", "fp16", "int8")
EXTENSIONS = {"onnx": ".onnx", "tflite": ".tflite", "coreml": ".mlpackage"}
OPSET = 18


class ExportError(BrushworkError):
    """A converter is missing or failed; the message says which and why."""


@dataclass(frozen=True)
class ExportResult:
    """What was written: the two model files and a small JSON description beside them."""

    style: Path
    transfer: Path
    format: str
    precision: str
    content_size: int
    style_size: int
    vector_size: int

    def manifest(self) -> dict:
        data = asdict(self)
        data.update(style=self.style.name, transfer=self.transfer.name,
                    inputs={"style": ["style_image"], "transfer": ["content_image", "style_vector", "strength"]},
                    outputs={"style": ["style_vector"], "transfer": ["stylized_image"]},
                    layout="NCHW float32 RGB in [0, 1]")
        return data


def build_networks(weights: VGGWeights | None = None, decoder: str | Path | None = None
                   ) -> tuple[StyleNetwork, TransferNetwork]:
    """fp32 CPU copies of both networks, in eval mode (what every exporter starts from)."""
    trained = load_decoder(decoder)
    encoder = Encoder.for_levels(weights or load_vgg19_weights(), trained.levels)
    style = StyleNetwork(encoder, trained.levels).eval()
    transfer = TransferNetwork(encoder, trained).eval()
    return style, transfer


class _Transfer(nn.Module):
    """TransferNetwork with `strength` always given (exporters want a fixed signature)."""

    def __init__(self, network: TransferNetwork) -> None:
        super().__init__()
        self.network = network

    def forward(self, content: torch.Tensor, vector: torch.Tensor, strength: torch.Tensor) -> torch.Tensor:
        return self.network(content, vector, strength)


def sample_inputs(content_size: int, style_size: int, size: int) -> tuple[tuple[torch.Tensor], tuple[torch.Tensor, ...]]:
    """Tracing inputs: a style image, and a content image with a style vector of `size` and strength."""
    generator = torch.Generator().manual_seed(0)
    style = torch.rand(1, 3, style_size, style_size, generator=generator)
    content = torch.rand(1, 3, content_size, content_size, generator=generator)
    return (style,), (content, torch.rand(1, size, generator=generator) * 100, torch.ones(1))


def export(fmt: str, output: str | Path, precision: str = "fp32", *, content_size: int = 384,
           style_size: int = 256, weights: VGGWeights | None = None, decoder: str | Path | None = None
           ) -> ExportResult:
    """Write the style and transfer networks in `fmt` at `precision` into the folder `output`."""
    if fmt not in FORMATS:
        raise InvalidInputError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if precision not in PRECISIONS:
        raise InvalidInputError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    for name, size in (("content size", content_size), ("style size", style_size)):
        if size % 8 or not 32 <= size <= 4096:
            raise InvalidInputError(f"{name} must be a multiple of 8 between 32 and 4096, not {size}")
    folder = Path(output)
    folder.mkdir(parents=True, exist_ok=True)
    style_net, transfer_net = build_networks(weights, decoder)
    size = vector_size(transfer_net.decoder.levels)
    style_args, transfer_args = sample_inputs(content_size, style_size, size)
    ext = EXTENSIONS[fmt]
    style_path, transfer_path = folder / f"style{ext}", folder / f"transfer{ext}"
    writer = {"onnx": _onnx, "tflite": _tflite, "coreml": _coreml}[fmt]
    writer(style_net, style_args, style_path, precision, ["style_image"], ["style_vector"])
    writer(_Transfer(transfer_net), transfer_args, transfer_path, precision,
           ["content_image", "style_vector", "strength"], ["stylized_image"])
    result = ExportResult(style_path, transfer_path, fmt, precision, content_size, style_size, size)
    (folder / f"{fmt}-manifest.json").write_text(json.dumps(result.manifest(), indent=2))
    return result


def _require(module: str, package: str):
    try:
        return __import__(module, fromlist=["_"])
    except ImportError as error:
        raise ExportError(f"{package} is needed for this export (pip install 'brushwork[export]'): {error}") from None


# -- ONNX -------------------------------------------------------------------------------------------
def _onnx(model: nn.Module, args: tuple, path: Path, precision: str, inputs: list[str], outputs: list[str]) -> None:
    _require("onnx", "onnx")
    images = [name for name in inputs if name.endswith("_image")]
    axes = {name: {2: "height", 3: "width"} for name in images}
    axes.update({name: {2: "height", 3: "width"} for name in outputs if name.endswith("_image")})
    temporary = path.with_suffix(".fp32.onnx") if precision != "fp32" else path
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's notes on constant folding
        torch.onnx.export(model, args, str(temporary), input_names=inputs, output_names=outputs,
                          dynamic_axes=axes, opset_version=OPSET, dynamo=False)
    if precision == "fp16":
        onnx = _require("onnx", "onnx")
        float16 = _require("onnxruntime.transformers.float16", "onnxruntime")
        model16 = float16.convert_float_to_float16(onnx.load(str(temporary)), keep_io_types=True)
        onnx.save(model16, str(path))
        temporary.unlink()
    elif precision == "int8":
        quantization = _require("onnxruntime.quantization", "onnxruntime")
        quantization.quantize_dynamic(str(temporary), str(path), weight_type=quantization.QuantType.QUInt8)
        temporary.unlink()


# -- LiteRT / TFLite ----------------------------------------------------------------------------------
def _tflite(model: nn.Module, args: tuple, path: Path, precision: str, inputs: list[str], outputs: list[str]) -> None:
    litert_torch = _require("litert_torch", "litert-torch")
    kwargs = {}
    if precision != "fp32":
        kwargs["quant_config"] = _litert_quant_config(precision)
    try:
        edge = litert_torch.convert(model.eval(), args, **kwargs)
        edge.export(str(path))
    except ExportError:
        raise
    except Exception as error:
        raise ExportError(f"litert-torch could not convert {path.stem}: {_first_line(error)}") from None


def _litert_quant_config(precision: str):
    recipes = _require("litert_torch.generative.quantize.quant_recipes", "litert-torch")
    if precision == "fp16":
        return recipes.full_fp16_recipe()
    return recipes.full_dynamic_recipe()  # int8 weights, float activations (dynamic range)


# -- Core ML ----------------------------------------------------------------------------------------
def _coreml(model: nn.Module, args: tuple, path: Path, precision: str, inputs: list[str], outputs: list[str]) -> None:
    ct = _require("coremltools", "coremltools")
    try:
        with torch.no_grad():
            traced = torch.jit.trace(model.eval(), args)
        mlmodel = ct.convert(
            traced, convert_to="mlprogram", minimum_deployment_target=ct.target.iOS16,
            inputs=[ct.TensorType(name=n, shape=tuple(a.shape)) for n, a in zip(inputs, args)],
            outputs=[ct.TensorType(name=n) for n in outputs],
            compute_precision=ct.precision.FLOAT32 if precision == "fp32" else ct.precision.FLOAT16)
        if precision == "int8":
            config = ct.optimize.coreml.OptimizationConfig(
                global_config=ct.optimize.coreml.OpLinearQuantizerConfig(mode="linear_symmetric"))
            mlmodel = ct.optimize.coreml.linear_quantize_weights(mlmodel, config)
    except ExportError:
        raise
    except Exception as error:
        raise ExportError(f"coremltools could not convert {path.stem}: {_first_line(error)}") from None
    if path.exists():
        shutil.rmtree(path)
    mlmodel.save(str(path))


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:300]
