"""From a request to a checked `JobRequest`: decode the images, build StyleOptions, apply limits.

Everything that can be wrong with a request is found here, before it takes a place in the queue,
so bad input gets its 4xx at once instead of a failed job later.
"""

from __future__ import annotations

from typing import Any

from .. import imaging
from ..errors import BrushworkError, ImageDecodeError, ImageTooLargeError, InvalidInputError
from ..jobs import JobRequest
from ..options import StyleOptions, make_options
from .errors import LimitExceeded
from .settings import ServerSettings

#: Previews per job for the event stream when the client does not choose `preview_every`.
PREVIEWS_PER_JOB = 25


def decode_field(name: str, text: str) -> bytes:
    """Base64 (or a data URL) to bytes; the error names the field."""
    try:
        return imaging.decode_base64(text)
    except BrushworkError as error:
        raise type(error)(f"{name}: {error}") from None


def build_job(content: bytes, styles: list[bytes], options: dict[str, Any], settings: ServerSettings,
              init_image: bytes | None = None, *, previews: bool = False) -> JobRequest:
    """Check images and options against the server's limits; raise the library error that fits."""
    if not styles:
        raise InvalidInputError("style_img: at least one style image is needed")
    opts = make_options(**options)
    _check_steps(opts, settings)
    width, height = _check_image("content_img", content, settings)
    for number, style in enumerate(styles, start=1):
        _check_image("style_img" if len(styles) == 1 else f"style_img[{number}]", style, settings)
    if init_image is not None:
        _check_image("init_img", init_image, settings)
    _check_output_size(opts, width, height, settings)
    if settings.max_memory is not None and (opts.max_memory is None or opts.max_memory > settings.max_memory):
        opts = opts.replace(max_memory=settings.max_memory)     # a request may lower the budget, never raise it
    if previews and "preview_every" not in options:
        opts = opts.replace(preview_every=max(1, opts.total_steps // PREVIEWS_PER_JOB))
    data = opts.model_dump(mode="json", exclude={"device"}, exclude_defaults=True)
    return JobRequest(content=content, styles=tuple(styles), options=data, init_image=init_image)


def build_video_job(clip: bytes, styles: list[bytes], options: dict[str, Any], video: dict[str, Any],
                    settings: ServerSettings, *, previews: bool = True) -> JobRequest:
    """A video job, checked from the clip's header against the server's limits (duration, frames,
    pixels, output size), the paintings and the options, before it is queued."""
    from ..video.jobs import probe_bytes            # the video extra loads only for video jobs
    from ..video.options import make_video_options

    if not clip:
        raise InvalidInputError("video: the clip is empty")
    if not styles:
        raise InvalidInputError("style_img: at least one style image is needed")
    opts = make_options(**options)
    video_opts = make_video_options(**video)
    _check_steps(opts, settings)
    for number, style in enumerate(styles, start=1):
        _check_image("style_img" if len(styles) == 1 else f"style_img[{number}]", style, settings)
    try:
        info = probe_bytes(clip, video)
    except InvalidInputError as error:
        raise InvalidInputError(f"video: {error}") from None
    if info.seconds > settings.max_video_seconds:
        raise LimitExceeded(f"video: the clip runs {info.seconds:.1f} s, more than this server's limit of "
                            f"{settings.max_video_seconds:g} s (max_video_seconds); trim it with start and end")
    if info.frames > settings.max_video_frames:
        raise LimitExceeded(f"video: {info.frames} frames, more than this server's limit of "
                            f"{settings.max_video_frames} (max_video_frames)")
    if info.width * info.height > settings.max_pixels:
        raise ImageTooLargeError(f"video: frames of {info.width}x{info.height}, more than this server's limit of "
                                 f"{settings.max_pixels} pixels (max_pixels)")
    _check_output_size(opts, info.width, info.height, settings)
    if settings.max_memory is not None and (opts.max_memory is None or opts.max_memory > settings.max_memory):
        opts = opts.replace(max_memory=settings.max_memory)
    data = opts.model_dump(mode="json", exclude={"device", "preview_every"}, exclude_defaults=True)
    return JobRequest(content=clip, styles=tuple(styles), options=data,
                      video=video_opts.model_dump(mode="json", exclude_defaults=True), frames=max(1, info.frames))


def _check_steps(opts: StyleOptions, settings: ServerSettings) -> None:
    if opts.total_steps > settings.max_steps:
        raise LimitExceeded(f"epochs x steps_per_epoch = {opts.epochs} x {opts.steps_per_epoch} = "
                            f"{opts.total_steps} steps, more than this server's limit of "
                            f"{settings.max_steps} (max_steps)")


def _check_image(name: str, data: bytes, settings: ServerSettings) -> tuple[int, int]:
    """Fully decode once (catches truncated files), under the server's pixel limit."""
    if not data:
        raise ImageDecodeError(f"{name}: image data is empty")
    try:
        loaded = imaging.load_image(data, max_pixels=settings.max_pixels)
    except ImageTooLargeError as error:
        limit = "" if "limit" in str(error) else f"; this server's limit is {settings.max_pixels} pixels"
        raise ImageTooLargeError(f"{name}: {error}{limit} (max_pixels)") from None
    except BrushworkError as error:
        raise type(error)(f"{name}: {error}") from None
    return loaded.rgb.size


def _check_output_size(opts: StyleOptions, width: int, height: int, settings: ServerSettings) -> None:
    long_side = opts.size if opts.size is not None else max(width, height)
    if long_side > settings.max_size:
        what = f"size {opts.size}" if opts.size is not None else f"the content image's own size ({width}x{height})"
        raise LimitExceeded(f"{what} is larger than this server's limit of {settings.max_size} px "
                            f"on the long side (max_size)")
