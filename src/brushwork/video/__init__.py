"""Video: clips painted frame by frame and kept steady along the optical flow (Ruder et al. 2016 for
the optimizer, flow-guided blending for fast mode).

clip.py (reading any FFmpeg format through PyAV, or a folder of frames; H.264 MP4 out with the
audio), flow.py (OpenCV DIS flow, warping, occlusions), run.py (`stylize_video`), work.py (the
resumable work folder), options.py (`VideoOptions`), sample.py (a clip made on the spot). Needs
the `video` extra (av, opencv-python-headless); nothing here is imported until video is asked for.
"""

from typing import Any

from .options import VideoOptions, make_video_options

_LAZY = {"ClipInfo": "clip", "VideoLimits": "clip", "probe": "clip", "FrameProgress": "run", "VideoResult": "run",
         "stylize_video": "run"}


def video_available() -> bool:
    """Whether the video extra (PyAV and OpenCV) is installed, without importing it."""
    from importlib.util import find_spec

    return find_spec("av") is not None and find_spec("cv2") is not None


def __getattr__(name: str) -> Any:
    """The parts that need av and OpenCV load on first use (the CLI lists `video` without them)."""
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["video_available", "ClipInfo", "FrameProgress", "VideoLimits", "VideoOptions", "VideoResult", "make_video_options", "probe",
           "stylize_video"]
