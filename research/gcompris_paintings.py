"""Paintings for training and held-out checks from Debian's gcompris-qt-data package.

    python research/gcompris_paintings.py --out DIR [--debs DIR] [--heldout-every 4]

The fast model's style map generalises only as far as its training paintings reach (research/fast-mode-experiments.md,
"What would close the style gap"), and the internet is out of reach here: the educational suite
GCompris ships ~35 public-domain paintings (scans from the WebMuseum, GPLv3 per the package's
README) inside Qt resource files. This reads them out: the puzzle pieces of its "paintings"
activity put back together at the places its boards give, the pictures of "babyshapes" with their
cut-out pieces pasted back, and the painting backgrounds of "details" (those whose title carries a
year; the others are photos of monuments). Writes DIR/train and DIR/heldout (every N-th painting
by name, for `unusual_paintings.py --paintings`), JPEG, and DIR/paintings.json (file -> title).
Not for the repository: like ../shared, these stay outside it.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import struct
import sys
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path

from PIL import Image

# research/ for its sibling scripts, benchmarks/ for the shared helpers (_machine, fast_mode)
sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parent.parent / "benchmarks")]
from unusual_paintings import extract  # noqa: E402

PACKAGE = "gcompris-qt-data"
ACTIVITIES = "gcompris/src/activities"


def read_rcc(data: bytes) -> Iterator[tuple[str, bytes]]:
    """(path, contents) of every file in a Qt binary resource (.rcc, format 1-3): a header, a tree
    of fixed-size nodes, a names table (UTF-16 with a length and hash) and a data table (each entry
    length-prefixed, zlib-compressed behind a 4-byte size when flag 1 is set)."""
    if data[:4] != b"qres":
        raise ValueError("not a Qt resource file")
    version, tree, table, names = struct.unpack(">4I", data[4:20])
    node_size = 14 if version == 1 else 22

    def name(offset: int) -> str:
        length = struct.unpack(">H", data[names + offset:names + offset + 2])[0]
        return data[names + offset + 6:names + offset + 6 + 2 * length].decode("utf-16-be")

    def walk(index: int, prefix: str) -> Iterator[tuple[str, bytes]]:
        base = tree + index * node_size
        name_offset, flags = struct.unpack(">IH", data[base:base + 6])
        path = prefix + (name(name_offset) if index else "")
        if flags & 2:                                   # a directory: child count, first child
            count, first = struct.unpack(">II", data[base + 6:base + 14])
            for child in range(first, first + count):
                yield from walk(child, path + "/")
            return
        offset = struct.unpack(">I", data[base + 10:base + 14])[0]
        size = struct.unpack(">I", data[table + offset:table + offset + 4])[0]
        blob = data[table + offset + 4:table + offset + 4 + size]
        if flags & 4:
            raise ValueError(f"{path}: zstd-compressed resources are not supported")
        yield path.lstrip("/"), zlib.decompress(blob[4:]) if flags & 1 else blob

    yield from walk(0, "")


def _title(board: str) -> str:
    found = re.search(r'qsTr\("(.*?)"\)', board)
    return found.group(1) if found else ""


def _pieces(board: str) -> list[tuple[str, float, float]]:
    """(image, x, y) of each piece a board places: its centre as a fraction of the picture."""
    found = re.findall(r'"pixmapfile"\s*:\s*"([^"]+)",(?:\s*"dropAreaSize"\s*:\s*"\d+",)?'
                       r'\s*"x"\s*:\s*"([\d.]+)",\s*"y"\s*:\s*"([\d.]+)"', board)
    return [(image, float(x), float(y)) for image, x, y in found]


def _paste(canvas: Image.Image, pieces: list[tuple[Image.Image, float, float]]) -> list[tuple[int, int, int, int]]:
    boxes = []
    for piece, x, y in pieces:
        left, top = round(x * canvas.width - piece.width / 2), round(y * canvas.height - piece.height / 2)
        canvas.paste(piece, (left, top), piece)
        boxes.append((left, top, left + piece.width, top + piece.height))
    return boxes


def paintings(files: dict[str, bytes]) -> dict[str, tuple[str, Image.Image]]:
    """Name -> (title, picture) of every painting the three activities hold."""
    def image(path: str) -> Image.Image:
        return Image.open(io.BytesIO(files[path])).convert("RGBA")

    found: dict[str, tuple[str, Image.Image]] = {}
    for path, data in sorted(files.items()):
        match = re.fullmatch(rf"{ACTIVITIES}/(paintings|babyshapes|details)/resource/board/board[\w.]*\.qml", path)
        if not match:
            continue
        activity, board = match.group(1), data.decode()
        folder = f"{ACTIVITIES}/{activity}/resource/"
        title = _title(board)
        if not title:                                # babyshapes' early boards: shapes, not pictures
            continue
        background = re.search(r'"pixmapfile"\s*:\s*"(image/[^"]+_background\.webp)"', board)
        if activity == "paintings":                  # puzzle pieces on an empty board of the given size
            width = int(re.search(r'"width":\s*(\d+)', board).group(1))
            height = int(re.search(r'"height":\s*(\d+)', board).group(1))
            canvas = Image.new("RGBA", (width, height))
            boxes = _paste(canvas, [(image(folder + p), x, y) for p, x, y in _pieces(board)])
            picture = canvas.crop((min(b[0] for b in boxes), min(b[1] for b in boxes),
                                   max(b[2] for b in boxes), max(b[3] for b in boxes)))
        elif background and (activity == "babyshapes" or re.search(r"\d{4}", title)):
            picture = image(folder + background.group(1))   # babyshapes: cut-out pieces pasted back
            if activity == "babyshapes":
                _paste(picture, [(image(folder + p), x, y) for p, x, y in _pieces(board)])
        else:
            continue
        name = re.sub(r"\W+", "_", title.split(" - ")[0]).strip("_").lower()
        found[f"gcompris-{name}"] = (title, picture.convert("RGB"))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="writes OUT/train, OUT/heldout, OUT/paintings.json")
    parser.add_argument("--debs", type=Path, help=f"a folder holding the {PACKAGE} .deb (default: apt-get download)")
    parser.add_argument("--heldout-every", type=int, default=4, metavar="N",
                        help="every N-th painting by name goes to heldout (0: none) [4]")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        files: dict[str, bytes] = {}
        for root in extract([PACKAGE], args.debs, Path(work)):
            for rcc in sorted(root.rglob("*.rcc")):
                files.update(read_rcc(rcc.read_bytes()))
    found = paintings(files)
    if not found:
        sys.exit(f"no paintings found: {args.debs or 'the download'} holds no {PACKAGE} .deb with them")
    save_split(found, args.out, args.heldout_every, "paintings")


def save_split(found: dict[str, tuple[str, Image.Image]], out: Path, heldout_every: int, kind: str) -> None:
    """Write name -> (label, picture) as OUT/train and OUT/heldout (every N-th by name; 0: none) JPEG
    files, and OUT/paintings.json (file -> label)."""
    labels = {}
    for index, name in enumerate(sorted(found)):
        label, picture = found[name]
        half = "heldout" if heldout_every and index % heldout_every == heldout_every - 1 else "train"
        (out / half).mkdir(parents=True, exist_ok=True)
        picture.save(out / half / f"{name}.jpg", quality=95)
        labels[f"{half}/{name}.jpg"] = label
        print(f"{half:8s} {picture.width}x{picture.height}  {label}")
    (out / "paintings.json").write_text(json.dumps(labels, indent=1, ensure_ascii=False))
    print(f"{len(found)} {kind}: {sum(k.startswith('train') for k in labels)} train, "
          f"{sum(k.startswith('heldout') for k in labels)} held out, in {out}")

if __name__ == "__main__":
    main()
