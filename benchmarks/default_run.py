"""The full default run (`brushwork stylize content style -o out.png`, 512 px) on bundled or shared pairs.

    python benchmarks/default_run.py [--size 512] [--pairs 2] [--out out/bench]

Reports wall time (network loading included, as a user waits for it), peak RSS and quality scores.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "images"


def pairs() -> list[tuple[Path, Path]]:
    if SHARED.is_dir():
        return [(SHARED / "content" / "tubingen.jpg", SHARED / "style" / "starry_night.jpg"),
                (SHARED / "content" / "golden_gate.jpg", SHARED / "style" / "the_scream.jpg")]
    return [(ROOT / "examples" / "astronaut.jpg", ROOT / "examples" / "strokes.png")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "bench")
    parser.add_argument("--scales", type=int, default=None)
    parser.add_argument("--pairs", type=int, default=2, help="how many content/style pairs to run")
    parser.add_argument("--steps", type=int, nargs=2, metavar=("EPOCHS", "STEPS_PER_EPOCH"), default=None)
    args = parser.parse_args()
    from _machine import machine_line

    from brushwork import Stylizer
    from brushwork.imaging import save_image
    from brushwork.metrics import score

    args.out.mkdir(parents=True, exist_ok=True)
    print(f"machine: {machine_line()}")
    print("| pair | size | load s | run s | total s | style dist | content dist | peak RSS MB |\n|---|---|---|---|---|---|---|---|")
    extra = {}
    if args.scales:
        extra["scales"] = args.scales
    if args.steps:
        extra.update(epochs=args.steps[0], steps_per_epoch=args.steps[1])
    for content, style in pairs()[: args.pairs]:
        start = time.perf_counter()
        stylizer = Stylizer()
        loaded = time.perf_counter() - start
        result = stylizer(content, style, size=args.size, **extra)
        total = time.perf_counter() - start
        save_image(result.image, args.out / f"{content.stem}_{style.stem}_{args.size}.png")
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # the run's peak, before scoring
        scores = score(stylizer, result.image, content, style)
        print(f"| {content.stem} / {style.stem} | {result.image.width}x{result.image.height} | {loaded:.1f} | "
              f"{result.seconds:.1f} | {total:.1f} | {scores.style:.3f} | {scores.content:.3f} | {rss:.0f} |", flush=True)


if __name__ == "__main__":
    main()
