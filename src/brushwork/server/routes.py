"""The HTTP API: the fixed `POST /stylize` contract, jobs with progress events, and small info routes.

Routes only translate: request -> `intake.build_job` -> `JobQueue` -> response. Errors are library
exceptions, turned into statuses by the one table in `errors.py`.
"""

from __future__ import annotations

import base64
import hmac
import json
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from .. import __version__
from ..errors import Cancelled, ImageDecodeError, InvalidInputError, JobNotFound
from ..jobs import JobEvent, JobQueue, JobRequest, JobState, JobStatus
from ..options import StyleOptions
from .errors import Unauthorized, job_error
from .intake import build_job, build_video_job, decode_field
from ..jobs import INTERNAL_ERROR
from .schemas import (OPTION_FIELDS, ErrorBody, Health, JobInfo, ServerConfig, StyleFields, StylizeRequest,
                      StylizeResponse, Version, given_options)
from .settings import ServerSettings
from ..video.options import VideoOptions

#: Form fields of a video job (besides the style options): `VideoOptions`'.
VIDEO_FIELDS = tuple(VideoOptions.model_fields)

POLL_SECONDS = 1.0          # how often a waiting request checks that its client is still there
KEEPALIVE_SECONDS = 15.0    # an SSE comment at least this often, so proxies keep the stream open


def get_settings(request: Request) -> ServerSettings:
    return request.app.state.settings


def get_queue(request: Request) -> JobQueue:
    return request.app.state.queue


def require_key(request: Request) -> None:
    """With an API key configured, every API call needs `Authorization: Bearer <key>`."""
    key = get_settings(request).api_key
    if key is None:
        return
    scheme, _, given = (request.headers.get("authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), key.get_secret_value().encode()):
        raise Unauthorized("this server needs an API key: send 'Authorization: Bearer <key>'")


Settings = Annotated[ServerSettings, Depends(get_settings)]
Queue = Annotated[JobQueue, Depends(get_queue)]


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorBody} for code in codes}


public = APIRouter()
api = APIRouter(dependencies=[Depends(require_key)], responses=_errors(401))


# -- the fixed contract ----------------------------------------------------------------------------
@api.post("/stylize", response_model=StylizeResponse, tags=["stylize"],
          responses=_errors(400, 409, 413, 422, 503),
          summary="Stylize synchronously: answers with the image when it is done")
async def stylize(body: StylizeRequest, request: Request, queue: Queue, settings: Settings) -> StylizeResponse:
    job = await anyio.to_thread.run_sync(_job_from_json, body, settings, False)
    status = await anyio.to_thread.run_sync(queue.submit, job)
    status = await _wait_final(queue, status.id, request)
    if status.state is JobState.DONE:
        png = await anyio.to_thread.run_sync(queue.result, status.id)
        return StylizeResponse(result=base64.b64encode(png).decode("ascii"))
    if status.state is JobState.CANCELLED:
        raise Cancelled(f"the run was cancelled ({status.error or 'no reason given'})")
    if status.error == INTERNAL_ERROR:
        raise RuntimeError(f"job {status.id} failed inside the engine")
    raise job_error(status.error or "the run failed", status.error_kind)


async def _wait_final(queue: JobQueue, job_id: str, request: Request) -> JobStatus:
    """Wait for the job; if the client goes away meanwhile, cancel it so the worker is freed."""
    while True:
        status = await anyio.to_thread.run_sync(queue.wait, job_id, POLL_SECONDS)
        if status.state.final:
            return status
        if await request.is_disconnected():
            return await anyio.to_thread.run_sync(queue.cancel, job_id)


def _job_from_json(body: StylizeRequest, settings: ServerSettings, previews: bool) -> JobRequest:
    content = decode_field("content_img", body.content_img)
    style_texts = body.style_img if isinstance(body.style_img, list) else [body.style_img]
    name = "style_img" if len(style_texts) == 1 else "style_img[{}]"
    styles = [decode_field(name.format(n), text) for n, text in enumerate(style_texts, start=1)]
    init = decode_field("init_img", body.init_img) if body.init_img is not None else None
    return build_job(content, styles, given_options(body), settings, init, previews=previews)


# -- jobs ------------------------------------------------------------------------------------------
_MULTIPART_SCHEMA = {
    "type": "object",
    "required": ["content_img", "style_img"],
    "properties": {
        "content_img": {"type": "string", "format": "binary", "description": "content image file"},
        "style_img": {"type": "string", "format": "binary", "description": "style image file"},
        "video": {"type": "string", "format": "binary",
                  "description": "a clip to paint instead of content_img (any format FFmpeg reads); the result "
                                 "is an MP4, progress counts frames"},
        **{name: {"type": "string", "description": "a StyleOptions value (JSON for lists)"}
           for name in ("size", "epochs", "steps_per_epoch", "style_weight", "preserve_colour")},
        **{name: {"type": "string", "description": "a VideoOptions value (video jobs)"}
           for name in VIDEO_FIELDS},
    },
}


