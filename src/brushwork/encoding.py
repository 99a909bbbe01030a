"""Images to bytes for the wire: the PNG results and the small JPEG previews of both job queues.

PIL only (no torch), so the server side of the Celery queue can use it without loading a network.
"""

from __future__ import annotations

import io

from PIL import Image

#: Long side of the JPEG previews sent with progress events (a few kB, so previews never slow a run).
PREVIEW_SIDE = 256
PREVIEW_QUALITY = 80


def encode_image(image: Image.Image, fmt: str = "PNG", **params) -> bytes:
    """`image` encoded in `fmt` (a PIL format name), with PIL's save parameters."""
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def encode_png(image: Image.Image) -> bytes:
    """A result as PNG bytes (alpha kept)."""
    return encode_image(image, "PNG")


def encode_jpeg_preview(image: Image.Image, side: int = PREVIEW_SIDE) -> bytes:
    """A small RGB JPEG of `image`, long side at most `side` (never enlarged)."""
    small = image.convert("RGB")
    small.thumbnail((side, side))
    return encode_image(small, "JPEG", quality=PREVIEW_QUALITY)
