"""Painted pictures for training and held-out checks from Debian's Battle for Wesnoth packages.

    python research/wesnoth_paintings.py --out DIR [--debs DIR] [--heldout-every 5]

The fast model's style map generalises only as far as its training pictures reach (research/fast-mode-experiments.md,
"What would close the style gap"), and the internet is out of reach here. Wesnoth's data and
campaign packages (GPL-2+) carry the games' story art: ~75 digital paintings (landscapes, scenes,
portraits on black) by its artists. This takes every picture under an `images/story` folder except
what is not a painting: title logos (and their translations), mostly transparent cut-outs, plain
backgrounds, and repeats (the same picture in two campaigns). The campaign whose story pictures are
game-map screenshots (Secrets of the Ancients) is not downloaded. Writes DIR/train and DIR/heldout
(every N-th picture by name, for `unusual_paintings.py --paintings`), JPEG at most 1024 px, and
DIR/paintings.json (file -> source path). Not for the repository: like ../shared, these stay
outside it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

# research/ for its sibling scripts, benchmarks/ for the shared helpers (_machine, fast_mode)
sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parent.parent / "benchmarks")]
from gcompris_paintings import save_split  # noqa: E402
from unusual_paintings import extract  # noqa: E402

BRANCH = "1.16"                       # Debian 12's
PACKAGES = [f"wesnoth-{BRANCH}-{part}" for part in ("data", "did", "dm", "httt", "l", "low", "trow", "tsg", "ttb")]
NOT_PAINTINGS = ("logo", "black-background", "book.png")
LONG_SIDE = 1024


def story_pictures(roots: list[Path]) -> dict[str, tuple[str, Image.Image]]:
    """Name -> (source path, picture) of every story painting under the unpacked roots."""
    found: dict[str, tuple[str, Image.Image]] = {}
    seen: set[bytes] = set()
    for root in roots:
        for path in sorted(root.rglob("*")):
            where = str(path.relative_to(root))
            if "/images/story/" not in f"/{where}" or path.suffix.lower() not in (".jpg", ".png") \
                    or "/l10n/" in where or any(word in path.name for word in NOT_PAINTINGS):
                continue
            with Image.open(path) as image:
                rgba = image.convert("RGBA")
            if (np.asarray(rgba)[..., 3] < 255).mean() > 0.1:     # a cut-out, not a picture
                continue
            picture = rgba.convert("RGB")
            picture.thumbnail((LONG_SIDE, LONG_SIDE))
            digest = picture.resize((32, 32)).tobytes()
            if digest in seen:
                continue
            seen.add(digest)
            campaign = where.split("/campaigns/")[1].split("/")[0] if "/campaigns/" in where else "core"
            found[f"wesnoth-{campaign}-{path.stem}".lower()] = (where, picture)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="writes OUT/train, OUT/heldout, OUT/paintings.json")
    parser.add_argument("--debs", type=Path, help="a folder holding the wesnoth .deb files (default: apt-get download)")
    parser.add_argument("--heldout-every", type=int, default=5, metavar="N",
                        help="every N-th picture by name goes to heldout (0: none) [5]")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        found = story_pictures(extract(PACKAGES, args.debs, Path(work)))
    if not found:
        sys.exit(f"no story pictures found: {args.debs or 'the download'} holds none of {', '.join(PACKAGES)}")
    save_split(found, args.out, args.heldout_every, "pictures")


if __name__ == "__main__":
    main()
