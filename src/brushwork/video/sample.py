"""A sample clip made on the spot: a camera drifting over a picture, shapes crossing it, a tone on
the audio track. For tests, demos and benchmarks (no video file ships with brushwork)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw


def texture(width: int, height: int, seed: int = 0) -> Image.Image:
    """A smooth colourful backdrop (blurred noise in three octaves)."""
    rng = np.random.default_rng(seed)
    picture = np.zeros((height, width, 3), np.float32)
    for cells, weight in ((6, 0.6), (24, 0.3), (96, 0.1)):
        small = rng.random((max(2, height * cells // width), cells, 3)).astype(np.float32)
        picture += weight * np.asarray(Image.fromarray((small * 255).astype(np.uint8)).resize(
            (width, height), Image.Resampling.BICUBIC), np.float32) / 255.0
    return Image.fromarray(np.clip(picture * 255, 0, 255).astype(np.uint8))


def sample_frames(width: int, height: int, frames: int, backdrop: Image.Image | None = None,
                  seed: int = 0) -> list[np.ndarray]:
    """`frames` RGB frames: the backdrop panned slowly, a disc and a square moving across it."""
    margin = max(8, width // 8)
    base = (backdrop or texture(width + 2 * margin, height + 2 * margin, seed)).convert("RGB")
    base = base.resize((width + 2 * margin, height + 2 * margin), Image.Resampling.LANCZOS)
    result = []
    for index in range(frames):
        t = index / max(1, frames - 1)
        left = int(round(margin * (0.5 + 0.5 * np.sin(2 * np.pi * t))))
        top = int(round(margin * t))
        frame = base.crop((left, top, left + width, top + height))
        draw = ImageDraw.Draw(frame)
        r = height // 6
        cx, cy = int(width * (0.15 + 0.7 * t)), height // 3
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(230, 200, 40))
        sx, sy = int(width * (0.8 - 0.6 * t)), int(height * 0.65)
        draw.rectangle((sx - r, sy - r, sx + r, sy + r), fill=(40, 90, 200))
        result.append(np.asarray(frame, np.uint8))
    return result


def write_sample_clip(path: str | Path, width: int = 256, height: int = 144, frames: int = 24, fps: int = 24,
                      audio: bool = True, backdrop: Image.Image | None = None, seed: int = 0) -> Path:
    """An H.264 MP4 (yuv420p) of `sample_frames`, with a 440 Hz AAC tone as long as the video."""
    target = Path(path)
    with av.open(str(target), mode="w") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        sound = out.add_stream("aac", rate=44100) if audio else None
        for index, array in enumerate(sample_frames(width, height, frames, backdrop, seed)):
            frame = av.VideoFrame.from_ndarray(array, format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, fps)
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
        if sound is not None:
            rate, samples = 44100, int(44100 * frames / fps)
            tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(samples) / rate)).astype(np.float32)
            for offset in range(0, samples, 1024):
                chunk = tone[offset: offset + 1024]
                frame = av.AudioFrame.from_ndarray(np.stack([chunk, chunk]), format="fltp", layout="stereo")
                frame.sample_rate, frame.pts = rate, offset
                for packet in sound.encode(frame):
                    out.mux(packet)
            for packet in sound.encode(None):
                out.mux(packet)
    return target


__all__ = ["sample_frames", "texture", "write_sample_clip"]