@api.post("/jobs", status_code=202, response_model=JobInfo, tags=["jobs"],
          responses=_errors(400, 413, 422, 503),
          summary="Queue a job (JSON as for /stylize, or multipart with image files or a video)",
          openapi_extra={"requestBody": {"required": True, "content": {
              "application/json": {"schema": {"$ref": "#/components/schemas/StylizeRequest"}},
              "multipart/form-data": {"schema": _MULTIPART_SCHEMA}}}})
async def create_job(request: Request, response: Response, queue: Queue, settings: Settings) -> JobInfo:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "multipart/form-data":
        job = await _job_from_form(request, settings)
    else:
        body = await request.body()
        try:
            parsed = StylizeRequest.model_validate_json(body or b"null")
        except ValidationError as error:
            raise RequestValidationError(error.errors()) from None
        job = await anyio.to_thread.run_sync(_job_from_json, parsed, settings, True)
    status = await anyio.to_thread.run_sync(queue.submit, job)
    response.headers["Location"] = f"/jobs/{status.id}"
    return JobInfo.of(status)


async def _job_from_form(request: Request, settings: ServerSettings) -> JobRequest:
    form = await request.form(max_files=16, max_fields=64, max_part_size=settings.max_body_bytes)
    images: dict[str, list[bytes]] = {}
    values: dict[str, Any] = {}
    for key, value in form.multi_items():
        if key in ("content_img", "style_img", "init_img", "video"):
            data = await value.read() if isinstance(value, UploadFile) else decode_field(key, value)
            images.setdefault(key, []).append(data)
        else:
            values[key] = _form_value(value) if isinstance(value, str) else value
    if "video" in images:
        return await _video_job_from_form(images, values, settings)
    missing = [name for name in ("content_img", "style_img") if name not in images]
    if missing:
        raise RequestValidationError([{"loc": (name,), "msg": "Field required", "type": "missing"}
                                      for name in missing])
    try:
        options = given_options(StyleFields.model_validate(values))
    except ValidationError as error:
        raise RequestValidationError(error.errors()) from None
    if len(images["content_img"]) != 1:
        raise ImageDecodeError("content_img: send exactly one content image")
    init = images.get("init_img", [None])[0]
    return await anyio.to_thread.run_sync(
        lambda: build_job(images["content_img"][0], images["style_img"], options, settings, init, previews=True))


async def _video_job_from_form(files: dict[str, list[bytes]], values: dict[str, Any],
                               settings: ServerSettings) -> JobRequest:
    if "style_img" not in files:
        raise RequestValidationError([{"loc": ("style_img",), "msg": "Field required", "type": "missing"}])
    if len(files["video"]) != 1 or "content_img" in files or "init_img" in files:
        raise InvalidInputError("video: send one clip, and no content_img or init_img with it")
    video = {name: values.pop(name) for name in VIDEO_FIELDS if name in values}
    try:
        options = given_options(StyleFields.model_validate(values))
    except ValidationError as error:
        raise RequestValidationError(error.errors()) from None
    return await anyio.to_thread.run_sync(
        lambda: build_video_job(files["video"][0], files["style_img"], options, video, settings))


def _form_value(text: str) -> Any:
    """Form fields are text: numbers, null and lists are read as JSON, anything else stays a string."""
    try:
        return json.loads(text)
    except ValueError:
        return text


@api.get("/jobs/{job_id}", response_model=JobInfo, tags=["jobs"], responses=_errors(404),
         summary="State, progress (step, total, ETA) and error of a job")
async def job_status(job_id: str, queue: Queue) -> JobInfo:
    return JobInfo.of(await anyio.to_thread.run_sync(queue.status, job_id))


@api.get("/jobs/{job_id}/result", tags=["jobs"], responses={**_errors(404, 409), 200: {
    "content": {"image/png": {}, "video/mp4": {}}, "description": "the stylized image (a video job's: MP4)"}},
    response_class=Response, summary="The finished image (PNG) or clip (MP4)")
async def job_result(job_id: str, queue: Queue) -> Response:
    data = await anyio.to_thread.run_sync(queue.result, job_id)
    status = await anyio.to_thread.run_sync(queue.status, job_id)
    media, suffix = ("video/mp4", "mp4") if status.kind == "video" else ("image/png", "png")
    return Response(data, media_type=media,
                    headers={"Content-Disposition": f'inline; filename="brushwork-{job_id[:8]}.{suffix}"'})


