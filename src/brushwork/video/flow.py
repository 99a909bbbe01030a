"""Optical flow between video frames, warping along it, and which pixels it can be trusted for.

Dense flow is OpenCV's DIS (Kroeger et al. 2016): a few milliseconds a frame at 256 px on a CPU,
accurate enough for what it is used for here (carrying the last stylized frame forward, and the
warping-error metric). Occlusions and flow errors are found the usual way (Sundaram et al. 2010,
as Ruder et al. 2016 use it): a pixel whose backward flow is not undone by the forward flow, or
that moved out of the picture, or that sits on a motion boundary, is not trusted.

Images here are numpy arrays, (H, W, 3) float32 in [0, 1] or uint8; flows are (H, W, 2) float32
in pixels (x, y).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

#: DIS presets by name: ultrafast is ~3x faster than medium at a little more error on fine motion.
PRESETS = {"ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
           "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}


def gray(image: np.ndarray) -> np.ndarray:
    """uint8 luminance of an RGB frame (float in [0, 1] or uint8), what DIS reads."""
    if image.dtype != np.uint8:
        image = np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


class FlowEstimator:
    """Dense flow from one frame to another (`flow(a, b)`: a(p) ~ b(p + flow(p))).

    One DIS object per estimator (OpenCV keeps scratch buffers in it): not shared between threads."""

    def __init__(self, preset: str = "medium") -> None:
        if preset not in PRESETS:
            raise ValueError(f"unknown flow preset {preset!r}; use one of {', '.join(PRESETS)}")
        self._dis = cv2.DISOpticalFlow_create(PRESETS[preset])
        self._dis.setUseSpatialPropagation(True)

    def flow(self, source: np.ndarray, target: np.ndarray) -> np.ndarray:
        """(H, W, 2) flow taking `source`'s pixels to where they are in `target`."""
        a, b = (image if image.ndim == 2 else gray(image) for image in (source, target))
        return self._dis.calc(a, b, None)


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """`image` sampled at p + flow(p) for every pixel p (bilinear; edges repeat): with the backward
    flow of frame t (t -> t-1), frame t-1's picture moved onto frame t."""
    height, width = flow.shape[:2]
    grid_x, grid_y = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    return cv2.remap(image, grid_x + flow[..., 0], grid_y + flow[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def reliable(backward: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """(H, W) float32, 1 where frame t's backward flow (t -> t-1) can be trusted, else 0.

    Trusted: the forward flow (t-1 -> t), read where the backward flow lands, brings the pixel
    back (|b + f(p + b)|^2 <= 0.01 (|b|^2 + |f|^2) + 0.5), the landing point is inside the
    frame, and the pixel is not on a motion boundary (|grad b|^2 <= 0.01 |b|^2 + 0.002)."""
    height, width = backward.shape[:2]
    returned = warp(forward, backward)
    round_trip = np.square(backward + returned).sum(-1)
    consistent = round_trip <= 0.01 * (np.square(backward).sum(-1) + np.square(returned).sum(-1)) + 0.5
    grid_x, grid_y = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    x, y = grid_x + backward[..., 0], grid_y + backward[..., 1]
    inside = (x >= 0) & (x <= width - 1) & (y >= 0) & (y <= height - 1)
    du_y, du_x = np.gradient(backward[..., 0])
    dv_y, dv_x = np.gradient(backward[..., 1])
    boundary = du_x ** 2 + du_y ** 2 + dv_x ** 2 + dv_y ** 2 > 0.01 * np.square(backward).sum(-1) + 0.002
    return (consistent & inside & ~boundary).astype(np.float32)


@dataclass(frozen=True)
class Motion:
    """How frame t relates to frame t-1: the backward flow and where it can be trusted."""

    backward: np.ndarray      # (H, W, 2), t -> t-1
    weights: np.ndarray       # (H, W) float32 in {0, 1}

    def carry(self, previous: np.ndarray) -> np.ndarray:
        """Frame t-1's picture (H, W, C) moved onto frame t."""
        return warp(previous, self.backward)


def motion(previous: np.ndarray, current: np.ndarray, estimator: FlowEstimator) -> Motion:
    """Flow both ways between two input frames, and the consistency check."""
    a, b = gray(previous), gray(current)
    backward = estimator.flow(b, a)
    forward = estimator.flow(a, b)
    return Motion(backward, reliable(backward, forward))


__all__ = ["FlowEstimator", "Motion", "PRESETS", "gray", "motion", "reliable", "warp"]
