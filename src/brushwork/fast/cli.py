"""`brushwork train-fast` and `brushwork export`: the fast mode's commands (registered by cli.py)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError


def register(commands: Any) -> None:
    """Add the fast mode's subcommands to the main parser."""
    train = commands.add_parser(
        "train-fast", help="train the fast mode's decoder on folders of photos and paintings",
        description="Train the fast (feed-forward, AdaIN) decoder. Checkpoints, loss.csv and loss.png go "
                    "to --output; running again with the same --output resumes from the last checkpoint.")
    train.add_argument("--content", required=True, metavar="DIR", help="folder of photos (searched recursively)")
    train.add_argument("--style", required=True, metavar="DIR|FILE",
                       help="folder of paintings (searched recursively), or one painting's file: with --init, tunes "
                            "a decoder for that painting (docs/fast-mode.md)")
    train.add_argument("-o", "--output", required=True, metavar="DIR", help="folder for checkpoints and logs")
    train.add_argument("--steps", type=int, default=20000, help="training steps in all [20000]")
    train.add_argument("--batch-size", type=int, default=6, help="images per step [6]")
    train.add_argument("--crop", type=int, default=256, help="training crop size in pixels [256]")
    train.add_argument("--learning-rate", type=float, default=5e-4, help="Adam step size [5e-4]")
    train.add_argument("--style-weight", type=float, default=10.0, help="style loss weight [10]")
    train.add_argument("--identity-weight", type=float, default=50.0,
                       help="weight of the identity (photo reconstruction) loss; 0 turns it off [50]")
    train.add_argument("--gram-weight", type=float, default=0.0,
                       help="weight of a Gram-matrix style loss over relu1_1..relu5_1 (Gatys' measure) [0: off]")
    train.add_argument("--objective", choices=("adain", "gatys"), default="adain",
                       help="adain: AdaIN's losses (content vs the AdaIN target, mean/std style); gatys: the "
                            "optimizer's own (relu4_2 vs the photo + --gram-weight x Gram loss, average-pooling "
                            "VGG), i.e. what brushwork score measures [adain]")
    train.add_argument("--skips", action="store_true",
                       help="decoder that also reads relu3_1, relu2_1 and relu1_1 (skip connections); --init may "
                            "be a plain decoder, whose weights it starts from")
    train.add_argument("--modulate", action="store_true",
                       help="the style vector also scales and shifts every hidden layer of the decoder (conditional "
                            "instance normalisation's idea); --init may be an unmodulated decoder of the same shape")
    train.add_argument("--coarse", action="store_true",
                       help="decoder that also reads relu5_1 (a 1/16-size level, for the painting's larger shapes); "
                            "--init may be a decoder without it, which it starts as (the branch learns at 10x the "
                            "learning rate)")
    train.add_argument("--perceptual-every", type=int, default=1, metavar="N",
                       help="full (content + style) loss every N steps; the others are cheap identity-only "
                            "steps on twice the batch, ~4x cheaper each (needs --identity-weight > 0) [1]")
    train.add_argument("--widths", type=int, nargs=4, metavar=("A", "B", "C", "D"),
                       help="decoder widths, coarse to fine (the shipped decoder: 256 128 64 32); a wider "
                            "decoder has more room for style, at more time per image")
    train.add_argument("--clip-grad-norm", type=float, metavar="X",
                       help="clip the gradient's global norm to X before each step (off by default); keeps long "
                            "runs at high learning rates from diverging (loss.csv logs the norm as grad_norm)")
    train.add_argument("--init", metavar="FILE", help="start from these decoder weights (checkpoint or shipped file)")
    train.add_argument("--style-crops", type=int, default=8, help="cached random crops per painting [8]")
    train.add_argument("--style-augment", action="store_true",
                       help="recolour the cached painting crops (hue, saturation, gamma) so a modulated decoder "
                            "sees more than the training paintings' own style vectors")
    train.add_argument("--style-whole", type=int, metavar="PX",
                       help="style targets from each whole painting, its Gram matrices at PX px and its style vector "
                            "as fast mode reads it for PX-px outputs, instead of random crops: for tuning to one "
                            "painting at the size you stylize at (e.g. 512)")
    train.add_argument("--whole-share", type=float, default=1.0, metavar="F",
                       help="with --style-whole: the share of style picks taken from whole paintings, the rest "
                            "from the cached crops (both kinds are prepared when F < 1) [1]")
    train.add_argument("--checkpoint-every", type=int, default=100, metavar="N", help="checkpoint every N steps [100]")
    train.add_argument("--keep-checkpoints", action="store_true",
                       help="also keep each checkpoint's decoder as checkpoint-STEP.pt, to choose between them on "
                            "scores (research/score_decoders.py): the validation loss on a few crops is noisy")
    train.add_argument("--ema", type=float, default=0.0, metavar="DECAY",
                       help="the decoders the run writes (best, kept, --export) hold an exponential moving average "
                            "of the weights with this decay per step, e.g. 0.995 (~200 steps), steadier than the "
                            "last step's weights; training goes on from its own [0: off]")
    train.add_argument("--log-every", type=int, default=10, metavar="N", help="log the loss every N steps [10]")
    train.add_argument("--max-minutes", type=float, help="stop after this much wall time (checkpointing first)")
    train.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N [auto]")
    train.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16", "fp16"),
                       help="autocast dtype; auto = bf16 where fast [auto]")
    train.add_argument("--threads", type=int, metavar="N", help="CPU threads (default: all cores)")
    train.add_argument("--seed", type=int, default=0, help="random seed [0]")
    train.add_argument("--fresh", action="store_true", help="start over even if a checkpoint exists")
    train.add_argument("--export", metavar="FILE",
                       help="at the end, write the best decoder as fp16 weights here, with its int8 calibration")
    train.add_argument("-q", "--quiet", action="store_true", help="no per-step log lines")
    train.set_defaults(handler=_train_command)

    calibrate = commands.add_parser(
        "calibrate-fast", help="measure a fast-mode decoder's int8 activation ranges (for int8 on the CPU)",
        description="Run the fast model in fp32 over photos and paintings, record each layer's activation range "
                    "and write the decoder plus those ranges to --output. With them, fast mode runs in int8 on "
                    "CPUs with VNNI (precision auto or int8): ~1.7x faster than bf16, same picture. "
                    "`train-fast --export` does this itself.")
    calibrate.add_argument("--content", required=True, metavar="DIR", help="folder of photos (searched recursively)")
    calibrate.add_argument("--style", required=True, metavar="DIR|FILE",
                           help="folder of paintings (searched recursively), or one painting's file")
    calibrate.add_argument("-o", "--output", required=True, metavar="FILE",
                           help="decoder file to write (may be --fast-weights itself: its weights are kept)")
    calibrate.add_argument("--fast-weights", metavar="FILE", help="decoder weights (default: the shipped ones)")
    calibrate.add_argument("--photos", type=int, default=48, metavar="N", help="photos to measure on [48]")
    calibrate.add_argument("--paintings", type=int, default=48, metavar="N", help="paintings to measure on [48]")
    calibrate.add_argument("--size", type=int, default=512, metavar="PX",
                           help="long side of the photos, as fast mode's output [512]")
    calibrate.set_defaults(handler=_calibrate_command)

    export = commands.add_parser(
        "export", help="write the fast mode's style and transfer networks for phones (ONNX, TFLite, Core ML)",
        description="Write style.<ext> (style image -> style vector: 1920 floats for the shipped decoder, its "
                    "size in <format>-manifest.json) and transfer.<ext> (content "
                    "image + style vector + strength -> image) into DIR. Needs: pip install 'brushwork[export]'.")
    export.add_argument("--format", required=True, choices=("onnx", "tflite", "coreml"), help="model format")
    export.add_argument("--precision", default="fp32", choices=("fp32", "fp16", "int8"),
                        help="weights precision [fp32]; int8 = int8 weights (dynamic-range quantization)")
    export.add_argument("-o", "--output", required=True, metavar="DIR", help="output folder")
    export.add_argument("--content-size", type=int, default=384, metavar="PX",
                        help="content image size for fixed-shape formats (tflite, coreml; ONNX is dynamic) [384]")
    export.add_argument("--style-size", type=int, default=256, metavar="PX",
                        help="style image size for fixed-shape formats [256]")
    export.add_argument("--fast-weights", metavar="FILE", help="decoder weights (default: the shipped ones)")
    export.set_defaults(handler=_export_command)

    phone = commands.add_parser(
        "phone-app", help="build the on-device phone page (static files; the model runs in the browser)",
        description="Write the phone page (HTML, PWA manifest, service worker, ONNX models, onnxruntime-web) "
                    "into DIR; serve DIR from any web server. `brushwork serve` mounts it at /phone.")
    phone.add_argument("-o", "--output", required=True, metavar="DIR", help="output folder")
    phone.add_argument("--precision", default="fp32", choices=("fp32", "fp16"),
                       help="model precision (fp16 halves the download) [fp32]")
    phone.set_defaults(handler=_phone_command)


