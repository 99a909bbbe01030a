"""Fast mode vs the optimizer: speed at 512 px and style/content distance, plus a contact sheet.

    python benchmarks/fast_mode.py --images ../shared/images --out /tmp/fast-bench [--no-optimize]

Pairs content i with style i (cycling), scores both modes with `brushwork.metrics.score` and
writes contact.png (rows: content | style | fast | optimizer) and results.json into --out.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import machine_line  # noqa: E402

import brushwork  # noqa: E402
from brushwork.metrics import Scores, score  # noqa: E402


def images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})


def pairs(folder: Path, count: int) -> list[tuple[Path, Path]]:
    """The benchmark pairs: content i with style i of `folder`/content and `folder`/style, cycling."""
    contents, styles = images(folder / "content"), images(folder / "style")
    return [(contents[i % len(contents)], styles[i % len(styles)]) for i in range(count)]


def optimizer_picture(bench: Path, content: Path, style: Path) -> Path:
    """Where this benchmark keeps the optimizer's picture of a pair in its --out folder (to reuse it)."""
    return bench / f"optimize_{content.stem}_{style.stem}.png"


def optimizer_scores(stylizer: brushwork.Stylizer, bench: Path, chosen: list[tuple[Path, Path]],
                     parser: argparse.ArgumentParser) -> dict[tuple[Path, Path], Scores]:
    """The scores of the optimizer's pictures a run of this benchmark left in `bench`, per pair, for
    scripts that compare fast mode with them without running the optimizer again."""
    found = {}
    for content, style in chosen:
        picture = optimizer_picture(bench, content, style)
        if not picture.is_file():
            parser.error(f"{picture} is missing: run benchmarks/fast_mode.py --out {bench} first")
        found[content, style] = score(stylizer, Image.open(picture).convert("RGB"), content, style)
    return found


def sheet(rows: list[list[Image.Image]], labels: list[str], cell: int = 256) -> Image.Image:
    out = Image.new("RGB", (cell * len(labels), cell * len(rows) + 20), "white")
    draw = ImageDraw.Draw(out)
    for c, label in enumerate(labels):
        draw.text((c * cell + 6, 4), label, fill="black")
    for r, row in enumerate(rows):
        for c, image in enumerate(row):
            thumb = image.copy()
            thumb.thumbnail((cell, cell))
            out.paste(thumb, (c * cell + (cell - thumb.width) // 2, 20 + r * cell + (cell - thumb.height) // 2))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, default=Path("../shared/images"))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--pairs", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=5, help="timed fast runs per pair (median reported)")
    parser.add_argument("--no-optimize", action="store_true", help="skip the (slow) optimizer runs")
    parser.add_argument("--fast-weights", type=Path)
    parser.add_argument("--precision", default="auto", help="fast mode's precision: auto (int8 on CPUs with VNNI), "
                                                             "int8, bf16, fp32 [auto]")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    chosen = pairs(args.images, args.pairs)
    stylizer = brushwork.Stylizer(fast_weights=args.fast_weights)
    fast_options = {"mode": "fast", "size": args.size, "precision": args.precision}
    stylizer(chosen[0][0], chosen[0][1], **fast_options)                   # warm-up (loads the model)
    results, rows = [], []
    for content, style in chosen:
        times, cached_times = [], []
        for _ in range(args.repeats):
            stylizer.clear_caches()                  # a painting seen for the first time ...
            started = time.perf_counter()
            result = stylizer(content, style, **fast_options)
            times.append(time.perf_counter() - started)
            started = time.perf_counter()            # ... and again, its style vector cached
            stylizer(content, style, **fast_options)
            cached_times.append(time.perf_counter() - started)
        fast = result.image
        fast.save(args.out / f"fast_{content.stem}_{style.stem}.png")
        entry = {"content": content.name, "style": style.name, "size": list(fast.size), "precision": result.precision,
                 "fast_seconds_median": statistics.median(times), "fast_seconds_min": min(times),
                 "fast_cached_style_seconds_median": statistics.median(cached_times),
                 "fast": score(stylizer, fast, content, style).as_dict()}
        row = [Image.open(content).convert("RGB"), Image.open(style).convert("RGB"), fast]
        if not args.no_optimize:
            # optimizer results are kept in --out and reused (they do not depend on the fast weights)
            cached, timing = optimizer_picture(args.out, content, style), args.out / "optimize_seconds.json"
            seconds = json.loads(timing.read_text()) if timing.is_file() else {}
            if cached.is_file() and cached.name in seconds:
                slow = Image.open(cached).convert("RGB")
            else:
                started = time.perf_counter()
                slow = stylizer(content, style, size=args.size).image
                seconds[cached.name] = time.perf_counter() - started
                slow.save(cached)
                timing.write_text(json.dumps(seconds))
            entry["optimize_seconds"] = seconds[cached.name]
            entry["optimize"] = score(stylizer, slow, content, style).as_dict()
            for key in ("style_distance", "content_distance"):
                entry[f"{key}_ratio"] = entry["fast"][key] / entry["optimize"][key]
            row.append(slow)
        results.append(entry)
        rows.append(row)
        print(json.dumps(entry), flush=True)
    write_results(args.out, rows, ["content", "style", "fast", "optimizer"][: len(rows[0])], results)


def write_results(out: Path, rows: list[list[Image.Image]], labels: list[str], results: list[dict]) -> None:
    """contact.png and results.json (with the machine) into `out`."""
    sheet(rows, labels).save(out / "contact.png")
    summary = {"machine": machine_line(), "threads": torch.get_num_threads(), "pairs": results}
    (out / "results.json").write_text(json.dumps(summary, indent=2))
    print(summary["machine"])


if __name__ == "__main__":
    main()
