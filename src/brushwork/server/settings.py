"""Server settings: flags of `brushwork serve`, else `BRUSHWORK_*` environment variables, else defaults.

Only the server's own limits live here; how an image is painted is `StyleOptions`' business.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

MiB = 1024 * 1024

#: Settings given as a size with a unit (3GB, 1500MB): their flags take text, pydantic parses it.
SIZE_FIELDS = frozenset({"max_memory"})


class ServerSettings(BaseSettings):
    """Where the server listens, how much work it takes on, and what one request may ask for."""

    model_config = SettingsConfigDict(env_prefix="BRUSHWORK_", frozen=True, extra="ignore")

    host: str = Field("127.0.0.1", description="Address to listen on (0.0.0.0 for every interface).")
    port: int = Field(8000, ge=0, le=65535, description="TCP port.")
    workers: int = Field(1, ge=1, le=64,
                         description="Jobs run at once, as threads sharing one loaded network.")
    queue_size: int = Field(8, ge=0, le=10000,
                            description="Jobs that may wait for a worker; beyond that: 503 with Retry-After.")
    device: str = Field("auto", description="Device of the network: auto, cpu, cuda, cuda:N or mps.")
    threads: int | None = Field(None, ge=1, le=1024, description="CPU threads for the network (default: all cores).")
    max_body_bytes: int = Field(25 * MiB, ge=1024, description="Largest request body in bytes.")
    max_pixels: int = Field(40_000_000, ge=256,
                            description="Most pixels (width x height) an uploaded image may have.")
    max_size: int = Field(2048, ge=16, le=8192,
                          description="Largest output long side in pixels (the `size` option).")
    max_memory: int | None = Field(
        None, ge=64 * MiB,
        description="Memory the server's jobs may use (3GB, 1500MB): larger images run in tiles, and a "
                    "request's max_memory may only lower it. Default: 70 percent of the memory free when a "
                    "job starts.")
    max_steps: int = Field(2000, ge=1, description="Most optimizer steps (epochs x steps_per_epoch) per job.")
    max_video_seconds: float = Field(60.0, gt=0, description="Longest clip a video job may paint, in seconds "
                                                             "(after trimming).")
    max_video_frames: int = Field(1500, ge=1, description="Most frames a video job may paint.")
    max_seconds: float = Field(900.0, gt=0, description="Longest a job may run before it is stopped.")
    result_ttl: float = Field(900.0, gt=0, description="Seconds a finished job and its image are kept.")
    result_max_count: int = Field(64, ge=1, description="Most finished jobs kept; the oldest go first.")
    cors_origins: Annotated[tuple[str, ...], NoDecode] = Field(
        (), description="Origins allowed to call the API from a browser (comma-separated; * for any).")
    api_key: SecretStr | None = Field(
        None, description="When set, API calls need `Authorization: Bearer <key>`.")
    broker_url: str | None = Field(
        None, description="Celery broker (redis://...) to run jobs on other machines; unset: in-process.")
    log_level: str = Field("info", description="uvicorn log level.")
    phone_dir: Path | None = Field(
        None, description="Where the /phone page is built on first use (default ~/.cache/brushwork/phone-*).")

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("max_memory", mode="before")
    @classmethod
    def _parse_memory(cls, value: object) -> object:
        if value is None or value == "":          # (an empty BRUSHWORK_MAX_MEMORY: the default)
            return None
        from ..errors import InvalidInputError
        from ..memory import parse_size

        try:
            return parse_size(value)  # type: ignore[arg-type]
        except InvalidInputError as error:
            raise ValueError(str(error)) from None

    @field_validator("device")
    @classmethod
    def _check_device(cls, value: str) -> str:
        from ..errors import InvalidInputError
        from ..options import make_options  # StyleOptions is the one place device names are checked

        try:
            make_options(device=value)
        except InvalidInputError as error:
            raise ValueError(str(error).removeprefix("device: ")) from None
        return value

    @field_validator("api_key", mode="before")
    @classmethod
    def _empty_key_is_none(cls, value: object) -> object:
        return None if value == "" else value
