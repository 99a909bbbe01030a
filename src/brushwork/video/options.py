"""VideoOptions: what a video run adds to `StyleOptions` (which still says how each frame is painted)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..errors import InvalidInputError
from ..options import describe_validation_error

FlowPreset = Literal["ultrafast", "fast", "medium"]


class VideoOptions(BaseModel):
    """How a clip is read and kept steady from frame to frame. Immutable."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    fps: float | None = Field(None, gt=0, le=240, description="Frame rate of the output (None: the source's); "
                                                               "frames are dropped or repeated to reach it.")
    start: float = Field(0.0, ge=0, description="Start of the part of the clip to paint, in seconds.")
    end: float | None = Field(None, gt=0, description="End of the part to paint, in seconds (None: the clip's end).")
    temporal_weight: float = Field(
        200.0, ge=0, le=1e6,
        description="Optimizer: weight of the temporal term (Ruder et al. 2016), the pull towards the previous "
                    "result carried along the optical flow; 0 turns it off.")
    frame_steps: int = Field(
        20, ge=1, le=10000,
        description="Optimizer: steps for each frame after the first, which starts from the previous result "
                    "carried along the flow (the first frame gets the full schedule).")
    blend: float = Field(
        0.6, ge=0, le=0.95,
        description="Fast mode: share of the previous result, carried along the flow, kept where the flow "
                    "can be trusted (0: each frame on its own).")
    flow: FlowPreset = Field("medium", description="Optical flow quality (OpenCV DIS preset).")

    @model_validator(mode="after")
    def _check_span(self) -> "VideoOptions":
        if self.end is not None and self.end <= self.start:
            raise ValueError(f"end ({self.end} s) must be after start ({self.start} s)")
        return self


def make_video_options(base: VideoOptions | None = None, **changes: Any) -> VideoOptions:
    """VideoOptions from keyword arguments; a bad value is one clear line."""
    data = base.model_dump() if base is not None else {}
    data.update(changes)
    try:
        return VideoOptions(**data)
    except ValidationError as error:
        raise InvalidInputError(describe_validation_error(error)) from None


__all__ = ["FlowPreset", "VideoOptions", "make_video_options"]
