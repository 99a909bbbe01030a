"""Request and response models. Option fields are copied from `StyleOptions.model_fields`, so the
API has the library's names, types, bounds, defaults and descriptions and cannot drift from it."""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from ..jobs import JobStatus
from ..options import StyleOptions

#: Options a request may not set: the server chooses its hardware.
SERVER_ONLY_OPTIONS = frozenset({"device"})
OPTION_FIELDS = tuple(name for name in StyleOptions.model_fields if name not in SERVER_ONLY_OPTIONS)
IMAGE_FIELDS = ("content_img", "style_img", "init_img")


class _ImagesPart(BaseModel):
    """The images of a request, as base64 text (plain or `data:image/...;base64,` URLs)."""

    model_config = ConfigDict(extra="forbid")

    content_img: str = Field(description="Content image (photo), base64 or a data URL.")
    style_img: str | list[str] = Field(
        description="Style image (painting), base64 or a data URL; a list blends several styles.")
    init_img: str | None = Field(None, description="Starting image when init is 'image'.")


#: Options that also take a size with a unit ("3GB", "1500MB"), read by StyleOptions' own validator.
SIZE_OPTIONS = frozenset({"max_memory"})


def _option_fields() -> dict[str, Any]:
    """Each StyleOptions field (minus server-only ones) with its own annotation, default and bounds."""
    fields: dict[str, Any] = {}
    for name in OPTION_FIELDS:
        field = copy.copy(StyleOptions.model_fields[name])
        annotation = field.annotation
        if name in SIZE_OPTIONS:          # bytes, or text with a unit; the bounds are checked on the bytes
            annotation, field = int | str | None, copy.copy(field)
            field.metadata = []
        fields[name] = (annotation, field)
    return fields


StyleFields = create_model(  # type: ignore[call-overload]
    "StyleFields", __config__=ConfigDict(extra="forbid"), **_option_fields())


class StylizeRequest(StyleFields, _ImagesPart):  # type: ignore[misc, valid-type]
    """Paint content_img in the style of style_img. Only the images are required; every other field
    is a `StyleOptions` field with the library's name, bounds and default."""

    model_config = ConfigDict(extra="forbid", title="StylizeRequest")


def given_options(request: BaseModel) -> dict[str, Any]:
    """The option fields the client actually sent (unsent ones keep the library's defaults)."""
    return {name: getattr(request, name) for name in request.model_fields_set if name in OPTION_FIELDS}


class StylizeResponse(BaseModel):
    """The fixed contract: the stylized image as base64 PNG."""

    result: str = Field(description="The stylized image, base64-encoded PNG (no data-URL prefix).")


class JobInfo(BaseModel):
    """Where a job is: state, progress and, when it failed, why."""

    id: str
    state: str = Field(description="queued, running, done, failed or cancelled")
    step: int
    total: int
    fraction: float = Field(description="step / total, 0 to 1")
    elapsed: float = Field(description="seconds the run has taken so far")
    eta: float | None = Field(description="seconds left (estimate), null before the first step")
    error: str | None = None
    created: float
    finished: float | None = None
    worker: str | None = None
    tile: list[int] | None = Field(None, description="[done, total] tiles of the step under way, while a "
                                                     "tiled level runs (null between steps or untiled)")
    plan: dict[str, Any] | None = Field(None, description="the run's plan once it has started: budget, "
                                                          "estimated peak bytes and seconds, levels and their tiles")
    kind: str = Field("image", description="image, or video: then step and total count frames and the result "
                                           "is an MP4")
    links: dict[str, str] = Field(description="status, events, result (once done)")

    @classmethod
    def of(cls, status: JobStatus) -> "JobInfo":
        base = f"/jobs/{status.id}"
        links = {"status": base, "events": f"{base}/events"}
        if status.state.value == "done":
            links["result"] = f"{base}/result"
        return cls(id=status.id, state=status.state.value, step=status.step, total=status.total,
                   fraction=round(status.step / status.total, 4) if status.total else 0.0,
                   elapsed=round(status.elapsed, 3), eta=None if status.eta is None else round(status.eta, 3),
                   error=status.error, created=status.created, finished=status.finished,
                   worker=status.worker, tile=list(status.tile) if status.tile else None, plan=status.plan,
                   kind=status.kind, links=links)


class ErrorBody(BaseModel):
    """Every error: a short code and one readable line that says what was wrong (and the limit)."""

    error: str
    detail: str


class Health(BaseModel):
    status: str
    queue: dict[str, int] = Field(default_factory=dict)


class Version(BaseModel):
    brushwork: str
    torch: str
    device: str
    precision: str


class ServerConfig(BaseModel):
    """What the web page needs to build its controls: limits, option defaults and choices."""

    limits: dict[str, float]
    defaults: dict[str, Any]
    choices: dict[str, list[str]]
    auth: bool
