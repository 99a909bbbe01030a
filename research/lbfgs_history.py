"""How much L-BFGS history a run needs: the default run with the history capped at N pairs.

    python research/lbfgs_history.py [--size 512] [--history 50 10 5 3 1]

A memory budget (`max_memory`) shortens the history of the largest levels first (`planning.py`):
each pair is two image-sized fp32 vectors, 300 MB at 4096x3072. This measures what a shorter
history costs in quality (`brushwork.metrics.score`: lower is closer) and steps, at a size where
the run fits in memory with any history; the figures are in docs/tiling.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
SHARED = ROOT.parent / "shared" / "images"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--history", type=int, nargs="+", default=[50, 10, 5, 3, 1])
    parser.add_argument("--content", type=Path, default=SHARED / "content" / "tubingen.jpg")
    parser.add_argument("--style", type=Path, default=SHARED / "style" / "starry_night.jpg")
    args = parser.parse_args()
    if not args.content.is_file() or not args.style.is_file():
        parser.error(f"content {args.content} or style {args.style} not found (../shared/images is needed)")

    import brushwork
    from brushwork import planning
    from brushwork.metrics import score
    from _machine import machine_line

    print(machine_line())
    stylizer = brushwork.Stylizer(device="cpu")
    print("| history (pairs) | style distance | content distance | final loss | time |\n|---|---|---|---|---|")
    for history in args.history:
        planning.LBFGS_HISTORY = history          # the cap the planner applies to every level
        losses: list[float] = []
        result = stylizer(args.content, args.style, size=args.size, seed=0,
                          callback=lambda p: p.finished_step and losses.append(p.losses["total"]))
        assert all(level.history == max(1, min(history, level.steps - 1)) for level in result.plan.levels)
        scores = score(stylizer, result.image, args.content, args.style)
        print(f"| {history} | {scores.style:.3f} | {scores.content:.3f} | "
              f"{losses[-1]:.3f} | {result.seconds:.0f} s |", flush=True)


if __name__ == "__main__":
    main()
