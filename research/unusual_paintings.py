"""Fast mode with paintings unlike the training ones: textures and wallpapers from Debian packages.

    python research/unusual_paintings.py --out OUT [--photo PHOTO] [--fast-weights FILE] [--debs DIR]

A check before shipping a decoder, and a held-out measure of it: the style modulation is learnt
from a few dozen paintings (three of the four benchmark paintings among them), and an unbounded
one once turned unseen dark or two-colour pictures into neon or blank images (research/fast-mode-runs.md,
run 11). Downloads the packages with `apt-get download` (the Debian registry is reachable where
the internet is not; `--debs DIR` uses .deb files already there), takes every GIMP pattern (.pat:
small tiles, tiled here to 512x384) and every wallpaper (the largest file of each), stylizes
`--photo` with each in fast mode, and writes OUT/unusual.png (painting above, result below) and
OUT/unusual.json. Per result: the style / content distance (`brushwork score`; there is no
optimizer picture to compare with, but lower is closer, so decoders compare), and the gap between
its mean colour and the painting's. Flagged (red on the sheet): a result that is nearly flat
where the painting is not, or whose mean colour is further from the painting's than the photo's
is (the style did not take). `--save-paintings DIR` writes the paintings as PNG files too, in two
halves (`split`): DIR/train (e.g. for `brushwork train-fast --style`) and DIR/heldout (then
`--paintings DIR/heldout` measures decoders on paintings they were not trained on).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import struct
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

# research/ for its sibling scripts, benchmarks/ for the shared helpers (_machine, fast_mode)
sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parent.parent / "benchmarks")]
from _machine import machine_line  # noqa: E402

import brushwork  # noqa: E402
from brushwork.fast.train import list_images  # noqa: E402
from brushwork.metrics import score  # noqa: E402

PACKAGES = ("gimp-data", "plasma-workspace-wallpapers", "gnome-backgrounds", "mate-backgrounds", "ukui-wallpapers")
WALLPAPER_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}
PAT_MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}


def read_gimp_pattern(data: bytes) -> Image.Image:
    """A GIMP .pat file (big-endian header: size, version, width, height, bytes per pixel, b"GPAT",
    name; then the pixels) as an RGB image. Pillow reads GIMP brushes but not patterns. Alpha is
    dropped (gimp-data's two patterns with alpha, Stripes1px/2px, come out black: kept so, since
    run 14's training / held-out split was made that way)."""
    header_size, _version, width, height, depth = struct.unpack(">5I", data[:20])
    if data[20:24] != b"GPAT" or depth not in PAT_MODES:
        raise ValueError("not a GIMP pattern")
    pixels = data[header_size:header_size + width * height * depth]
    return Image.frombytes(PAT_MODES[depth], (width, height), pixels).convert("RGB")


def tile(image: Image.Image, size: tuple[int, int] = (512, 384)) -> Image.Image:
    """The pattern repeated over at least `size`, as GIMP fills with it."""
    width, height = max(size[0], image.width), max(size[1], image.height)
    out = Image.new("RGB", (width, height))
    for x in range(0, width, image.width):
        for y in range(0, height, image.height):
            out.paste(image, (x, y))
    return out


def extract(packages: list[str], debs: Path | None, work: Path) -> list[Path]:
    """Unpack the packages' .deb files into `work`; returns the unpacked roots."""
    if debs is None:
        debs = work / "debs"
        debs.mkdir()
        try:
            subprocess.run(["apt-get", "download", *packages], cwd=debs, check=True, capture_output=True)
        except (OSError, subprocess.CalledProcessError) as error:
            sys.exit(f"apt-get download failed ({error}); download the .deb files elsewhere and pass --debs DIR")
    roots = []
    for deb in sorted(debs.glob("*.deb")):
        root = work / deb.stem
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
        roots.append(root)
    return roots


def paintings(roots: list[Path]) -> dict[str, Image.Image]:
    """Name -> picture: every GIMP pattern (tiled) and the largest file of each wallpaper."""
    found: dict[str, Image.Image] = {}
    wallpapers: dict[str, list[Path]] = defaultdict(list)
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.suffix == ".pat":
                found[f"pattern-{path.stem}"] = tile(read_gimp_pattern(path.read_bytes()))
            elif path.suffix.lower() in WALLPAPER_SUFFIXES and "screenshot" not in path.name \
                    and ("/share/wallpapers/" in str(path) or "/share/backgrounds/" in str(path)):
                # KDE keeps one wallpaper at many sizes in .../NAME/contents/images/WxH.ext
                key = str(path).split("/contents/")[0] if "/contents/" in str(path) else str(path.with_suffix(""))
                wallpapers[key].append(path)
    for key, files in sorted(wallpapers.items()):
        largest = max(files, key=lambda p: p.stat().st_size)
        with Image.open(largest) as image:
            found[f"wallpaper-{Path(key).name}"] = image.convert("RGB")
    return found


def split(found: dict[str, Image.Image], long_side: int = 1024) -> dict[str, dict[str, Image.Image]]:
    """A training half and a held-out half (for `train-fast --style` and for this check): by name,
    every other picture of those left after dropping repeats (the same picture at another size or
    under another name) and flat ones (nothing to learn); a held-out picture whose name, less a
    size suffix, is also a training one (the same wallpaper at another size) is dropped too."""
    halves: dict[str, dict[str, Image.Image]] = {"train": {}, "heldout": {}}
    seen = set()
    for name in sorted(found):
        small = found[name].copy()
        small.thumbnail((long_side, long_side))
        digest = small.resize((32, 32)).tobytes()
        if digest in seen:
            continue
        seen.add(digest)
        half = "train" if len(seen) % 2 else "heldout"
        if np.asarray(small, dtype=np.float32).std() / 255 >= 0.01:
            halves[half][name] = small
    def unsized(name: str) -> str:       # "wallpaper-Elephants_3840x2160" -> "wallpaper-Elephants"
        return re.sub(r"_\d+x\d+$", "", name)

    trained = {unsized(name) for name in halves["train"]}
    halves["heldout"] = {name: image for name, image in halves["heldout"].items()
                         if unsized(name) == name or unsized(name) not in trained}
    return halves


def check(result: Image.Image, painting: Image.Image, photo: Image.Image) -> dict[str, float | bool]:
    """Spread of the result and how far its mean colour is from the painting's (and the photo's)."""
    def mean_colour(image: Image.Image) -> np.ndarray:
        return np.asarray(image.convert("RGB"), dtype=np.float32).reshape(-1, 3).mean(0) / 255

    def spread(image: Image.Image) -> float:
        return float((np.asarray(image.convert("RGB"), dtype=np.float32) / 255).std())

    to_painting = float(np.abs(mean_colour(result) - mean_colour(painting)).max())
    photo_to_painting = float(np.abs(mean_colour(photo) - mean_colour(painting)).max())
    result_spread = spread(result)
    flat = result_spread < 0.03 < spread(painting)
    return {"std": result_spread, "colour_gap": to_painting, "photo_colour_gap": photo_to_painting,
            "flagged": flat or to_painting > max(0.1, photo_to_painting)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--photo", type=Path, default=Path("examples/chelsea.jpg"))
    parser.add_argument("--packages", nargs="+", default=list(PACKAGES))
    parser.add_argument("--debs", type=Path, help="a folder of the packages' .deb files (no download)")
    parser.add_argument("--size", type=int, default=256, help="result long side [256]")
    parser.add_argument("--fast-weights", type=Path, help="decoder file or checkpoint [the shipped one]")
    parser.add_argument("--precision", default="auto",
                        help="fast mode's precision [auto: int8 where the file has ranges; checkpoints have none]")
    parser.add_argument("--paintings", type=Path, help="a folder of paintings to use instead of the packages")
    parser.add_argument("--save-paintings", type=Path,
                        help="also write the paintings here as PNG (long side <= 1024), split: DIR/train, DIR/heldout")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    stylizer = brushwork.Stylizer(fast_weights=args.fast_weights)
    photo = Image.open(args.photo).convert("RGB")
    if args.paintings:
        found = {path.stem: Image.open(path).convert("RGB") for path in list_images(args.paintings)}
        args.packages = [str(args.paintings)]
    else:
        with tempfile.TemporaryDirectory() as work:
            found = paintings(extract(args.packages, args.debs, Path(work)))
    if args.save_paintings:
        for half, chosen in split(found).items():
            (args.save_paintings / half).mkdir(parents=True, exist_ok=True)
            for name, painting in chosen.items():
                painting.save(args.save_paintings / half / f"{name}.png")
    cell, columns = 128, 12
    rows = -(-len(found) // columns)
    contact = Image.new("RGB", (columns * cell, rows * 2 * cell), "white")
    draw = ImageDraw.Draw(contact)
    report = {}
    for i, (name, painting) in enumerate(found.items()):
        result = stylizer(photo, painting, mode="fast", size=args.size, precision=args.precision).image
        report[name] = check(result, painting, photo)
        scores = score(stylizer, result, photo, painting)
        report[name].update(style=scores.style, content=scores.content)
        x, y = (i % columns) * cell, (i // columns) * 2 * cell
        for image, top in ((painting, y + 14), (result, y + cell)):
            thumb = image.copy()
            thumb.thumbnail((cell - 4, cell - 16))
            contact.paste(thumb, (x + 2, top))
        label = f"{i} {name.split('-', 1)[-1][:15]}"
        draw.text((x + 2, y + 1), label, fill="red" if report[name]["flagged"] else "black")
    contact.save(args.out / "unusual.png")
    flagged = [name for name, row in report.items() if row["flagged"]]
    (args.out / "unusual.json").write_text(json.dumps({"machine": machine_line(), "results": report}, indent=1))
    print(f"{len(found)} paintings from {', '.join(args.packages)}; "
          f"flagged {len(flagged)}: {', '.join(flagged) or '-'}")
    for kind in ("pattern", "wallpaper", ""):
        rows = [row for name, row in report.items() if name.startswith(kind)]
        if not rows:
            continue
        print(f"{kind + 's' if kind else 'all'} ({len(rows)}): "
              f"mean style distance {statistics.mean(r['style'] for r in rows):.3f}, "
              f"content {statistics.mean(r['content'] for r in rows):.3f}, "
              f"colour gap {statistics.mean(r['colour_gap'] for r in rows):.3f} (the photo's: "
              f"{statistics.mean(r['photo_colour_gap'] for r in rows):.3f})")
    print(f"contact sheet: {args.out / 'unusual.png'}")


if __name__ == "__main__":
    main()
