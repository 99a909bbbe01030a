"""brushwork.video.flow and the warping-error metric: motion found, occlusions marked, flicker measured."""

from __future__ import annotations

import numpy as np

from brushwork.metrics import warping_error
from brushwork.video.flow import FlowEstimator, motion
from brushwork.video.sample import sample_frames, texture


def _pair(shift: int) -> tuple[np.ndarray, np.ndarray]:
    picture = np.asarray(texture(140, 80, seed=3), np.float32) / 255.0
    return picture[:, 10:110], picture[:, 10 + shift:110 + shift]


def test_a_pan_is_found_and_carried():
    before, after = _pair(4)                    # the picture moves 4 px to the left
    moved = motion(before, after, FlowEstimator())
    assert abs(float(np.median(moved.backward[..., 0])) - 4) < 0.25
    carried = moved.carry(before)
    trusted = moved.weights > 0
    assert trusted.mean() > 0.8
    assert np.abs(carried - after)[trusted].mean() < 0.3 * np.abs(before - after)[trusted].mean()


def test_pixels_that_came_into_view_are_not_trusted():
    before, after = _pair(6)
    moved = motion(before, after, FlowEstimator())
    assert moved.weights[:, -3:].mean() < 0.5   # the right edge was outside the last frame
    assert moved.weights[:, 20:80].mean() > 0.9


def test_warping_error_sees_flicker_and_not_motion():
    frames = sample_frames(96, 64, 24)
    steady = warping_error(frames, frames)
    rng = np.random.default_rng(0)
    flicker = [np.clip(f.astype(np.int16) + rng.integers(-40, 40, f.shape), 0, 255).astype(np.uint8) for f in frames]
    assert warping_error(flicker, frames) > 10 * max(steady, 1e-4)
    assert warping_error(frames[:1], frames[:1]) == 0.0
