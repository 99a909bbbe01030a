"""Helpers the fast-mode tests share: training folders of generated photos and paintings, and
running a LiteRT model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from tests.conftest import EXAMPLES, make_content, make_style


def training_folders(tmp_path: Path) -> tuple[Path, Path]:
    """Three small photos and two paintings in folders, as `brushwork train-fast` reads them."""
    content, style = tmp_path / "photos", tmp_path / "paintings"
    content.mkdir(), style.mkdir()
    for i in range(3):
        make_content(80 + 8 * i).save(content / f"p{i}.png")
    make_style(96, seed=1).save(style / "a.png")
    Image.open(EXAMPLES / "strokes.png").convert("RGB").resize((96, 96)).save(style / "b.jpg")
    return content, style


def run_litert(interpreter_module, path, *inputs: np.ndarray) -> np.ndarray:
    """A .tflite model's first output for `inputs` (in the model's input order), with ai-edge-litert."""
    interpreter = interpreter_module.Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    for detail, value in zip(sorted(interpreter.get_input_details(), key=lambda d: d["index"]), inputs):
        interpreter.set_tensor(detail["index"], value)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