@api.delete("/jobs/{job_id}", response_model=JobInfo, tags=["jobs"], responses=_errors(404),
            summary="Cancel a job (queued or running) and free its worker")
async def cancel_job(job_id: str, queue: Queue) -> JobInfo:
    status = await anyio.to_thread.run_sync(queue.cancel, job_id)
    if not status.state.final:  # a running job stops at its next step
        status = await anyio.to_thread.run_sync(queue.wait, job_id, 10.0)
    return JobInfo.of(status)


@api.get("/jobs/{job_id}/events", tags=["jobs"], responses={**_errors(404), 200: {
    "content": {"text/event-stream": {}},
    "description": "`progress` events, then one `done`, `failed` or `cancelled`; data is the job "
                   "as JSON, with `preview` (a small JPEG data URL) when there is a new one"}},
    response_class=StreamingResponse, summary="Server-sent events: progress with small previews")
async def job_events(job_id: str, request: Request, queue: Queue) -> StreamingResponse:
    await anyio.to_thread.run_sync(queue.status, job_id)  # 404 now, not inside the stream
    return StreamingResponse(_event_stream(queue, job_id, request), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


async def _event_stream(queue: JobQueue, job_id: str, request: Request) -> AsyncIterator[str]:
    """Short blocking reads (never more than POLL_SECONDS in a thread), de-duplicated, with keep-alives."""
    last: tuple[Any, ...] | None = None
    last_preview: bytes | None = None
    quiet = 0.0
    while not await request.is_disconnected():
        try:
            iterator = queue.events(job_id, timeout=POLL_SECONDS)
            while (event := await anyio.to_thread.run_sync(_next, iterator)) is not None:
                if event.preview == last_preview:  # a restarted reader repeats the latest preview
                    event = JobEvent(status=event.status)
                key = (event.status.state, event.status.step)
                if key != last or event.preview is not None:
                    last, quiet = key, 0.0
                    last_preview = event.preview or last_preview
                    yield _sse(event)
                if event.status.state.final:
                    return
        except JobNotFound:
            yield f"event: gone\ndata: {json.dumps({'id': job_id, 'error': 'job expired'})}\n\n"
            return
        quiet += POLL_SECONDS
        if quiet >= KEEPALIVE_SECONDS:
            quiet = 0.0
            yield ": keep-alive\n\n"


def _next(iterator: Iterator[JobEvent]) -> JobEvent | None:
    return next(iterator, None)


def _sse(event: JobEvent) -> str:
    data = JobInfo.of(event.status).model_dump()
    if event.preview is not None:
        data["preview"] = "data:image/jpeg;base64," + base64.b64encode(event.preview).decode("ascii")
    name = event.status.state.value if event.status.state.final else "progress"
    return f"event: {name}\nid: {event.status.step}\ndata: {json.dumps(data)}\n\n"


# -- info ------------------------------------------------------------------------------------------
@public.get("/healthz", response_model=Health, tags=["info"], summary="Liveness and queue counts")
async def healthz(queue: Queue) -> Health:
    stats = getattr(queue, "stats", None)
    return Health(status="ok", queue=stats() if callable(stats) else {})


@public.get("/version", response_model=Version, tags=["info"], summary="Versions and the device in use")
async def version(request: Request) -> Version:
    import torch

    stylizer = getattr(request.app.state, "stylizer", None)
    placement = getattr(stylizer, "placement", None)
    return Version(brushwork=__version__, torch=torch.__version__,
                   device=str(placement.device) if placement else "remote",
                   precision=placement.precision if placement else "remote")


@public.get("/config", response_model=ServerConfig, tags=["info"],
            summary="Limits, option defaults and choices (what the web page builds its controls from)")
async def config(settings: Settings) -> ServerConfig:
    import typing

    limits = {name: float(getattr(settings, name)) for name in
              ("max_body_bytes", "max_pixels", "max_size", "max_steps", "max_seconds", "max_video_seconds",
               "max_video_frames")}
    if settings.max_memory is not None:
        limits["max_memory"] = float(settings.max_memory)
    defaults = StyleOptions().model_dump(mode="json", include=set(OPTION_FIELDS))
    choices = {name: [str(c) for c in typing.get_args(StyleOptions.model_fields[name].annotation)]
               for name in ("preserve_colour", "optimizer", "init", "pooling", "mode")}
    return ServerConfig(limits=limits, defaults=defaults, choices=choices, auth=settings.api_key is not None)
