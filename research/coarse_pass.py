"""Fast mode's coarse pass (`coarse_pass`): how much closer to the painting, at what cost in content and time.

    python benchmarks/fast_mode.py --images ../shared/images --out OUT          # once: optimizer pictures
    python research/coarse_pass.py --bench OUT [--shares 0.1 0.2 0.5] [--heldout DIR ...]

The feed-forward decoder lacks the optimizer's large-scale structure (the Van Gogh's swirls, the
Scream's sky bands; research/fast-mode-experiments.md, "What would close the style gap"). `coarse_pass` paints a
half-size picture first and blends that share of it into the photo before the full-size pass.
Scored as score_decoders.py does (fp32, ratios to the optimizer's pictures on the benchmark pairs,
and the median time of `--repeats` calls per pair in `--precision`, the painting cached), and on
each `--heldout` folder of paintings (unusual_paintings.py's measure: `--photo` stylized with each,
mean style / content distance at 512 px in bf16; lower is closer). Share 0 is one plain pass.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from PIL import Image

# research/ for its sibling scripts, benchmarks/ for the shared helpers (_machine, fast_mode)
sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parent.parent / "benchmarks")]
from _machine import machine_line  # noqa: E402
from fast_mode import optimizer_scores, pairs  # noqa: E402

import brushwork  # noqa: E402
from brushwork.fast.train import list_images  # noqa: E402
from brushwork.metrics import score  # noqa: E402

SIZE = 512


def open_rgb(path: Path) -> Image.Image:
    return Image.open(path).convert("RGB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench", type=Path, required=True, help="a fast_mode.py --out folder (optimizer pictures)")
    parser.add_argument("--images", type=Path, default=Path("../shared/images"))
    parser.add_argument("--pairs", type=int, default=4)
    parser.add_argument("--shares", type=float, nargs="+", default=[0.1, 0.2, 0.5], help="coarse_pass values")
    parser.add_argument("--heldout", type=Path, nargs="*", default=[], help="folders of paintings")
    parser.add_argument("--photo", type=Path, default=Path("../shared/images/content/golden_gate.jpg"))
    parser.add_argument("--fast-weights", type=Path)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--precision", default="auto", help="precision of the timed calls [auto: int8 on VNNI CPUs]")
    args = parser.parse_args()
    stylizer = brushwork.Stylizer(fast_weights=args.fast_weights)
    chosen = pairs(args.images, args.pairs)
    optimizer = optimizer_scores(stylizer, args.bench, chosen, parser)
    shares = [0.0, *args.shares]
    print(machine_line(), flush=True)
    for share in shares:
        ratios, seconds = [], []
        for content, style in chosen:
            options = {"mode": "fast", "size": SIZE, "coarse_pass": share}
            picture = stylizer(content, style, precision="fp32", **options).image
            got, slow = score(stylizer, picture, content, style), optimizer[content, style]
            ratios.append((got.style / slow.style, got.content / slow.content))
            times = []
            for _ in range(args.repeats + 1):           # the first call reads the painting
                started = time.perf_counter()
                stylizer(content, style, precision=args.precision, **options)
                times.append(time.perf_counter() - started)
            seconds.append(statistics.median(times[1:]))
        means = [statistics.mean(ratio[i] for ratio in ratios) for i in (0, 1)]
        print(f"benchmark, share {share:g}: {means[0]:.3f} / {means[1]:.3f}   "
              + "  ".join(f"{s:.2f}/{c:.2f}" for s, c in ratios)
              + "   s: " + " / ".join(f"{t:.3f}" for t in seconds), flush=True)
    photo = open_rgb(args.photo)
    for folder in args.heldout:
        paintings = [open_rgb(path) for path in list_images(folder)]
        for share in shares:
            scores = [score(stylizer, stylizer(photo, painting, mode="fast", size=SIZE, precision="bf16",
                                               coarse_pass=share).image, photo, painting)
                      for painting in paintings]
            print(f"{folder} ({len(paintings)}), share {share:g}: {statistics.mean(s.style for s in scores):.3f} / "
                  f"{statistics.mean(s.content for s in scores):.3f}", flush=True)


if __name__ == "__main__":
    main()
