"""Print sizes within a memory budget: time, peak RSS and scores, tiled and untiled.

    python benchmarks/tiling.py sizes [--sizes 1024 2048 4096] [--budget 3GB] [--untiled]
    python benchmarks/tiling.py compare [--size 1536] [--budget 1500MB]     # tiled against untiled, crops
    python benchmarks/tiling.py fast [--size 4000] [--budget 1GB]           # fast mode, a 12-MP photo

Every run is a fresh process (its peak RSS is the run's own, network loading included). Times are
the stylizing (`StyleResult.seconds`); scores (`brushwork.metrics`) are taken at 1024 px long side
for `sizes` (a whole-image score at 4096 px would need 16 GB itself) and at full size for `compare`.
Results go to docs/tiling.md by hand; pictures to --out.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "images"
CONTENT = SHARED / "content" / "tubingen.jpg"
STYLE = SHARED / "style" / "starry_night.jpg"


def worker(spec: dict) -> dict:
    """One run, in this process: {seconds, peak_rss, plan, scores, output}."""
    import brushwork
    from brushwork.imaging import resize, save_image
    from brushwork.metrics import score

    stylizer = brushwork.Stylizer(device="cpu")
    options = dict(spec["options"])
    result = stylizer(spec["content"], spec["style"], **options)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    out = Path(spec["output"])
    save_image(result.image, out)
    report = {"seconds": result.seconds, "peak_rss": peak, "plan": result.plan.as_dict() if result.plan else None,
              "size": list(result.image.size), "output": str(out)}
    if spec.get("score_side"):
        side = spec["score_side"]
        image = result.image
        if max(image.size) > side:
            scale = side / max(image.size)
            image = resize(image.convert("RGB"), (round(image.width * scale), round(image.height * scale)))
        scores = score(stylizer, image, spec["content"], spec["style"])
        report["scores"] = scores.as_dict()
    return report


def run(spec: dict) -> dict:
    """`worker(spec)` in a fresh process."""
    done = subprocess.run([sys.executable, __file__, "worker", json.dumps(spec)], capture_output=True, text=True)
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["failed"])[-1], "options": spec["options"]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def line(label: str, report: dict) -> str:
    if "error" in report:
        return f"| {label} | failed: {report['error']} |"
    plan = report["plan"] or {}
    tiled = [level for level in plan.get("levels", []) if level["core"]]
    tiles = ", ".join(f"{lv['width']}: {lv['tiles']}x{lv['core']}" for lv in tiled) or "none"
    megapixels = report["size"][0] * report["size"][1] / 1e6
    scores = report.get("scores", {})
    return (f"| {label} | {report['size'][0]}x{report['size'][1]} | {report['seconds']:.0f} s | "
            f"{report['seconds'] / megapixels:.1f} s | {report['peak_rss'] / 2**30:.2f} GB | "
            f"{plan.get('peak', 0) / 2**30:.2f} GB | {tiles} | "
            f"{scores.get('style_distance', float('nan')):.3f} | {scores.get('content_distance', float('nan')):.3f} |")


HEADER = ("| run | size | time | per MP | peak RSS | planned peak | tiled levels (tiles x core) | style | content |\n"
          "|---|---|---|---|---|---|---|---|---|")


def sizes(args: argparse.Namespace) -> None:
    print(HEADER)
    for size in args.sizes:
        for budget in ([None] if args.untiled else []) + [args.budget]:
            label = f"{size} px, {'auto budget' if budget is None else budget}"
            spec = {"content": str(args.content), "style": str(args.style), "score_side": 1024,
                    "output": str(args.out / f"tiling_{size}_{budget or 'auto'}.png"),
                    "options": {"size": size, **({"max_memory": budget} if budget else {})}}
            print(line(label, run(spec)), flush=True)


def compare(args: argparse.Namespace) -> None:
    from PIL import Image

    print(HEADER)
    reports = {}
    for budget in (None, args.budget):
        spec = {"content": str(args.content), "style": str(args.style), "score_side": args.size,
                "output": str(args.out / f"compare_{args.size}_{budget or 'auto'}.png"),
                "options": {"size": args.size, **({"max_memory": budget} if budget else {})}}
        reports[budget] = run(spec)
        print(line(f"{args.size} px, {'untiled' if budget is None else budget}", reports[budget]), flush=True)
    whole, tiled = (Image.open(reports[b]["output"]).convert("RGB") for b in (None, args.budget))
    core = next(level["core"] for level in reports[args.budget]["plan"]["levels"][::-1] if level["core"])
    # a 128-px crop centred on a tile corner of the grid (the grid moves every step: any corner is
    # one some steps had), enlarged 3x, whole-image run left, tiled run right
    x = y = core * 2
    box = (x - 64, y - 64, x + 64, y + 64)
    crops = [image.crop(box).resize((384, 384), Image.Resampling.NEAREST) for image in (whole, tiled)]
    sheet = Image.new("RGB", (776, 384), "white")
    sheet.paste(crops[0], (0, 0))
    sheet.paste(crops[1], (392, 0))
    target = args.out / f"tiling_seams_{args.size}.png"
    sheet.save(target)
    a, b = (reports[k]["scores"] for k in (None, args.budget))
    print(f"style {b['style_distance'] / a['style_distance'] - 1:+.1%}, "
          f"content {b['content_distance'] / a['content_distance'] - 1:+.1%}; crops: {target}")


def fast(args: argparse.Namespace) -> None:
    """A phone-sized JPEG (the content enlarged to `--size` long side, as a 12-MP photo is decoded
    whole), stylized at its own size."""
    from PIL import Image

    from brushwork.imaging import output_size

    photo = args.out / f"photo_{args.size}.jpg"
    if not photo.exists():
        image = Image.open(args.content).convert("RGB")
        image.resize(output_size(*image.size, args.size), Image.Resampling.LANCZOS).save(photo, quality=92)
    print(HEADER)
    spec = {"content": str(photo), "style": str(args.style), "score_side": 1024,
            "output": str(args.out / f"fast_{args.size}.jpg"),
            "options": {"size": None, "mode": "fast", "max_memory": args.budget}}
    print(line(f"fast {args.size} px, {args.budget}", run(spec)), flush=True)


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "worker":
        print(json.dumps(worker(json.loads(sys.argv[2]))))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("sizes", "compare", "fast"))
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048, 4096])
    parser.add_argument("--size", type=int, default=None)
    parser.add_argument("--budget", default=None)
    parser.add_argument("--untiled", action="store_true", help="also run each size with the default budget")
    parser.add_argument("--content", type=Path, default=CONTENT)
    parser.add_argument("--style", type=Path, default=STYLE)
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "tiling")
    args = parser.parse_args()
    if not args.content.is_file() or not args.style.is_file():
        parser.error(f"content {args.content} or style {args.style} not found (../shared/images is needed)")
    args.out.mkdir(parents=True, exist_ok=True)
    from _machine import machine_line

    print(machine_line())
    defaults = {"sizes": (None, "3GB"), "compare": (1536, "1500MB"), "fast": (4000, "1GB")}[args.what]
    args.size = args.size or defaults[0]
    args.budget = args.budget or defaults[1]
    {"sizes": sizes, "compare": compare, "fast": fast}[args.what](args)


if __name__ == "__main__":
    main()
