"""`brushwork serve`: run the HTTP server. Flags are derived from `ServerSettings`; each flag
overrides its `BRUSHWORK_*` environment variable, which overrides the default."""

from __future__ import annotations

import argparse
import types
import typing
from typing import Any

HELP = "run the REST API server and web page"
DESCRIPTION = ("Serve brushwork over HTTP: POST /stylize, jobs with progress events, and a web page at /. "
               "The network is loaded once and shared by --workers job threads. Every flag can also be "
               "set by an environment variable, e.g. BRUSHWORK_PORT=9000.")


def register(commands: Any) -> None:
    """Add `serve` to the `brushwork` command (called by brushwork.cli)."""
    parser = commands.add_parser("serve", help=HELP, description=DESCRIPTION)
    try:
        from .settings import SIZE_FIELDS, ServerSettings
    except ImportError:  # the server extra is not installed: say so when `serve` is used
        parser.set_defaults(handler=_missing_extra)
        return
    for name, field in ServerSettings.model_fields.items():
        flag = f"--{name.replace('_', '-')}"
        env = f"BRUSHWORK_{name.upper()}"
        default = field.default.get_secret_value() if hasattr(field.default, "get_secret_value") else field.default
        shown = ",".join(default) if isinstance(default, tuple) else default
        kind = str if name in SIZE_FIELDS else _scalar(field.annotation)
        parser.add_argument(flag, dest=name, default=argparse.SUPPRESS, type=kind,
                            metavar=name.split("_")[-1].upper(),
                            help=f"{field.description} [{env}; default {_shown(name, shown)}]")
    parser.set_defaults(handler=_serve)


def _shown(name: str, default: Any) -> str:
    if name == "max_memory" and default is None:
        return "auto"
    return "none" if default in (None, (), "") else str(default)


def _scalar(annotation: Any) -> type:
    """The argparse type for a settings field (lists arrive comma-separated, as strings)."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and args:
        annotation = args[0]
    return annotation if annotation in (int, float) else str


def _serve(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from ..errors import InvalidInputError
    from ..options import describe_validation_error
    from .settings import ServerSettings

    given = {name: getattr(args, name) for name in ServerSettings.model_fields if hasattr(args, name)}
    try:
        settings = ServerSettings(**given)
    except ValidationError as error:
        raise InvalidInputError(describe_validation_error(error)) from None
    import logging

    import uvicorn

    from .app import create_app

    logging.basicConfig(level=settings.log_level.upper(), format="%(levelname)s:     %(name)s: %(message)s")

    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level=settings.log_level,
                timeout_graceful_shutdown=10)
    return 0


def _missing_extra(args: argparse.Namespace) -> int:
    from ..errors import BrushworkError

    raise BrushworkError("the server is not installed: pip install 'brushwork[server]'")
