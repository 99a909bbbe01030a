"""Fast mode's time per image with several decoder files, their calls interleaved.

    python benchmarks/decoder_speed.py [FILE ...] [--images ../shared/images] [--pairs 2] [--repeats 12]

Compares decoders (e.g. the shipped one against a coarse one: its cost does not depend on its
weights) where fast_mode.py times one per run: on these shared machines timings drift by +-20 %
from one run to the next, and interleaving the calls puts the same drift on every decoder. Each
repeat makes, per decoder, one call with a new painting (caches cleared) and one with it cached;
the first two repeats are warm-up. Images are read once into memory, so reading and decoding the
JPEGs is not counted (fast_mode.py counts it). Prints one JSON line per pair: median seconds per
decoder, new painting and cached.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import machine_line  # noqa: E402
from fast_mode import pairs  # noqa: E402

import brushwork  # noqa: E402

WARM_UP = 2


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("decoders", nargs="*", type=Path, help="decoder files besides the shipped one")
    parser.add_argument("--images", type=Path, default=Path("../shared/images"))
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=12)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--precision", default="auto")
    args = parser.parse_args()
    if args.repeats <= WARM_UP:
        parser.error(f"--repeats must be more than {WARM_UP} (the warm-up)")
    stylizers = {"shipped": brushwork.Stylizer(), **{str(path): brushwork.Stylizer(fast_weights=path)
                                                     for path in args.decoders}}
    for content_path, style_path in pairs(args.images, args.pairs):
        photo, painting = Image.open(content_path), Image.open(style_path)
        photo.load(), painting.load()
        times: dict[str, dict[str, list[float]]] = {name: {"new": [], "cached": []} for name in stylizers}
        for _ in range(args.repeats):
            for name, stylizer in stylizers.items():
                stylizer.clear_caches()
                for kind in ("new", "cached"):
                    start = time.perf_counter()
                    stylizer(photo, painting, mode="fast", size=args.size, precision=args.precision)
                    times[name][kind].append(time.perf_counter() - start)
        print(json.dumps({"content": content_path.name, "style": style_path.name, "size": args.size,
                          "precision": args.precision, "seconds": {
                              name: {kind: round(statistics.median(values[WARM_UP:]), 3)
                                     for kind, values in kinds.items()} for name, kinds in times.items()}}))
    print(machine_line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
