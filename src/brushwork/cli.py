"""The `brushwork` command: stylize files, score results, and (with extras) serve or export.

Every error the user can cause ends as one line on stderr and exit code 2; no traceback, and
outputs are written atomically so a failed or interrupted run leaves no partial file.
"""

from __future__ import annotations

import argparse
import sys
import types
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, NoReturn

from . import __version__
from .errors import BrushworkError, InvalidInputError
from .formats import IMAGE_SUFFIXES
from .options import StyleOptions

EXIT_USAGE = 2
#: Options that are not user flags of `stylize` (set by the tool itself or by other commands).
HIDDEN_OPTIONS = {"preview_every", "mode"}
SHORT_FLAGS = {"size": "-s", "seed": "-S"}


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and exit code 2), not a usage dump."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


# -- flags derived from StyleOptions --------------------------------------------------------------
def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """(inner type, optional?) of `X | None`."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return rest[0], True
    return annotation, False


def _size_value(text: str) -> int | None:
    if text.lower() in {"original", "keep", "none"}:
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid size {text!r}: a number of pixels or 'original'") from None


def _scales_value(text: str) -> int | None:
    if text.lower() == "auto":
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid scales {text!r}: a number of levels or 'auto'") from None


def _seed_value(text: str) -> int | None:
    if text.lower() in {"random", "none"}:
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid seed {text!r}: a whole number or 'random'") from None


def _memory_value(text: str) -> int | None:
    if text.lower() in {"auto", "none"}:
        return None
    from .memory import parse_size

    try:
        return parse_size(text)
    except InvalidInputError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_option_flags(parser: argparse.ArgumentParser, exclude: set[str] = HIDDEN_OPTIONS) -> None:
    """One flag per StyleOptions field: same name (dashes), type, choices, default and help."""
    group = parser.add_argument_group("style options (defaults in brackets)")
    for name, field in StyleOptions.model_fields.items():
        if name in exclude:
            continue
        inner, optional = _unwrap(field.annotation)
        flags = [f"--{name.replace('_', '-')}"] + ([SHORT_FLAGS[name]] if name in SHORT_FLAGS else [])
        kwargs: dict[str, Any] = {"dest": name, "default": argparse.SUPPRESS,
                                  "help": f"{field.description or ''} [{_show(name, field.default)}]"}
        if name == "size":
            kwargs.update(type=_size_value, metavar="PX")
        elif name == "seed":
            kwargs.update(type=_seed_value, metavar="N")
        elif name == "scales":
            kwargs.update(type=_scales_value, metavar="N")
        elif name == "max_memory":
            kwargs.update(type=_memory_value, metavar="SIZE")
        elif typing.get_origin(inner) is Literal:
            kwargs.update(choices=typing.get_args(inner))
        elif typing.get_origin(inner) is tuple:
            item = typing.get_args(inner)[0]
            kwargs.update(nargs="+", type=float if item is float else str, metavar="X")
        elif inner in (int, float, str):
            kwargs.update(type=inner, metavar="N" if inner is int else ("X" if inner is float else "NAME"))
        group.add_argument(*flags, **kwargs)
        del optional


def _show(name: str, value: Any) -> str:
    if isinstance(value, tuple):
        return " ".join(str(v) for v in value)
    if value is None:
        return {"size": "original size", "scales": "auto", "max_memory": "auto"}.get(name, "none")
    return str(value)


def options_from_args(args: argparse.Namespace, **extra: Any) -> StyleOptions:
    from .options import make_options

    given = {name: getattr(args, name) for name in StyleOptions.model_fields if hasattr(args, name)}
    return make_options(**{**given, **extra})


# -- commands -----------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="brushwork", description="Neural style transfer (Gatys et al.) that is fast on a CPU.")
    parser.add_argument("--version", action="version", version=f"brushwork {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    run = commands.add_parser("stylize", help="paint content image(s) in the style of painting(s)",
                              usage="brushwork stylize CONTENT STYLE [STYLE ...] -o OUT [options]",
                              description="Paint CONTENT in the style of STYLE (several styles are blended). "
                                          "CONTENT may be a folder, and -c adds more content files: then -o names "
                                          "an output folder and the network and style targets are reused.")
    run.add_argument("inputs", nargs="+", metavar="IMAGE",
                     help="content image (or folder), then one or more style images")
    run.add_argument("-c", "--content", action="append", default=[], metavar="FILE",
                     help="another content image (repeatable); then every positional is a style image")
    run.add_argument("-o", "--output", required=True, metavar="OUT",
                     help="output file (format from its extension) or, for several contents, a folder")
    run.add_argument("--weights", metavar="FILE", help="VGG-19 weights file (default: the embedded weights)")
    run.add_argument("--weights-format", choices=("caffe", "torchvision"),
                     help="input convention of --weights when detection is not wanted (default: detect)")
    run.add_argument("--fast", action="store_true",
                     help="feed-forward mode: a trained network, well under a second per image "
                          "(mode=fast; strength with --style-strength)")
    run.add_argument("--fast-weights", metavar="FILE",
                     help="fast-mode decoder weights or train-fast checkpoint (default: the shipped ones)")
    run.add_argument("--init-image", metavar="FILE", help="start from this image (implies --init image)")
    run.add_argument("--save-every", type=int, default=0, metavar="N",
                     help="also save the image every N steps, into OUT_steps/ beside the output")
    run.add_argument("--threads", type=int, metavar="N", help="CPU threads (default: all cores)")
    run.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_option_flags(run)
    run.set_defaults(handler=_stylize_command)

    score_cmd = commands.add_parser("score", help="style and content distance of a result (lower is closer)")
    score_cmd.add_argument("output", metavar="OUT")
    score_cmd.add_argument("content", metavar="CONTENT")
    score_cmd.add_argument("style", metavar="STYLE")
    score_cmd.add_argument("--weights", metavar="FILE", help="VGG-19 weights file")
    score_cmd.add_argument("--json", action="store_true", help="print JSON")
    score_cmd.set_defaults(handler=_score_command)
    _add_plugin_commands(commands)
    return parser


def _add_plugin_commands(commands: Any) -> None:
    """Commands that live with optional parts (server, fast mode) register themselves here."""
    for module_name in ("brushwork.server.cli", "brushwork.distributed.cli", "brushwork.fast.cli", "brushwork.video.cli"):
        try:
            module = __import__(module_name, fromlist=["register"])
        except ImportError:
            continue
        module.register(commands)


def _split_inputs(args: argparse.Namespace) -> tuple[list[Path], list[str]]:
    """(content files, style files) from the positionals and -c flags."""
    positionals = list(args.inputs)
    if args.content:
        contents = [Path(p) for p in args.content]
        styles = positionals
    else:
        if len(positionals) < 2:
            raise InvalidInputError("give a content image and at least one style image")
        contents, styles = [Path(positionals[0])], positionals[1:]
    expanded: list[Path] = []
    for path in contents:
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise InvalidInputError(f"folder '{path}' holds no images")
            expanded.extend(found)
        elif not path.exists():
            raise InvalidInputError(f"content image '{path}': no such file")
        else:
            expanded.append(path)
    for style in styles:
        if not Path(style).is_file():
            raise InvalidInputError(f"style image '{style}': no such file")
    return expanded, styles


def _targets(contents: list[Path], output: Path, batch: bool) -> list[Path]:
    if not batch:
        return [output]
    if output.suffix.lower() in IMAGE_SUFFIXES:
        raise InvalidInputError(f"several content images need an output folder, not the file '{output}'")
    output.mkdir(parents=True, exist_ok=True)
    return [output / f"{path.stem}_stylized.png" for path in contents]


def _stylize_command(args: argparse.Namespace) -> int:
    from .callbacks import SaveEvery, chain
    from .stylizer import Stylizer
    from .formats import SAVE_FORMATS
    from .imaging import save_image
    from .progress import ProgressBar

    contents, styles = _split_inputs(args)
    batch = len(contents) > 1 or bool(args.content) or Path(args.inputs[0]).is_dir()
    output = Path(args.output)
    if not batch and output.suffix.lower() not in SAVE_FORMATS:
        raise InvalidInputError(f"output '{output}': unknown extension (use one of {', '.join(sorted(SAVE_FORMATS))})")
    if not batch and not output.parent.exists():
        raise InvalidInputError(f"output '{output}': folder '{output.parent}' does not exist")
    if args.save_every < 0:
        raise InvalidInputError("--save-every must be 0 or more")
    extra: dict[str, Any] = {"preview_every": args.save_every}
    if args.fast:
        extra["mode"] = "fast"
    if args.fast_weights and not Path(args.fast_weights).is_file():
        raise InvalidInputError(f"fast weights '{args.fast_weights}': no such file")
    if args.init_image:
        if not Path(args.init_image).is_file():
            raise InvalidInputError(f"init image '{args.init_image}': no such file")
        extra["init"] = "image"
    opts = options_from_args(args, **extra)
    targets = _targets(contents, output, batch)
    if opts.backend == "tensorflow":
        _start_tensorflow(args.threads)  # fails fast, in one line, without the extra
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    stylizer = Stylizer(args.weights, device=opts.device, precision=opts.precision,
                        weights_format=args.weights_format, fast_weights=args.fast_weights)
    for number, (content, target) in enumerate(zip(contents, targets), start=1):
        saver = None
        if args.save_every:
            folder = target.with_name(f"{target.stem}_steps")
            folder.mkdir(exist_ok=True)
            saver = SaveEvery(folder)
        label = f"[{number}/{len(contents)}] {content.name}" if batch else content.name
        if not args.quiet:
            plan = stylizer.plan(content, styles, opts, init_image=args.init_image)
            print("\n".join(plan.lines()), file=sys.stderr)
        with ProgressBar(label, enabled=not args.quiet) as bar:
            result = stylizer(content, styles, opts, callback=chain(bar, saver), init_image=args.init_image)
        save_image(result.image, target)
        print(f"wrote {target} ({result.image.width}x{result.image.height}, {result.seconds:.1f} s)",
              file=sys.stderr)
    return 0


def _start_tensorflow(threads: int | None) -> None:
    """Import the Keras engine now (BackendUnavailable if missing) and size its thread pools.

    TensorFlow's C++ start-up log lines go to file descriptor 2 whatever TF_CPP_MIN_LOG_LEVEL
    says; they are hidden here so that the progress bar is all a user sees.
    """
    import os

    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            import brushwork.tf  # noqa: F401
            import tensorflow as tf
    finally:
        os.dup2(saved, 2)
        os.close(saved)

    if threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(min(threads, 2))
        except RuntimeError:  # TensorFlow already ran in this process: its pools are fixed by now
            pass


def _score_command(args: argparse.Namespace) -> int:
    import json

    from .stylizer import Stylizer
    from .metrics import score

    scores = score(Stylizer(args.weights), args.output, args.content, args.style)
    if args.json:
        print(json.dumps(scores.as_dict()))
    else:
        print(f"style distance   {scores.style:.4f}\ncontent distance {scores.content:.4f}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: returns the exit code (0 ok, 2 bad input, 130 interrupted)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help, --version and usage errors: argparse already printed
        return int(stop.code or 0)
    handler: Callable[[argparse.Namespace], int] | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return handler(args)
    except BrushworkError as error:
        print(f"brushwork: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("brushwork: interrupted; no output written for the unfinished image", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
