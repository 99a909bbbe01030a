"""brushwork against the peer that runs here (`pastiche`: Gatys et al. with L-BFGS, fp32).

    python benchmarks/compare.py [--pairs 2] [--out out/compare] [--reuse-peer-default]

For each content/style pair (from ../shared/images when present, else the bundled examples):
1. the peer with its defaults (1000 L-BFGS steps, ~250k pixels) — about 30 minutes per pair on
   a 2-core CPU; `--reuse-peer-default` reuses an earlier run's image and time from --out;
2. brushwork with its defaults at the same output size;
3. the peer again, given brushwork's wall time (steps from its measured time per step).
Each run is a separate process (wall time and peak RSS are its own). The peer's start-up and time
per step are also measured on short runs, so the table can give its quiet-machine time even when
the 1000-step run shared the machine. All outputs are scored with
`brushwork.metrics` at the output's size, and a labelled contact sheet is written per pair.
Prints a markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "images"
PEER_DEFAULT_STEPS = 1000


def pairs(count: int) -> list[tuple[Path, Path]]:
    if SHARED.is_dir():
        chosen = [("tubingen", "starry_night"), ("golden_gate", "the_scream"), ("hoovertowernight", "shipwreck"),
                  ("amber", "udnie")]
        return [(SHARED / "content" / f"{c}.jpg", SHARED / "style" / f"{s}.jpg") for c, s in chosen[:count]]
    return [(ROOT / "examples" / "astronaut.jpg", ROOT / "examples" / "strokes.png")]


def timed(command: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS MB) of one child process (its own rusage, via wait4)."""
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"{command[0]} failed with exit code {child.returncode}")
    return seconds, usage.ru_maxrss / 1024


def peer(content: Path, style: Path, out: Path, steps: int) -> tuple[float, float]:
    return timed([str(Path(sys.executable).with_name("pastiche")), "--no-verbose", "--num-steps", str(steps), "--content", str(content),
                  "--styles", str(style), "--output", str(out)])


def ours(content: Path, style: Path, out: Path, size: int) -> tuple[float, float]:
    return timed([sys.executable, "-m", "brushwork", "stylize", str(content), str(style), "-o", str(out),
                  "--size", str(size), "-q"])


def sheet(images: list[tuple[str, Path]], target: Path, height: int = 256) -> None:
    tiles = []
    for label, path in images:
        image = Image.open(path).convert("RGB")
        image = image.resize((round(image.width * height / image.height), height), Image.Resampling.LANCZOS)
        canvas = Image.new("RGB", (image.width, height + 22), "white")
        canvas.paste(image, (0, 22))
        ImageDraw.Draw(canvas).text((4, 4), label, fill="black")
        tiles.append(canvas)
    out = Image.new("RGB", (sum(t.width for t in tiles) + 4 * (len(tiles) - 1), height + 22), "white")
    x = 0
    for tile in tiles:
        out.paste(tile, (x, 0))
        x += tile.width + 4
    out.save(target)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "compare")
    parser.add_argument("--reuse-peer-default", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _machine import machine_line

    from brushwork import Stylizer
    from brushwork.metrics import score

    args.out.mkdir(parents=True, exist_ok=True)
    stylizer = Stylizer()
    print(f"machine: {machine_line()}\n")
    print("| pair | run | size | wall s | peak RSS MB | style dist | content dist |\n|---|---|---|---|---|---|---|")
    for content, style in pairs(args.pairs):
        name = f"{content.stem}_{style.stem}"
        peer_default = args.out / f"{name}_peer_default.png"
        record = args.out / f"{name}_peer_default.json"
        if args.reuse_peer_default and record.exists():
            seconds, rss = json.loads(record.read_text())
        else:
            seconds, rss = peer(content, style, peer_default, PEER_DEFAULT_STEPS)
            record.write_text(json.dumps([seconds, rss]))
        startup, per_step = peer_rate(content, style, args.out / f"{name}_peer_sample.png")
        size = max(Image.open(peer_default).size)
        mine = args.out / f"{name}_brushwork.png"
        ours_run = (mine, *ours(content, style, mine, size))
        budget_steps = max(1, int((ours_run[1] - startup) / per_step))
        same_time = args.out / f"{name}_peer_same_time.png"
        estimate = startup + PEER_DEFAULT_STEPS * per_step
        runs = {f"peer, defaults ({PEER_DEFAULT_STEPS} steps; {estimate:.0f} s on a quiet machine)":
                (peer_default, seconds, rss),
                "brushwork, defaults": ours_run,
                f"peer, brushwork's time ({budget_steps} steps)": (same_time, *peer(content, style, same_time,
                                                                                   budget_steps))}
        print(f"peer on a quiet machine: {startup:.1f} s start-up + {per_step:.3f} s/step -> "
              f"{estimate:.0f} s for {PEER_DEFAULT_STEPS} steps; brushwork {ours_run[1]:.1f} s "
              f"= 1/{estimate / ours_run[1]:.0f} of that", flush=True)
        for label, (path, wall, peak) in runs.items():
            scores = score(stylizer, path, content, style)
            width, height = Image.open(path).size
            print(f"| {content.stem} / {style.stem} | {label} | {width}x{height} | {wall:.1f} | {peak:.0f} | "
                  f"{scores.style:.3f} | {scores.content:.3f} |", flush=True)
        sheet([("content", content), ("style", style)] + [(label, path) for label, (path, _, _) in runs.items()],
              args.out / f"{name}_sheet.png")


def peer_rate(content: Path, style: Path, out: Path) -> tuple[float, float]:
    """(start-up s, s per step) of the peer, from runs of 5 and 30 steps (used where a full
    1000-step run shared the machine with other work and its wall time is not the peer's own)."""
    short, _ = peer(content, style, out, 5)
    long, _ = peer(content, style, out, 30)
    per_step = (long - short) / 25
    return max(0.0, short - 5 * per_step), per_step


if __name__ == "__main__":
    main()