def _positive(name: str, value: int | float | None) -> None:
    if value is not None and value <= 0:
        raise InvalidInputError(f"--{name} must be positive, not {value}")


def _train_command(args: argparse.Namespace) -> int:
    import torch

    from .train import TrainConfig, calibrate_int8, export_decoder, list_images, train

    for name in ("steps", "batch_size", "perceptual_every", "crop", "learning_rate", "style_crops", "checkpoint_every",
                 "log_every", "max_minutes", "threads", "clip_grad_norm", "style_whole"):
        _positive(name.replace("_", "-"), getattr(args, name))
    if args.widths and min(args.widths) < 1:
        raise InvalidInputError(f"--widths must be positive, not {' '.join(map(str, args.widths))}")
    if args.crop % 8 or args.crop < 32:
        raise InvalidInputError(f"--crop must be a multiple of 8 and at least 32, not {args.crop}")
    if not 0 <= args.whole_share <= 1:
        raise InvalidInputError(f"--whole-share must be between 0 and 1, not {args.whole_share:g}")
    if not 0 <= args.ema < 1:
        raise InvalidInputError(f"--ema is a decay per step, from 0 (off) to below 1, not {args.ema:g}")
    if args.whole_share < 1 and args.style_whole is None:
        raise InvalidInputError("--whole-share mixes whole paintings with crops: give --style-whole PX too")
    if args.style_whole is not None and args.whole_share == 1 and args.style_augment:
        raise InvalidInputError("--style-augment recolours painting crops; --style-whole reads whole paintings only "
                                "(give --whole-share below 1 to keep crops too)")
    list_images(args.content), list_images(args.style)  # fail early, with one line, on bad folders
    if args.init and not Path(args.init).is_file():
        raise InvalidInputError(f"--init '{args.init}': no such file")
    for name in ("identity_weight", "gram_weight"):
        if getattr(args, name) < 0:
            raise InvalidInputError(f"--{name.replace('_', '-')} must be 0 or more")
    if args.threads:
        torch.set_num_threads(args.threads)
    config = TrainConfig(content_dir=args.content, style_dir=args.style, output_dir=args.output,
                         steps=args.steps, batch_size=args.batch_size, crop=args.crop,
                         learning_rate=args.learning_rate, style_weight=args.style_weight,
                         identity_weight=args.identity_weight, gram_weight=args.gram_weight, init=args.init,
                         objective=args.objective, skips=args.skips, modulated=args.modulate, coarse=args.coarse,
                         perceptual_every=args.perceptual_every, clip_grad_norm=args.clip_grad_norm,
                         widths=tuple(args.widths) if args.widths else TrainConfig.widths,
                         style_crops=args.style_crops, style_augment=args.style_augment,
                         style_whole=args.style_whole, whole_share=args.whole_share,
                         checkpoint_every=args.checkpoint_every, keep_checkpoints=args.keep_checkpoints,
                         ema=args.ema, log_every=args.log_every, max_minutes=args.max_minutes,
                         device=args.device, precision=args.precision, seed=args.seed)

    def report(row: dict[str, float]) -> None:
        if not args.quiet:
            terms = "".join(f"{name} {row[name]:.4f}  " for name in ("content", "style", "gram", "identity")
                            if name in row)
            print(f"step {int(row['step'])}  loss {row['total']:.4f}  {terms}grad {row['grad_norm']:.3g}  "
                  f"lr {row['lr']:.2e}  "
                  f"{row['seconds']:.0f} s", file=sys.stderr, flush=True)

    best = train(config, resume=not args.fresh, report=report)
    print(f"best checkpoint: {best}", file=sys.stderr)
    if args.export:
        exported = export_decoder(best, Path(args.export))
        print(f"wrote {calibrate_int8(exported, args.content, args.style, exported)} (with int8 calibration)",
              file=sys.stderr)
    return 0


