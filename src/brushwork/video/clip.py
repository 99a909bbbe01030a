"""Reading and writing clips: any container and codec FFmpeg reads (through PyAV), or a folder of
frames; H.264 MP4 out with the source's frame rate and its audio stream copied.

Frames are numpy arrays (H, W, 3) uint8 RGB at the run's size, made one at a time: a clip's length
never shows in memory. Every failure a user can cause (not a video, corrupt, no video stream, no
frames, too long) is an `InvalidInputError` of one line, raised before anything is written.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

from ..errors import InvalidInputError
from ..formats import IMAGE_SUFFIXES
from ..imaging import load_image, output_size

#: Container suffixes brushwork writes (H.264 video, AAC or copied audio).
VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mov"})
#: Audio codecs an MP4 holds as they are (copied packet for packet); others are re-encoded to AAC.
MP4_AUDIO = frozenset({"aac", "mp3", "ac3", "eac3", "alac", "opus"})
#: Frame rate of a folder of frames when none is given.
FOLDER_FPS = Fraction(24)


@dataclass(frozen=True)
class VideoLimits:
    """The largest clip a run takes: seconds (after trimming), frames, and pixels of a source frame."""

    max_seconds: float = 3600.0
    max_frames: int = 100_000
    max_pixels: int = 8192 * 8192


@dataclass(frozen=True)
class ClipInfo:
    """What a clip holds, as the run will read it (after trimming and frame-rate change)."""

    source: Path
    width: int                 # source frame size
    height: int
    fps: Fraction              # the frame rate the run writes (the source's, or the one asked for)
    frames: int                # frames the run will make (estimated for containers that do not say)
    seconds: float
    audio: bool
    start: float = 0.0
    end: float | None = None
    folder: bool = False
    source_fps: Fraction | None = None   # the file's own frame rate

    def frame_size(self, long_side: int | None) -> tuple[int, int]:
        """Output frame size for a long side (None: the source's), even on both sides (H.264's 4:2:0)."""
        width, height = output_size(self.width, self.height, long_side)
        return max(2, width - width % 2), max(2, height - height % 2)


def _fps(value: float | Fraction | None) -> Fraction | None:
    if value is None:
        return None
    if not value > 0 or value > 240:
        raise InvalidInputError(f"fps: {value} is not a frame rate between 0 and 240")
    return Fraction(value).limit_denominator(1001)


def folder_frames(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))


def probe(source: str | Path, *, fps: float | None = None, start: float = 0.0, end: float | None = None,
          limits: VideoLimits = VideoLimits()) -> ClipInfo:
    """What the run will read from `source` (a video file or a folder of frames); refuses, in one
    line, what it cannot read or what is over `limits`."""
    path = Path(source)
    if start < 0 or (end is not None and end <= start):
        raise InvalidInputError(f"trim: start {start} s and end {end} s do not make a span of the clip")
    rate = _fps(fps)
    if path.is_dir():
        files = folder_frames(path)
        if not files:
            raise InvalidInputError(f"folder '{path}' holds no frames (image files)")
        rate = rate or FOLDER_FPS
        first = int(math.ceil(start * rate))
        last = len(files) if end is None else min(len(files), int(math.ceil(end * rate)))
        if last <= first:
            raise InvalidInputError(f"'{path}': no frames between {start} s and {end} s at {float(rate):g} fps")
        width, height = load_image(files[0]).rgb.size
        info = ClipInfo(path, width, height, rate, last - first, (last - first) / rate, False, start, end, folder=True)
        return _within(info, limits)
    if not path.is_file():
        raise InvalidInputError(f"video '{path}': no such file or folder")
    with _open(path) as container:
        if not container.streams.video:
            raise InvalidInputError(f"'{path}' has no video stream")
        stream = container.streams.video[0]
        source_rate = stream.average_rate or stream.guessed_rate
        if not source_rate:
            raise InvalidInputError(f"'{path}' gives no frame rate; convert it, or give --fps")
        if stream.frames:
            duration = stream.frames / float(source_rate)
        elif stream.duration and stream.time_base:
            duration = float(stream.duration * stream.time_base)
        else:
            duration = (container.duration or 0) / av.time_base
        width, height = stream.codec_context.width, stream.codec_context.height
        audio = bool(container.streams.audio)
    if not width or not height:
        raise InvalidInputError(f"'{path}': the video stream has no frame size (a corrupt file?)")
    rate = rate or Fraction(source_rate)
    stop = duration if end is None else min(end, duration)
    seconds = max(0.0, stop - start)
    frames = int(round(seconds * rate))
    if duration and start >= duration:
        raise InvalidInputError(f"'{path}': start {start} s is past the clip's end ({duration:.2f} s)")
    info = ClipInfo(path, width, height, rate, frames, seconds, audio, start, end, source_fps=Fraction(source_rate))
    return _within(info, limits)


def _within(info: ClipInfo, limits: VideoLimits) -> ClipInfo:
    if info.seconds > limits.max_seconds:
        raise InvalidInputError(f"max_seconds: the clip runs {info.seconds:.1f} s, over the limit of "
                                f"{limits.max_seconds:g} s; trim it (start/end)")
    if info.frames > limits.max_frames:
        raise InvalidInputError(f"max_frames: the clip has {info.frames} frames, over the limit of {limits.max_frames}")
    if info.width * info.height > limits.max_pixels:
        raise InvalidInputError(f"max_pixels: frames of {info.width}x{info.height} are over the limit of "
                                f"{limits.max_pixels} pixels")
    return info


def _open(path: Path) -> av.container.InputContainer:
    try:
        return av.open(str(path), mode="r")
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as error:
        raise InvalidInputError(f"'{path}' is not a video FFmpeg can read ({_reason(error)})") from None


def _reason(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return (text[0] if text else type(error).__name__)[:160]


def read_frames(info: ClipInfo, size: tuple[int, int]) -> Iterator[np.ndarray]:
    """The clip's frames at `size` (uint8 RGB), trimmed and at `info.fps`, one at a time."""
    if info.folder:
        files = folder_frames(info.source)
        first = int(math.ceil(info.start * info.fps))
        for file in files[first: first + info.frames]:
            yield _sized(load_image(file).rgb, size)
        return
    yield from _resampled(_decoded(info), info, size)


