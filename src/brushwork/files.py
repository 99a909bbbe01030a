"""Writing files so that a reader never sees half of one: `atomic_write`.

Every file brushwork writes whole (results, previews saved to disk, checkpoints, decoders, int8
ranges) goes through here: the bytes go to a hidden temporary file in the target's folder, which
replaces the target in one rename once it is complete. A failed or interrupted write leaves the
old file (or none) and no temporary behind.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


@contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """A binary stream for `path`'s new contents: `with atomic_write(p) as f: f.write(...)`.

    The temporary file is created beside `path` (same file system, so the rename is atomic) with
    the permissions a plain `open` would give it (the umask applies). It is renamed over `path`
    when the block ends normally and removed when it raises (the error propagates). A missing
    folder raises FileNotFoundError before anything is written.
    """
    target = Path(path)
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(4)}.part")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(descriptor, "wb") as stream:
            yield stream
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
