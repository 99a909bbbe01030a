"""A clip painted frame by frame and kept steady: `stylize_video`.

Each frame after the first starts from the previous result carried along the optical flow of the
input clip (`flow.py`), so what stays in place keeps its strokes:

* optimizer mode (Ruder et al. 2016): the carried picture is the frame's starting point and the
  target of a temporal term on the pixels the flow can be trusted for, and the frame gets
  `frame_steps` steps instead of the first frame's whole schedule;
* fast mode: the frame is painted by the network (the paintings' statistics are computed once, by
  the style-vector cache), then blended with the carried picture where the flow can be trusted.

Frames go to a work folder as they are made (`work.py`): a re-run resumes, and memory holds two
frames whatever the clip's length. The output is written at the end, under a temporary name, and
renamed into place.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from PIL import Image

from ..callbacks import Callback
from ..errors import InvalidInputError
from ..imaging import ImageInput, load_image
from ..options import StyleOptions, make_options
from ..pipeline import TemporalTarget, as_list, image_digest
from .clip import VIDEO_SUFFIXES, ClipInfo, VideoLimits, probe, read_frames, write_mp4
from .flow import FlowEstimator, Motion, motion
from .options import VideoOptions, make_video_options
from .work import WorkFolder, file_digest, run_key

if TYPE_CHECKING:
    from ..stylizer import Stylizer


@dataclass(frozen=True)
class FrameProgress:
    """One frame done (made now, or found in the work folder)."""

    frame: int                 # frames done, 1-based
    total: int                 # frames in the run (estimated where the container does not say)
    elapsed: float             # seconds since the run began
    eta: float                 # seconds left, from the pace of the frames made so far
    resumed: int               # frames taken from the work folder
    preview: Image.Image | None = None    # the frame just made


@dataclass(frozen=True)
class VideoResult:
    output: Path
    frames: int
    fps: Fraction
    size: tuple[int, int]
    seconds: float
    resumed: int
    audio: bool


FrameCallback = Callable[[FrameProgress], None]


def check_output(output: Path) -> bool:
    """Whether `output` is a video file (True) or a frames folder (False); refuses others."""
    if output.suffix.lower() in VIDEO_SUFFIXES:
        if not output.parent.exists():
            raise InvalidInputError(f"output '{output}': folder '{output.parent}' does not exist")
        return True
    if output.suffix:
        raise InvalidInputError(f"output '{output}': use a {'/'.join(sorted(VIDEO_SUFFIXES))} file or a folder name")
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise InvalidInputError(f"output folder '{output}' exists and is not empty")
    if not output.parent.exists():
        raise InvalidInputError(f"output '{output}': folder '{output.parent}' does not exist")
    return False


class _Painter:
    """Paints one frame; after the first, with the previous result carried onto it."""

    def __init__(self, stylizer: "Stylizer", styles: list[Image.Image], opts: StyleOptions,
                 video: VideoOptions, on_step: Callback | None = None) -> None:
        self.stylizer, self.styles, self.opts, self.video = stylizer, styles, opts, video
        self.on_step = on_step
        self.fast = opts.mode == "fast"
        self.later = opts if self.fast else opts.replace(scales=1, epochs=1, steps_per_epoch=video.frame_steps,
                                                         init="image")

    def first(self, frame: np.ndarray) -> np.ndarray:
        return _array(self.stylizer(Image.fromarray(frame), self.styles, self.opts, callback=self.on_step).image)

    def next(self, frame: np.ndarray, carried: np.ndarray, moved: Motion) -> np.ndarray:
        """`carried`: the previous result moved onto this frame (uint8)."""
        if self.fast:
            painted = self.first(frame).astype(np.float32)
            keep = (self.video.blend * moved.weights)[..., None]
            return _uint8(painted + keep * (carried.astype(np.float32) - painted))
        temporal = None
        if self.video.temporal_weight > 0:
            target = torch.from_numpy(carried).permute(2, 0, 1)[None].float().div_(255.0)
            weights = torch.from_numpy(moved.weights)[None, None]
            temporal = TemporalTarget(target, weights, self.video.temporal_weight)
        result = self.stylizer(Image.fromarray(frame), self.styles, self.later, init_image=Image.fromarray(carried),
                               temporal=temporal, callback=self.on_step)
        return _array(result.image)


def _array(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def _uint8(values: np.ndarray) -> np.ndarray:
    return np.clip(values + 0.5, 0, 255).astype(np.uint8)


def stylize_video(stylizer: "Stylizer", source: str | os.PathLike, style: ImageInput | Sequence[ImageInput],
                  output: str | os.PathLike, options: StyleOptions | None = None, video: VideoOptions | None = None,
                  *, callback: FrameCallback | None = None, limits: VideoLimits = VideoLimits(),
                  keep_work: bool = False, on_step: Callback | None = None, **overrides: Any) -> VideoResult:
    """Paint the clip `source` (a video file or a folder of frames) in the style of `style` into
    `output` (an .mp4 file, or a folder of PNG frames). Keyword overrides go to `StyleOptions` or
    `VideoOptions` by name; `on_step` gets each frame's optimizer steps (where a run can be cancelled
    within a frame). A run stopped part-way (Ctrl-C, `Cancelled` from the callback, a crash)
    leaves its frames in `OUTPUT.work/` and no output; the same call again resumes there."""
    style_names = set(StyleOptions.model_fields)
    opts = make_options(options, **{k: v for k, v in overrides.items() if k in style_names})
    video = make_video_options(video, **{k: v for k, v in overrides.items() if k not in style_names})
    if opts.backend != "torch":
        raise InvalidInputError("video runs on the torch engine (backend='torch')")
    output = Path(output)
    to_file = check_output(output)
    info = probe(source, fps=video.fps, start=video.start, end=video.end, limits=limits)
    size = info.frame_size(opts.size)
    styles = [load_image(s, long_side=max(16, round(max(size) * opts.style_scale))).rgb for s in as_list(style)]
    frame_opts = opts.replace(size=None, preview_every=0)
    painter = _Painter(stylizer, styles, frame_opts, video, on_step)
    key = run_key({"source": str(Path(source).resolve()), "digest": _source_digest(info),
                   "styles": [image_digest(s) for s in styles], "options": frame_opts.model_dump(),
                   "video": video.model_dump(), "size": size, "weights": stylizer.weights.source})
    work = WorkFolder(output, key)
    started = time.perf_counter()
    frames = _paint(info, size, painter, work, video, callback, started)
    if frames == 0:
        work.remove()
        raise InvalidInputError(f"'{info.source}' gave no frames to paint (between {video.start} s and "
                                f"{video.end if video.end is not None else 'the end'})")
    resumed = work.resumed_frames
    if to_file:
        temporary = output.with_name(f".{output.stem}.part{output.suffix}")
        try:
            write_mp4(temporary, (work.load(i) for i in range(frames)), info.fps, size, audio_from=info)
            os.replace(temporary, output)
        finally:
            temporary.unlink(missing_ok=True)
    else:
        temporary = output.with_name(f".{output.name}.part")
        shutil.rmtree(temporary, ignore_errors=True)
        shutil.copytree(work.frames, temporary)
        if output.exists():
            output.rmdir()          # empty (check_output)
        os.replace(temporary, output)
    if not keep_work:
        work.remove()
    return VideoResult(output, frames, info.fps, size, time.perf_counter() - started, resumed,
                       audio=to_file and info.audio)


def _source_digest(info: ClipInfo) -> str:
    if info.folder:
        return run_key({"files": [(p.name, p.stat().st_size, p.stat().st_mtime_ns)
                                  for p in sorted(info.source.iterdir())]})
    return file_digest(info.source)


def _paint(info: ClipInfo, size: tuple[int, int], painter: _Painter, work: WorkFolder, video: VideoOptions,
           callback: FrameCallback | None, started: float) -> int:
    """Paint every frame not in the work folder; returns the frames in the run."""
    estimator = FlowEstimator(video.flow)
    done = work.done() if work.resumed else 0
    work.resumed_frames = done
    previous_input: np.ndarray | None = None
    previous_output: np.ndarray | None = None
    made = 0
    count = 0
    total = max(info.frames, done)
    for index, frame in enumerate(read_frames(info, size)):
        count = index + 1
        total = max(total, count)
        if index < done:
            previous_input = frame
            if callback is not None:
                callback(FrameProgress(count, total, time.perf_counter() - started, 0.0, done))
            continue
        if previous_input is None:
            result = painter.first(frame)
        else:
            if previous_output is None:
                previous_output = work.load(index - 1)
            moved = motion(previous_input, frame, estimator)
            result = painter.next(frame, moved.carry(previous_output), moved)
        work.save(index, result)
        made += 1
        previous_input, previous_output = frame, result
        if callback is not None:
            elapsed = time.perf_counter() - started
            eta = elapsed / made * max(0, total - count)
            callback(FrameProgress(count, total, elapsed, eta, done, Image.fromarray(result)))
    return count


__all__ = ["FrameCallback", "FrameProgress", "VideoResult", "check_output", "stylize_video"]
