"""Starting the optimizer from fast mode's picture (`init="fast"`) against starting from the photo.

    python research/fast_start.py --images ../shared/images --out /tmp/fast-start [--steps 25 50 125] [--pairs 4]

For each pair (content i with style i): the optimizer's defaults (photo start, 125 steps), then
both starts with each step budget (default scales; 125 is the default's own), all at 512 px; wall time per run
(the fast pass included) and style/content distance from `brushwork.metrics.score`. Writes
results.json and contact.png (rows: fast | fast start, N steps | photo start, N steps | default).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

# research/ for its sibling scripts, benchmarks/ for the shared helpers (_machine, fast_mode)
sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parent.parent / "benchmarks")]
from fast_mode import pairs, write_results  # noqa: E402

import brushwork  # noqa: E402
from brushwork.metrics import score  # noqa: E402
from brushwork.options import StyleOptions  # noqa: E402

DEFAULT_STEPS = StyleOptions().total_steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, default=Path("../shared/images"))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--pairs", type=int, default=4)
    parser.add_argument("--steps", type=int, nargs="+", default=[25, 50, DEFAULT_STEPS],
                        help="step budgets for both starts [25 50 125]")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    chosen = pairs(args.images, args.pairs)
    stylizer = brushwork.Stylizer()
    stylizer(chosen[0][0], chosen[0][1], size=64, epochs=1, steps_per_epoch=1, init="fast")   # loads both models
    results, rows = [], []

    def run(content: Path, style: Path, label: str, **options: object) -> dict:
        started = time.perf_counter()
        image = stylizer(content, style, size=args.size, **options).image
        seconds = time.perf_counter() - started
        image.save(args.out / f"{content.stem}_{style.stem}_{label}.png")
        entry = {"run": label, "seconds": round(seconds, 2), **score(stylizer, image, content, style).as_dict()}
        print(json.dumps(entry), flush=True)
        return {**entry, "image": image}

    for content, style in chosen:
        stylizer.clear_caches()
        runs = [run(content, style, "fast", mode="fast"), run(content, style, "default")]
        for steps in args.steps:
            for init in ("fast", "content") if steps != DEFAULT_STEPS else ("fast",):   # (photo start = default)
                runs.append(run(content, style, f"{init}-start-{steps}", init=init, epochs=1, steps_per_epoch=steps))
        default = runs[1]
        for entry in runs:
            for key in ("style_distance", "content_distance"):
                entry[f"{key}_ratio"] = round(entry[key] / default[key], 3)
        by_label = {entry["run"]: entry["image"] for entry in runs}
        shortest = min(args.steps)
        rows.append([by_label["fast"], by_label[f"fast-start-{shortest}"], by_label[f"content-start-{shortest}"],
                     by_label["default"]])
        results.append({"content": content.name, "style": style.name,
                        "runs": [{k: v for k, v in entry.items() if k != "image"} for entry in runs]})
    shortest = min(args.steps)
    write_results(args.out, rows, ["fast", f"fast start, {shortest} steps", f"photo start, {shortest} steps",
                                   f"default ({DEFAULT_STEPS})"], results)


if __name__ == "__main__":
    main()
