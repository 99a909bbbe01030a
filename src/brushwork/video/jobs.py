"""Video jobs for the job queues (the in-process one and Celery workers): checked at intake from the
clip's header, run from bytes in a temporary folder, answered with the MP4's bytes."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..callbacks import Callback
from ..jobs import JobRequest
from ..options import make_options
from .clip import ClipInfo, probe
from .options import make_video_options
from .run import FrameProgress, stylize_video

if TYPE_CHECKING:
    from ..stylizer import Stylizer


def probe_bytes(clip: bytes, video: dict[str, Any]) -> ClipInfo:
    """What a clip sent as bytes holds, read as the run would (trim and frame rate from `video`);
    a clip FFmpeg cannot read is an `InvalidInputError` of one line."""
    opts = make_video_options(**video)
    with tempfile.TemporaryDirectory(prefix="brushwork-probe-") as folder:
        path = Path(folder) / "clip"
        path.write_bytes(clip)
        return probe(path, fps=opts.fps, start=opts.start, end=opts.end)


def run_video_job(stylizer: "Stylizer", request: JobRequest, on_frame: Callable[[FrameProgress], None],
                  on_step: Callback | None = None) -> bytes:
    """Paint a video job's clip; the MP4's bytes."""
    assert request.video is not None
    with tempfile.TemporaryDirectory(prefix="brushwork-video-") as folder:
        clip = Path(folder) / "clip"
        clip.write_bytes(request.content)
        target = Path(folder) / "painted.mp4"
        stylize_video(stylizer, clip, list(request.styles), target, make_options(**request.options),
                      make_video_options(**request.video), callback=on_frame, on_step=on_step)
        return target.read_bytes()


__all__ = ["probe_bytes", "run_video_job"]