def _decoded(info: ClipInfo) -> Iterator[tuple[float, av.VideoFrame]]:
    """(time in s, frame) from `info.start` on, in order."""
    with _open(info.source) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        if info.start > 0 and stream.time_base:
            container.seek(int(info.start / stream.time_base), stream=stream, backward=True, any_frame=False)
        try:
            for frame in container.decode(stream):
                yield (frame.time if frame.time is not None else 0.0), frame
        except av.error.FFmpegError as error:
            raise InvalidInputError(f"'{info.source}': decoding failed ({_reason(error)}); the file may be "
                                    "corrupt") from None


def _resampled(frames: Iterable[tuple[float, av.VideoFrame]], info: ClipInfo, size: tuple[int, int]
               ) -> Iterator[np.ndarray]:
    """One frame each 1/fps from the start: at each time, the decoded frame nearest to it (frames
    are dropped or repeated where `info.fps` is not the source's rate, each kept once where it is)."""
    step, shown = 1 / float(info.fps), 1 / float(info.source_fps or info.fps)
    made = 0
    current: av.VideoFrame | None = None
    last = 0.0
    for time, frame in frames:
        if info.end is not None and time >= info.end:
            break
        while current is not None and info.start + made * step < time - shown / 2:
            yield _frame_array(current, size)
            made += 1
        current, last = frame, time
    if current is None:
        return
    stop = last + shown if info.end is None else min(info.end, last + shown)      # the clip's last frame ends
    while info.start + made * step < stop - 1e-6:
        yield _frame_array(current, size)
        made += 1


def _frame_array(frame: av.VideoFrame, size: tuple[int, int]) -> np.ndarray:
    return _sized(frame.to_image(), size)


