"""Size and CPU latency of every export variant (ONNX and LiteRT run here; Core ML only converts on Linux).

    python benchmarks/fast_exports.py --out /tmp/fast-exports [--formats onnx tflite coreml]
Latency: transfer network at the export's content size (384 px square by default), median of 5.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import machine_line  # noqa: E402

from brushwork.fast.export import export  # noqa: E402


def size_mb(path: Path) -> float:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files) / 2**20


def latency_onnx(path: Path, size: int, vector: int) -> float:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = {"content_image": np.random.rand(1, 3, size, size).astype(np.float32),
            "style_vector": np.random.rand(1, vector).astype(np.float32) * 100,
            "strength": np.ones(1, dtype=np.float32)}
    return _median(lambda: session.run(None, feed))


def latency_tflite(path: Path, size: int, vector: int) -> float:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    inputs = sorted(interpreter.get_input_details(), key=lambda d: d["index"])
    values = [np.random.rand(1, 3, size, size), np.random.rand(1, vector) * 100, np.ones(1)]
    for detail, value in zip(inputs, values):
        interpreter.set_tensor(detail["index"], value.astype(np.float32))
    return _median(interpreter.invoke)


def _median(call) -> float:
    call()
    times = []
    for _ in range(5):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--formats", nargs="+", default=["onnx", "tflite", "coreml"])
    parser.add_argument("--precisions", nargs="+", default=["fp32", "fp16", "int8"])
    parser.add_argument("--content-size", type=int, default=384)
    args = parser.parse_args()
    rows = []
    for fmt in args.formats:
        for precision in args.precisions:
            folder = args.out / f"{fmt}-{precision}"
            row: dict = {"format": fmt, "precision": precision}
            try:
                started = time.perf_counter()
                result = export(fmt, folder, precision, content_size=args.content_size)
                row.update(export_seconds=round(time.perf_counter() - started, 1),
                           style_mb=round(size_mb(result.style), 2), transfer_mb=round(size_mb(result.transfer), 2))
                runner = {"onnx": latency_onnx, "tflite": latency_tflite}.get(fmt)
                if runner:
                    row["transfer_seconds"] = round(runner(result.transfer, args.content_size, result.vector_size), 3)
            except Exception as error:  # report every variant, even the ones that fail
                row["error"] = (str(error).splitlines() or [type(error).__name__])[0][:300]
            rows.append(row)
            print(json.dumps(row), flush=True)
    (args.out / "results.json").write_text(json.dumps({"machine": machine_line(), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
