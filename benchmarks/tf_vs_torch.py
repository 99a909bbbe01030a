"""The TensorFlow/Keras engine beside the PyTorch one: time per step and the full default run.

    python benchmarks/tf_vs_torch.py [--sizes 256 512] [--steps 8] [--threads 2] [--skip-full]

Each measurement runs in its own process (TensorFlow and torch never share one), single scale,
L-BFGS; time per step is the median interval between progress callbacks after the first step
(which includes TensorFlow's graph tracing). The full default run is `brushwork stylize` with
default options (512 px, 5 x 25 steps, 3 scales) on the bundled or shared pair, network loading
included; its quality scores come from the same PyTorch metric for both outputs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "images"
PAIR: list[str] = []  # --pair CONTENT STYLE
ENGINES = [("torch", "fp32"), ("torch", "auto"), ("tensorflow", "fp32")]


def pair() -> tuple[Path, Path]:
    if len(PAIR) == 2:
        return Path(PAIR[0]), Path(PAIR[1])
    if SHARED.is_dir():
        return SHARED / "content" / "tubingen.jpg", SHARED / "style" / "starry_night.jpg"
    return ROOT / "examples" / "astronaut.jpg", ROOT / "examples" / "strokes.png"


def _threads(backend: str, threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)


def per_step(backend: str, precision: str, size: int, steps: int, threads: int) -> dict:
    _threads(backend, threads)
    from brushwork import Stylizer

    content, style = pair()
    stamps: list[float] = []
    result = Stylizer(device="cpu")(content, style, backend=backend, precision=precision, size=size, scales=1,
                                    epochs=1, steps_per_epoch=steps,
                                    callback=lambda p: stamps.append(time.perf_counter()))
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
    return {"step_s": statistics.median(gaps), "first_s": stamps[0] - (stamps[-1] - result.seconds),
            "precision": result.precision}


def full(backend: str, precision: str, threads: int, out: Path) -> dict:
    _threads(backend, threads)
    from brushwork import Stylizer
    from brushwork.imaging import save_image
    from brushwork.metrics import score

    content, style = pair()
    start = time.perf_counter()
    stylizer = Stylizer(device="cpu")
    result = stylizer(content, style, backend=backend, precision=precision)
    total = time.perf_counter() - start
    save_image(result.image, out / f"{content.stem}_{style.stem}_{backend}_{precision}.png")
    scores = score(stylizer, result.image, content, style)
    return {"total_s": total, "run_s": result.seconds, "style": scores.style, "content": scores.content,
            "precision": result.precision, "size": f"{result.image.width}x{result.image.height}"}


def _child(args: list[str]) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip-full", action="store_true")
    parser.add_argument("--pair", nargs=2, metavar=("CONTENT", "STYLE"), default=[],
                        help="images to use (default: the shared tubingen / starry_night pair, else the bundled one)")
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "bench")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    PAIR[:] = args.pair
    if args.child:
        kind, backend, precision, *rest = args.child
        if kind == "step":
            print(json.dumps(per_step(backend, precision, int(rest[0]), args.steps, args.threads)))
        else:
            print(json.dumps(full(backend, precision, args.threads, Path(rest[0]))))
        return
    from _machine import machine_line

    import tensorflow as tf

    args.out.mkdir(parents=True, exist_ok=True)
    content, style = pair()
    common = ["--steps", str(args.steps), "--threads", str(args.threads), *(["--pair", *args.pair] if args.pair else [])]
    print(f"machine: {machine_line()}, tensorflow {tf.__version__}, {args.threads} threads per engine")
    print(f"pair: {content.name} / {style.name}\n")
    print("| engine | precision | size | s per step | first step s (incl. tracing) |\n|---|---|---|---|---|")
    for size in args.sizes:
        for backend, precision in ENGINES:
            found = _child(["step", backend, precision, str(size), *common])
            print(f"| {backend} | {found['precision']} | {size} px | {found['step_s']:.2f} | {found['first_s']:.1f} |",
                  flush=True)
    if args.skip_full:
        return
    print("\n| engine | precision | size | total s | run s | style dist | content dist |\n|---|---|---|---|---|---|---|")
    for backend, precision in ENGINES:
        found = _child(["full", backend, precision, str(args.out), *common])
        print(f"| {backend} | {found['precision']} | {found['size']} | {found['total_s']:.1f} | {found['run_s']:.1f} | "
              f"{found['style']:.3f} | {found['content']:.3f} |", flush=True)


if __name__ == "__main__":
    main()