def _sized(image: Image.Image, size: tuple[int, int]) -> np.ndarray:
    image = image.convert("RGB")
    if image.size != size:
        image = image.resize(size, Image.Resampling.LANCZOS)
    return np.asarray(image, dtype=np.uint8)


def write_mp4(target: Path, frames: Iterable[np.ndarray], fps: Fraction, size: tuple[int, int],
              audio_from: ClipInfo | None = None, crf: int = 18) -> int:
    """Encode `frames` (uint8 RGB at `size`) as H.264 (yuv420p) into `target` (a temporary name:
    the caller renames it), with the source's audio between its start and end: copied where an MP4
    holds its codec, else re-encoded to AAC. Audio is interleaved with the video by time. Returns
    the frames written."""
    audio_source = None
    with av.open(str(target), mode="w", format="mp4") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height = size
        video.pix_fmt = "yuv420p"
        video.options = {"crf": str(crf), "preset": "medium"}
        audio = None
        if audio_from is not None and audio_from.audio and not audio_from.folder:
            audio_source = _open(audio_from.source)
            audio = _AudioCopy(audio_source, out, audio_from.start, audio_from.end)
        count = 0
        for count, array in enumerate(frames, start=1):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(array), format="rgb24")
            frame.pts = count - 1
            frame.time_base = 1 / fps
            for packet in video.encode(frame):
                out.mux(packet)
            if audio is not None:
                audio.until(count / fps)
        for packet in video.encode():
            out.mux(packet)
        if audio is not None:
            audio.until(count / fps, final=True)
    if audio_source is not None:
        audio_source.close()
    return count


class _AudioCopy:
    """The source's first audio stream, trimmed to [start, end), muxed into `out` up to a time."""

    def __init__(self, source: av.container.InputContainer, out: av.container.OutputContainer,
                 start: float, end: float | None) -> None:
        self.stream = source.streams.audio[0]
        self.start, self.end = start, end
        self.copy = self.stream.codec_context.name in MP4_AUDIO
        if self.copy:
            self.target = out.add_stream_from_template(self.stream)
        else:
            rate = self.stream.codec_context.sample_rate or 48000
            self.target = out.add_stream("aac", rate=rate)
            self.resampler = av.AudioResampler(format="fltp", layout=self.stream.codec_context.layout or "stereo",
                                               rate=rate)
        self.out = out
        self.packets = source.demux(self.stream)
        self.done = False
        self.offset: int | None = None

    def until(self, seconds: float, final: bool = False) -> None:
        """Mux the source's audio up to `seconds` of output time (all of what is left with `final`)."""
        while not self.done:
            try:
                packet = next(self.packets)
            except (StopIteration, av.error.FFmpegError):
                self.done = True
                break
            if packet.dts is None or packet.pts is None:
                continue
            time = float(packet.pts * packet.time_base)
            if self.start > 0 and time < self.start - 1e-6:
                continue                        # (untrimmed, the encoder's priming packets are kept)
            if self.end is not None and time >= self.end:
                self.done = True
                break
            self._mux(packet)
            if not final and time - self.start >= seconds:
                break
        if final and not self.copy:
            for frame in self.resampler.resample(None):
                for encoded in self.target.encode(frame):
                    self.out.mux(encoded)
            for encoded in self.target.encode(None):
                self.out.mux(encoded)

    def _mux(self, packet: av.Packet) -> None:
        if self.offset is None:              # the trimmed start becomes time 0
            self.offset = int(round(self.start / packet.time_base)) if self.start > 0 else 0
        if self.copy:
            packet.pts -= self.offset
            packet.dts -= self.offset
            packet.stream = self.target
            self.out.mux(packet)
            return
        for frame in packet.decode():
            frame.pts = None
            for resampled in self.resampler.resample(frame):
                for encoded in self.target.encode(resampled):
                    self.out.mux(encoded)


__all__ = ["ClipInfo", "FOLDER_FPS", "VIDEO_SUFFIXES", "VideoLimits", "folder_frames", "probe", "read_frames",
           "write_mp4"]
