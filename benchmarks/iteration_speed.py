"""Time per optimizer step (VGG-19 forward + backward to relu5_1 with all loss terms) and peak memory.

    python benchmarks/iteration_speed.py [--sizes 256 512] [--repeat 5] [--compile]

Each configuration runs in its own process so peak RSS belongs to it alone. Also reports the
throughput the convolutions reach, against the machine's measured peak for one big convolution.
`--compile` adds bf16 + channels-last with the whole loss step under `torch.compile` (inductor),
with its one-off compile time, to see whether compiling pays off.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

CONFIGS = [("fp32", False), ("fp32", True), ("bf16", False), ("bf16", True)]
def vgg_macs(height: int, width: int) -> float:
    """Forward multiply-accumulates of the 13 convolutions up to relu5_1 (conv5_1 included)."""
    layers = [(0, 3, 64), (0, 64, 64), (1, 64, 128), (1, 128, 128), (2, 128, 256), (2, 256, 256), (2, 256, 256),
              (2, 256, 256), (3, 256, 512), (3, 512, 512), (3, 512, 512), (3, 512, 512), (4, 512, 512)]
    return sum(height * width / 4 ** level * cin * cout * 9 for level, cin, cout in layers)


def one(size: int, precision: str, channels_last: bool, repeat: int, compiled: bool = False) -> dict:
    import torch

    from brushwork import Stylizer, make_options
    from brushwork.engine import loss_terms as _loss_terms
    from brushwork.features import build_features
    from brushwork.losses import gram_matrix, normalized_weights

    stylizer = Stylizer(device="cpu", precision="fp32")
    options = make_options()
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[precision]
    layers = (*options.content_layers, *options.style_layers)
    network = build_features(stylizer.weights, layers, options.pooling, torch.device("cpu"), dtype)
    if not channels_last:
        network = network.to(memory_format=torch.contiguous_format)
    height, width = size * 3 // 4, size
    image = torch.rand(1, 3, height, width, requires_grad=True)
    with torch.no_grad():
        content = {k: v.float() for k, v in network(image, options.content_layers).items()}
        style = {k: gram_matrix(v) for k, v in network(torch.rand(1, 3, height, width), options.style_layers).items()}
    weights = normalized_weights(options.style_layers, None)

    def step(pixels: torch.Tensor) -> torch.Tensor:
        return _loss_terms(network, pixels, content, style, options, weights)["total"]

    if compiled:
        step = torch.compile(step, dynamic=False)
    times = []
    for _ in range(repeat + 1):
        start = time.perf_counter()
        step(image).backward()
        times.append(time.perf_counter() - start)
    best = min(times[1:])
    return {"size": f"{width}x{height}", "precision": precision, "channels_last": channels_last,
            "compiled": compiled, "first_step_seconds": times[0], "seconds_per_step": best, "gflops": 2 * 2 * vgg_macs(height, width) / best / 1e9,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def conv_peak(dtype_name: str) -> float:
    """GFLOP/s of one large 3x3 convolution (256->256 channels, 64x64), channels-last, forward."""
    import torch

    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype_name]
    conv = torch.nn.Conv2d(256, 256, 3, padding=1).requires_grad_(False).to(dtype=dtype,
                                                                             memory_format=torch.channels_last)
    x = torch.rand(1, 256, 64, 64, dtype=dtype).contiguous(memory_format=torch.channels_last)
    conv(x)
    best = min(_timed(lambda: conv(x)) for _ in range(10))
    return 2 * 256 * 256 * 9 * 64 * 64 / best / 1e9


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--repeat", type=int, default=4)
    parser.add_argument("--compile", action="store_true", help="also time bf16 channels-last under torch.compile")
    parser.add_argument("--one", nargs=4, metavar=("SIZE", "PRECISION", "CHANNELS_LAST", "COMPILED"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        size, precision, layout, compiled = args.one
        print(json.dumps(one(int(size), precision, layout == "1", args.repeat, compiled == "1")))
        return
    from _machine import machine_line

    print(f"machine: {machine_line()}")
    peaks = {name: conv_peak(name) for name in ("fp32", "bf16")}
    print("single 3x3 conv peak (channels-last): " + ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in peaks.items()))
    print("| size | precision | layout | s/step | conv GFLOP/s | % of conv peak | peak RSS MB |\n|---|---|---|---|---|---|---|")
    configs = [(*config, False) for config in CONFIGS] + ([("bf16", True, True)] if args.compile else [])
    for size in args.sizes:
        for precision, channels_last, compiled in configs:
            out = subprocess.run([sys.executable, __file__, "--one", str(size), precision, "1" if channels_last else "0",
                                  "1" if compiled else "0", "--repeat", str(args.repeat)],
                                 capture_output=True, text=True, check=True)
            row = json.loads(out.stdout)
            layout = "channels_last" if channels_last else "contiguous"
            if compiled:
                layout += f" + torch.compile (compile {row['first_step_seconds']:.0f} s)"
            print(f"| {row['size']} | {precision} | {layout} | "
                  f"{row['seconds_per_step']:.3f} | {row['gflops']:.0f} | {100 * row['gflops'] / peaks[precision]:.0f}% | "
                  f"{row['peak_rss_mb']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
