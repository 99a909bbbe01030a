"""brushwork.video.clip: what is read (frame counts, rates, trimming, folders) and what is refused."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from brushwork.errors import InvalidInputError
from brushwork.video.clip import VideoLimits, probe, read_frames, write_mp4
from brushwork.video.sample import sample_frames


def test_probe_reads_rate_frames_and_audio(clip: Path):
    info = probe(clip)
    assert (info.width, info.height, info.fps, info.frames, info.audio) == (96, 64, Fraction(12), 12, True)
    frames = list(read_frames(info, info.frame_size(48)))
    assert len(frames) == 12 and frames[0].shape == (32, 48, 3) and frames[0].dtype == np.uint8


def test_frame_rate_change_and_trimming_give_the_frames_asked_for(clip: Path):
    assert len(list(read_frames(probe(clip, fps=6), (48, 32)))) == 6
    assert len(list(read_frames(probe(clip, fps=24), (48, 32)))) == 24
    info = probe(clip, start=0.25, end=0.75)
    frames = list(read_frames(info, (96, 64)))
    whole = list(read_frames(probe(clip), (96, 64)))
    assert len(frames) == 6 and info.frames == 6
    assert np.array_equal(frames[0], whole[3])        # 0.25 s at 12 fps: the fourth frame


def test_a_folder_of_frames_is_a_clip(tmp_path: Path):
    for index, array in enumerate(sample_frames(40, 30, 5)):
        Image.fromarray(array).save(tmp_path / f"f{index:03d}.png")
    info = probe(tmp_path, fps=10)
    assert info.folder and info.frames == 5 and info.fps == 10
    assert len(list(read_frames(info, info.frame_size(None)))) == 5


def test_write_mp4_keeps_rate_count_and_audio(clip: Path, tmp_path: Path):
    info = probe(clip)
    target = tmp_path / "copy.mp4"
    count = write_mp4(target, read_frames(info, (96, 64)), info.fps, (96, 64), audio_from=info)
    with av.open(str(target)) as out:
        video, audio = out.streams.video[0], out.streams.audio[0]
        assert video.average_rate == 12 and audio.codec_context.name == "aac"
        assert sum(1 for _ in out.decode(video=0)) == count == 12
    with av.open(str(target)) as out, av.open(str(clip)) as source:
        copied = sum(p.size for p in out.demux(audio=0) if p.size)
        original = sum(p.size for p in source.demux(audio=0) if p.size)
    assert copied == original                          # the same packets: copied, not re-encoded


@pytest.mark.parametrize("kind", ["text", "corrupt", "audio only", "missing", "past the end"])
def test_what_is_not_a_clip_is_one_line(tmp_path: Path, clip: Path, kind: str):
    path = tmp_path / "in.mp4"
    start = 0.0
    if kind == "text":
        path.write_text("not a video at all\n")
    elif kind == "corrupt":
        path.write_bytes(clip.read_bytes()[:400])
    elif kind == "audio only":
        path = tmp_path / "tone.m4a"
        with av.open(str(path), "w") as out:
            stream = out.add_stream("aac", rate=8000)
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate = 8000
            for packet in [*stream.encode(frame), *stream.encode(None)]:
                out.mux(packet)
    elif kind == "past the end":
        path, start = clip, 5.0
    with pytest.raises(InvalidInputError) as error:
        info = probe(path, start=start)
        list(read_frames(info, (32, 32)))
    assert "\n" not in str(error.value)


def test_limits_name_themselves(clip: Path):
    with pytest.raises(InvalidInputError, match="max_seconds"):
        probe(clip, limits=VideoLimits(max_seconds=0.5))
    with pytest.raises(InvalidInputError, match="max_frames"):
        probe(clip, limits=VideoLimits(max_frames=5))
    with pytest.raises(InvalidInputError, match="max_pixels"):
        probe(clip, limits=VideoLimits(max_pixels=1000))
