"""brushwork.video.stylize_video: both modes, steadier than frame by frame, resumable, nothing partial."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
import torch

from brushwork.errors import Cancelled, InvalidInputError
from brushwork.losses import temporal_loss, temporal_loss_and_gradient
from brushwork.metrics import warping_error
from brushwork.video import stylize_video
from brushwork.video.clip import probe, read_frames

FAST = {"mode": "fast", "size": 96}
#: the optimizer, as small as it goes: 64 px, 12 steps on the first frame, 6 on the others
OPTIMIZE = {"size": 64, "epochs": 2, "steps_per_epoch": 6, "scales": 1, "frame_steps": 6}


def _frames(path: Path) -> list[np.ndarray]:
    info = probe(path)
    return list(read_frames(info, (info.width, info.height)))


def test_fast_video_keeps_rate_frames_and_audio_and_is_steadier(stylizer, clip: Path, style_file: Path,
                                                                tmp_path: Path):
    steady = stylize_video(stylizer, clip, style_file, tmp_path / "steady.mp4", **FAST)
    loose = stylize_video(stylizer, clip, style_file, tmp_path / "loose.mp4", blend=0.0, **FAST)
    assert (steady.frames, steady.fps, steady.audio, steady.size) == (12, 12, True, (96, 64))
    with av.open(str(steady.output)) as out:
        assert out.streams.video[0].average_rate == 12 and len(out.streams.audio) == 1
    source = _frames(clip)
    assert warping_error(_frames(steady.output), source) < 0.8 * warping_error(_frames(loose.output), source)
    assert not (tmp_path / "steady.mp4.work").exists()


def test_optimizer_video_is_steadier_than_frame_by_frame(stylizer, clip: Path, style_file: Path, tmp_path: Path):
    result = stylize_video(stylizer, clip, style_file, tmp_path / "frames", end=0.5, **OPTIMIZE)
    assert result.frames == 6 and len(list((tmp_path / "frames").iterdir())) == 6
    ours = _frames(tmp_path / "frames")
    source = [f for f in read_frames(probe(clip, end=0.5), result.size)]
    alone = [np.asarray(stylizer(f, style_file.as_posix(), size=None, epochs=2, steps_per_epoch=6, scales=1,
                                 seed=index).image) for index, f in enumerate(_pil(source))]
    assert warping_error(ours, source) < 0.7 * warping_error(alone, source)


def _pil(frames):
    from PIL import Image

    return [Image.fromarray(f) for f in frames]


def test_a_stopped_run_leaves_no_output_and_resumes(stylizer, clip: Path, style_file: Path, tmp_path: Path):
    target = tmp_path / "out.mp4"

    def stop_after_five(progress):
        if progress.frame == 5:
            raise Cancelled("stopped")

    with pytest.raises(Cancelled):
        stylize_video(stylizer, clip, style_file, target, callback=stop_after_five, **FAST)
    assert not target.exists() and len(list((tmp_path / "out.mp4.work" / "frames").glob("*.png"))) == 5
    seen = []
    result = stylize_video(stylizer, clip, style_file, target, callback=seen.append, **FAST)
    assert result.resumed == 5 and result.frames == 12 and target.is_file()
    assert [p.resumed for p in seen] == [5] * 12 and [p.preview is None for p in seen[:5]] == [True] * 5
    # other options: the old frames are not reused
    again = stylize_video(stylizer, clip, style_file, tmp_path / "other.mp4", blend=0.3, **FAST)
    assert again.resumed == 0


def test_bad_outputs_and_options_are_refused_before_work(stylizer, clip: Path, style_file: Path, tmp_path: Path):
    with pytest.raises(InvalidInputError, match="use a"):
        stylize_video(stylizer, clip, style_file, tmp_path / "out.gif", **FAST)
    with pytest.raises(InvalidInputError, match="end"):
        stylize_video(stylizer, clip, style_file, tmp_path / "out.mp4", start=0.5, end=0.2, **FAST)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x.txt").write_text("mine")
    with pytest.raises(InvalidInputError, match="not empty"):
        stylize_video(stylizer, clip, style_file, tmp_path / "full", **FAST)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full"]


def test_temporal_term_and_its_gradient_agree_with_autograd():
    generator = torch.Generator().manual_seed(0)
    image = torch.rand(1, 3, 8, 10, generator=generator, requires_grad=True)
    target = torch.rand(1, 3, 8, 10, generator=generator)
    weights = (torch.rand(1, 1, 8, 10, generator=generator) > 0.3).float()
    loss = temporal_loss(image, target, weights)
    loss.backward()
    value, gradient = temporal_loss_and_gradient(image, target, weights)
    assert abs(value - float(loss.detach())) < 1e-6 and torch.allclose(gradient, image.grad, atol=1e-7)
