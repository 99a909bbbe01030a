"""Score fast-mode decoder files against the optimizer pictures a fast_mode.py run left in --bench.

    python benchmarks/fast_mode.py --images ../shared/images --out OUT        # once: optimizer pictures
    python research/score_decoders.py --bench OUT run/a.pt run/b.pt ...      # then any number of decoders

For choosing between training checkpoints (the shipped decoder was picked this way): for each
decoder, the mean and per-pair style / content distance ratios to the optimizer (lower is closer),
and with --sheets a strip of its results to look at (fast_mode.py's contact sheet, one row). The optimizer is not run again.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

# research/ for its sibling scripts, benchmarks/ for the shared helpers (_machine, fast_mode)
sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parent.parent / "benchmarks")]
from fast_mode import optimizer_scores, pairs, sheet  # noqa: E402

import brushwork  # noqa: E402
from brushwork.metrics import score  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("decoders", nargs="+", type=Path, help="decoder files (checkpoints or exported fp16 files)")
    parser.add_argument("--bench", type=Path, required=True, help="a fast_mode.py --out folder (optimizer pictures)")
    parser.add_argument("--images", type=Path, default=Path("../shared/images"))
    parser.add_argument("--pairs", type=int, default=4)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--precision", default="fp32", help="fast mode's precision [fp32: the weights themselves]")
    parser.add_argument("--sheets", type=Path, help="write a strip of each decoder's results here")
    args = parser.parse_args()
    chosen = pairs(args.images, args.pairs)
    reference = brushwork.Stylizer()
    optimizer = optimizer_scores(reference, args.bench, chosen, parser)
    table = {}
    for decoder in args.decoders:
        stylizer = brushwork.Stylizer(fast_weights=decoder)
        ratios, pictures = [], []
        for content, style in chosen:
            picture = stylizer(content, style, mode="fast", size=args.size, precision=args.precision).image
            got, slow = score(stylizer, picture, content, style), optimizer[content, style]
            ratios.append((got.style / slow.style, got.content / slow.content))
            pictures.append(picture)
        style_mean, content_mean = (statistics.mean(r[i] for r in ratios) for i in (0, 1))
        table[str(decoder)] = {"style_ratio": style_mean, "content_ratio": content_mean, "pairs": ratios}
        print(f"{decoder}: {style_mean:.3f} / {content_mean:.3f}   "
              + "  ".join(f"{s:.2f}/{c:.2f}" for s, c in ratios), flush=True)
        if args.sheets:
            labels = [f"{content.stem} + {style.stem}" for content, style in chosen]
            sheet([pictures], labels).save(_sheet_path(args.sheets, decoder))
    if args.sheets:
        (args.sheets / "scores.json").write_text(json.dumps(table, indent=1))


def _sheet_path(folder: Path, decoder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{decoder.parent.name}_{decoder.stem}.png"


if __name__ == "__main__":
    main()
