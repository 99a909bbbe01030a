"""The one table from brushwork exceptions to HTTP statuses, and the JSON shape of every error.

Every error response is `{"error": "<code>", "detail": "<one readable line>"}`; a 500 is a bug.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import (BrokerUnavailable, BrushworkError, Cancelled, DeviceError, ImageDecodeError,
                      ImageTooLargeError, InvalidInputError, JobNotFound, JobNotReady, MemoryBudgetError, OutOfMemory,
                      QueueFull, WeightsError)

log = logging.getLogger("brushwork.server")


class LimitExceeded(InvalidInputError):
    """A request asks for more than this server allows (steps, size, run time); says which limit."""


class Unauthorized(BrushworkError):
    """An API key is configured and the request did not bring it."""


class JobFailed(BrushworkError):
    """A synchronous run ended in failure; the message is the job's error line."""


@dataclass(frozen=True)
class Mapping:
    status: int
    code: str


#: Most specific class first; the first `isinstance` match wins.
ERROR_TABLE: tuple[tuple[type[BrushworkError], Mapping], ...] = (
    (QueueFull, Mapping(503, "queue_full")),
    (BrokerUnavailable, Mapping(503, "broker_unavailable")),
    (JobNotFound, Mapping(404, "job_not_found")),
    (JobNotReady, Mapping(409, "job_not_ready")),
    (Unauthorized, Mapping(401, "unauthorized")),
    (ImageTooLargeError, Mapping(413, "image_too_large")),
    (ImageDecodeError, Mapping(400, "bad_image")),
    (LimitExceeded, Mapping(422, "limit_exceeded")),
    (MemoryBudgetError, Mapping(422, "max_memory")),
    (OutOfMemory, Mapping(503, "out_of_memory")),
    (InvalidInputError, Mapping(422, "invalid_input")),
    (DeviceError, Mapping(422, "device_unavailable")),
    (Cancelled, Mapping(409, "cancelled")),
    (JobFailed, Mapping(422, "job_failed")),
    (WeightsError, Mapping(500, "weights")),
)


#: The errors a run itself raises, by the name a failed job gives (`JobStatus.error_kind`); others
#: (queue, routing) never come from a run and stay JobFailed.
ERROR_KINDS: dict[str, type[BrushworkError]] = {kind.__name__: kind for kind in (
    ImageTooLargeError, ImageDecodeError, MemoryBudgetError, OutOfMemory, InvalidInputError, DeviceError)}


def job_error(status_error: str, kind: str | None) -> BrushworkError:
    """The error a failed job's line stands for: its own class where the job named one (so a run
    refused for its memory budget is a 422 max_memory, as at intake), else JobFailed."""
    return ERROR_KINDS.get(kind or "", JobFailed)(status_error)


def mapping_for(error: BrushworkError) -> Mapping:
    for kind, mapping in ERROR_TABLE:
        if isinstance(error, kind):
            return mapping
    return Mapping(500, "internal")


def error_response(status: int, code: str, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail}, status_code=status, headers=headers)


def brushwork_error_response(error: BrushworkError) -> JSONResponse:
    mapping = mapping_for(error)
    headers: dict[str, str] = {}
    if isinstance(error, QueueFull):
        headers["Retry-After"] = str(max(1, int(error.retry_after)))
    elif isinstance(error, BrokerUnavailable):
        headers["Retry-After"] = "10"
    elif isinstance(error, Unauthorized):
        headers["WWW-Authenticate"] = "Bearer"
    if mapping.status >= 500 and not headers:
        log.error("request failed: %s", error)
    return error_response(mapping.status, mapping.code, str(error), headers or None)


def describe_request_error(error: RequestValidationError) -> tuple[int, str, str]:
    """(status, code, one line) for a body FastAPI could not validate: each field and what was wrong."""
    parts = []
    for item in error.errors():
        if item.get("type") == "json_invalid":
            return 400, "bad_json", "the request body is not valid JSON"
        loc = [str(p) for p in item.get("loc", ()) if p not in ("body", "query", "path")]
        where = ".".join(loc) or "body"
        message = str(item.get("msg", "invalid")).removeprefix("Value error, ")
        if item.get("type") == "extra_forbidden":
            message = ("not settable over HTTP (the server chooses it)" if where in SERVER_ONLY_FIELDS
                       else "unknown field")
        parts.append(f"{where}: {message}")
    return 422, "invalid_request", "; ".join(parts) or "invalid request"


#: StyleOptions fields a request may not set (the server's hardware is the server's business).
SERVER_ONLY_FIELDS = frozenset({"device"})


def install_error_handlers(app: FastAPI) -> None:
    """Every error leaves the server as `{"error", "detail"}` JSON with the table's status."""

    @app.exception_handler(BrushworkError)
    async def _brushwork(request: Request, error: BrushworkError) -> JSONResponse:
        return brushwork_error_response(error)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        return error_response(*describe_request_error(error))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
        return error_response(error.status_code, code, str(error.detail), getattr(error, "headers", None))

    @app.exception_handler(Exception)
    async def _bug(request: Request, error: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal", "internal server error (logged on the server)")
