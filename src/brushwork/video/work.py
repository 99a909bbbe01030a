"""The work folder of a video run: each finished frame on disk, so a re-run resumes where the last
one stopped (Ctrl-C, a crash, a lost machine) and memory never holds more than two frames.

`OUT.work/` beside the output holds `run.json` (what the frames were made from: source, paintings,
options, size) and `frames/000000.png`, each written atomically. A re-run with the same inputs
reuses the frames; with other inputs it starts over. The folder is removed once the output is
written, unless the user keeps it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..files import atomic_write


def run_key(parts: dict[str, Any]) -> str:
    """A digest of what the frames depend on (JSON-able parts)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def file_digest(path: Path) -> str:
    """Digest of a file's size, time and first and last MB (enough to see it changed; cheap on big clips)."""
    stat = path.stat()
    digest = hashlib.sha256(f"{stat.st_size}:{stat.st_mtime_ns}".encode())
    with path.open("rb") as stream:
        digest.update(stream.read(2**20))
        if stat.st_size > 2**20:
            stream.seek(max(2**20, stat.st_size - 2**20))
            digest.update(stream.read(2**20))
    return digest.hexdigest()


class WorkFolder:
    """Frames done so far for one output, keyed by the run's inputs."""

    def __init__(self, output: Path, key: str) -> None:
        self.root = output.with_name(output.name + ".work")
        self.frames = self.root / "frames"
        self.key = key
        manifest = self.root / "run.json"
        self.resumed = False
        self.resumed_frames = 0        # frames a run took from here (set by the run)
        if manifest.is_file():
            try:
                self.resumed = json.loads(manifest.read_text()).get("key") == key
            except (OSError, ValueError):
                self.resumed = False
            if not self.resumed:
                shutil.rmtree(self.frames, ignore_errors=True)
        self.frames.mkdir(parents=True, exist_ok=True)
        with atomic_write(manifest) as stream:
            stream.write(json.dumps({"key": key, "note": "brushwork video: frames made so far; re-run the "
                                     "same command to resume"}).encode())

    def path(self, index: int) -> Path:
        return self.frames / f"{index:06d}.png"

    def has(self, index: int) -> bool:
        return self.path(index).is_file()

    def done(self) -> int:
        """Frames on disk (the run makes them in order; a gap ends the count)."""
        count = 0
        while self.has(count):
            count += 1
        return count

    def save(self, index: int, frame: np.ndarray) -> None:
        with atomic_write(self.path(index)) as stream:
            Image.fromarray(frame).save(stream, format="PNG", compress_level=1)

    def load(self, index: int) -> np.ndarray:
        with Image.open(self.path(index)) as image:
            return np.asarray(image.convert("RGB"), dtype=np.uint8)

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


__all__ = ["WorkFolder", "file_digest", "run_key"]
