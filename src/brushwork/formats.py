"""The image files brushwork reads and writes, by suffix.

A module of its own, free of torch and PIL, so the command line can check paths before it loads
the engine; `imaging` saves through the same table.
"""

from __future__ import annotations

#: Suffix -> Pillow format name for saving; every one of them is also read.
SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".bmp": "BMP",
                ".tif": "TIFF", ".tiff": "TIFF"}
#: Suffixes that folders of images (batches, training sets) are read by.
IMAGE_SUFFIXES = frozenset(SAVE_FORMATS)
