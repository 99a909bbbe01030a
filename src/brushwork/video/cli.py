"""`brushwork video` and `brushwork score-video` (registered by cli.py). av and OpenCV load only
when a command runs, so a missing `video` extra is a one-line error, not a missing command."""

from __future__ import annotations

import argparse
import json
import sys
import typing
from pathlib import Path
from typing import Any, Literal

from ..errors import BackendUnavailable, InvalidInputError

VIDEO_EXTRA = "video needs the video extra: pip install 'brushwork[video]' (PyAV and OpenCV)"


def _needs_video_extra() -> None:
    from . import video_available

    if not video_available():
        raise BackendUnavailable(VIDEO_EXTRA)


def add_video_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per VideoOptions field (same name with dashes, type, choices, default, help)."""
    from ..cli import _unwrap
    from .options import VideoOptions

    group = parser.add_argument_group("video options (defaults in brackets)")
    for name, field in VideoOptions.model_fields.items():
        kind, _ = _unwrap(field.annotation)                                   # X | None -> X
        kwargs: dict[str, Any] = {"dest": name, "default": argparse.SUPPRESS,
                                  "help": f"{field.description} [{field.default if field.default is not None else 'none'}]"}
        if typing.get_origin(kind) is Literal:
            kwargs["choices"] = typing.get_args(kind)
        else:
            kwargs.update(type=kind, metavar="N" if kind is int else "X")
        group.add_argument(f"--{name.replace('_', '-')}", **kwargs)


def register(commands: Any) -> None:
    from ..cli import add_option_flags

    run = commands.add_parser(
        "video", help="paint a clip (a video file or a folder of frames), kept steady along the optical flow",
        usage="brushwork video IN PAINTING [PAINTING ...] -o OUT [options]",
        description="Paint the clip IN in the style of PAINTING (several are blended) into OUT: an .mp4 "
                    "(H.264, with IN's frame rate and audio) or a folder of PNG frames. Frames are kept in "
                    "OUT.work/ as they are made: after Ctrl-C or a crash, the same command resumes there.")
    run.add_argument("inputs", nargs="+", metavar="FILE", help="the clip (file or folder of frames), then paintings")
    run.add_argument("-o", "--output", required=True, metavar="OUT", help="output .mp4 (or .m4v, .mov) or folder")
    run.add_argument("--fast", action="store_true", help="feed-forward mode: the trained network, blended along "
                                                         "the flow (many frames a second)")
    run.add_argument("--fast-weights", metavar="FILE", help="fast-mode decoder weights (default: the shipped ones)")
    run.add_argument("--weights", metavar="FILE", help="VGG-19 weights file (default: the embedded weights)")
    run.add_argument("--keep-work", action="store_true", help="keep OUT.work/ (the frames) after writing OUT")
    run.add_argument("--threads", type=int, metavar="N", help="CPU threads (default: all cores)")
    run.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_video_flags(run)
    add_option_flags(run)
    run.set_defaults(handler=_video_command)

    score = commands.add_parser(
        "score-video", help="flicker (warping error, Lai et al. 2018) and style distance of a stylized clip",
        description="Warping error of STYLIZED along INPUT's optical flow (and of INPUT itself, for reference), "
                    "and, with PAINTING, the frames' mean style and content distance. Lower is better.")
    score.add_argument("stylized", metavar="STYLIZED")
    score.add_argument("source", metavar="INPUT")
    score.add_argument("style", metavar="PAINTING", nargs="?")
    score.add_argument("--every", type=int, default=1, metavar="N", help="style distance of every N-th frame [1]")
    score.add_argument("--weights", metavar="FILE", help="VGG-19 weights file")
    score.add_argument("--json", action="store_true", help="print JSON")
    score.set_defaults(handler=_score_command)


def _video_command(args: argparse.Namespace) -> int:
    _needs_video_extra()
    from ..cli import options_from_args
    from ..progress import FrameBar
    from ..stylizer import Stylizer
    from .options import VideoOptions, make_video_options
    from .run import stylize_video

    if len(args.inputs) < 2:
        raise InvalidInputError("give a clip and at least one painting")
    source, styles = Path(args.inputs[0]), args.inputs[1:]
    for style in styles:
        if not Path(style).is_file():
            raise InvalidInputError(f"painting '{style}': no such file")
    if args.fast_weights and not Path(args.fast_weights).is_file():
        raise InvalidInputError(f"fast weights '{args.fast_weights}': no such file")
    opts = options_from_args(args, **({"mode": "fast"} if args.fast else {}))
    video = make_video_options(**{name: getattr(args, name) for name in VideoOptions.model_fields
                                  if hasattr(args, name)})
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    output = Path(args.output)
    stylizer = Stylizer(args.weights, device=opts.device, precision=opts.precision, fast_weights=args.fast_weights)
    try:
        with FrameBar(source.name, enabled=not args.quiet) as bar:
            result = stylize_video(stylizer, source, styles, output, opts, video, callback=bar)
    except KeyboardInterrupt:
        print(f"brushwork: interrupted; the frames made so far are in {output.name}.work/ - run the same command "
              "again to resume", file=sys.stderr)
        return 130
    resumed = f", {result.resumed} frames resumed" if result.resumed else ""
    print(f"wrote {result.output} ({result.frames} frames, {result.size[0]}x{result.size[1]}, "
          f"{float(result.fps):g} fps{', audio copied' if result.audio else ''}, {result.seconds:.1f} s{resumed})",
          file=sys.stderr)
    return 0


def _score_command(args: argparse.Namespace) -> int:
    _needs_video_extra()
    from ..metrics import score_video
    from ..stylizer import Stylizer

    if args.every < 1:
        raise InvalidInputError("--every must be 1 or more")
    if args.style is not None and not Path(args.style).is_file():
        raise InvalidInputError(f"painting '{args.style}': no such file")
    stylizer = Stylizer(args.weights) if args.style else None
    scores = score_video(stylizer, args.stylized, args.source, args.style, every=args.every)
    if args.json:
        print(json.dumps(scores.as_dict()))
        return 0
    print(f"warping error    {scores.warping_error:.5f}  (the input clip's own: {scores.input_warping_error:.5f})")
    if scores.style is not None:
        print(f"style distance   {scores.style:.4f}\ncontent distance {scores.content:.4f}")
    print(f"frames           {scores.frames}")
    return 0