def _calibrate_command(args: argparse.Namespace) -> int:
    from .model import default_decoder_path, load_decoder
    from .train import calibrate_int8, list_images

    for name in ("photos", "paintings", "size"):
        _positive(name, getattr(args, name))
    if args.size < 16:
        raise InvalidInputError(f"--size must be at least 16, not {args.size}")
    source = Path(args.fast_weights) if args.fast_weights else default_decoder_path()
    load_decoder(source)                                    # fail early, in one line, on a bad file
    list_images(args.content), list_images(args.style)
    output = Path(args.output)
    if not output.parent.is_dir():
        raise InvalidInputError(f"output folder '{output.parent}' does not exist")
    if not os.access(output.parent, os.W_OK) or output.is_dir():
        raise InvalidInputError(f"cannot write '{output}'")
    written = calibrate_int8(source, args.content, args.style, output, photos=args.photos,
                             paintings=args.paintings, size=args.size)
    print(f"wrote {written} (decoder + int8 ranges)", file=sys.stderr)
    return 0


def _export_command(args: argparse.Namespace) -> int:
    from .export import export

    if args.fast_weights and not Path(args.fast_weights).is_file():
        raise InvalidInputError(f"fast weights '{args.fast_weights}': no such file")
    result = export(args.format, args.output, args.precision, content_size=args.content_size,
                    style_size=args.style_size, decoder=args.fast_weights)
    for path in (result.style, result.transfer):
        print(f"wrote {path} ({_size_mb(path):.1f} MB)", file=sys.stderr)
    return 0


def _phone_command(args: argparse.Namespace) -> int:
    from .phone_app import build_phone_app

    folder = build_phone_app(args.output, precision=args.precision)
    print(f"wrote the phone page to {folder} (open index.html through a web server)", file=sys.stderr)
    return 0


def _size_mb(path: Path) -> float:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files) / 2**20
