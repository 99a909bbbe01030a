"""Video: speed, steadiness (warping error) and style, kept steady against frame by frame.

    python benchmarks/video.py [--seconds 10] [--optimizer-seconds 2] [--out out/video]

The clip is made on the spot (`brushwork.video.sample`): a camera drifting over a photo from
../shared/images with two shapes crossing it, 24 fps, with a tone on the audio track. Rows:

* fast mode at 256 and 512 px, the whole pipeline (decode, flow, paint, blend, encode), kept
  steady (the default blend) and frame by frame (blend 0);
* the optimizer at 256 px on the first `--optimizer-seconds`: kept steady (warm start from the
  carried result, temporal term, `frame_steps`) against each frame optimized on its own with the
  default schedule.

Warping error (Lai et al. 2018) and the mean style distance come from `brushwork.metrics.score_video`
(style on every 4th frame). Results go to docs/benchmarks.md by hand.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "images"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--optimizer-seconds", type=float, default=2.0)
    parser.add_argument("--content", type=Path, default=SHARED / "content" / "tubingen.jpg")
    parser.add_argument("--style", type=Path, default=SHARED / "style" / "starry_night.jpg")
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "video")
    parser.add_argument("--skip-optimizer", action="store_true")
    parser.add_argument("--skip-fast", action="store_true")
    args = parser.parse_args()
    if not args.content.is_file() or not args.style.is_file():
        parser.error(f"content {args.content} or style {args.style} not found (../shared/images is needed)")
    args.out.mkdir(parents=True, exist_ok=True)

    from PIL import Image

    import brushwork
    from brushwork.metrics import score_video
    from brushwork.video import stylize_video
    from brushwork.video.sample import write_sample_clip
    from _machine import machine_line

    print(machine_line())
    clip = args.out / "clip_512.mp4"
    write_sample_clip(clip, width=512, height=288, frames=int(args.seconds * 24), fps=24,
                      backdrop=Image.open(args.content).convert("RGB"))
    stylizer = brushwork.Stylizer(device="cpu")
    stylizer(Image.open(args.content).convert("RGB"), args.style, mode="fast", size=64)   # networks loaded

    print("| run | size | frames | time | frames/s | s per frame after the first | warping error | "
          "style distance | content distance |\n|---|---|---|---|---|---|---|---|---|")
    runs = [] if args.skip_fast else [
        ("fast, kept steady", {"mode": "fast", "size": 256}, None),
        ("fast, frame by frame", {"mode": "fast", "size": 256, "blend": 0.0}, None),
        ("fast, kept steady", {"mode": "fast", "size": 512}, None),
        ("fast, frame by frame", {"mode": "fast", "size": 512, "blend": 0.0}, None)]
    if not args.skip_optimizer:
        runs += [("optimizer, kept steady", {"size": 256}, args.optimizer_seconds),
                 ("optimizer, frame by frame", {"size": 256, "frame_by_frame": True}, args.optimizer_seconds)]
    input_error = None
    for label, options, seconds in runs:
        options = dict(options)
        alone = options.pop("frame_by_frame", False)
        target = args.out / f"{label.split(',')[0]}_{options['size']}_{'alone' if alone or options.get('blend') == 0 else 'steady'}.mp4"
        if seconds is not None:
            options["end"] = seconds
        times: list[float] = []
        started = time.perf_counter()
        if alone:
            _frame_by_frame(stylizer, clip, args.style, target, options)
        else:
            stylize_video(stylizer, clip, args.style, target, callback=lambda p: times.append(time.perf_counter()),
                          **options)
        elapsed = time.perf_counter() - started
        source = clip if seconds is None else _trimmed(clip, seconds, args.out)
        scores = score_video(stylizer, target, source, args.style, every=4)
        input_error = scores.input_warping_error
        later = (times[-1] - times[0]) / (len(times) - 1) if len(times) > 1 else float("nan")
        print(f"| {label} | {options['size']} px | {scores.frames} | {elapsed:.1f} s | {scores.frames / elapsed:.2f} | "
              f"{later:.2f} s | {scores.warping_error:.5f} | {scores.style:.3f} | {scores.content:.3f} |", flush=True)
    print(f"input clip's own warping error (what the flow leaves): {input_error:.5f}")


def _trimmed(clip: Path, seconds: float, out: Path) -> Path:
    """The first `seconds` of the clip as a folder of frames (for scoring a trimmed run)."""
    from PIL import Image

    from brushwork.video.clip import probe, read_frames

    folder = out / f"clip_first_{seconds:g}s"
    if not folder.is_dir():
        folder.mkdir()
        info = probe(clip, end=seconds)
        for index, frame in enumerate(read_frames(info, (info.width, info.height))):
            Image.fromarray(frame).save(folder / f"{index:06d}.png")
    return folder


def _frame_by_frame(stylizer, clip: Path, style: Path, target: Path, options: dict) -> None:
    """Each frame optimized on its own (the default schedule), written as an MP4 like a run's."""
    from PIL import Image

    from brushwork.video.clip import probe, read_frames, write_mp4

    info = probe(clip, end=options.pop("end", None))
    size = info.frame_size(options.pop("size"))
    frames = (stylizer(Image.fromarray(frame), style, size=None, **options).image
              for frame in read_frames(info, size))
    write_mp4(target, (_array(f) for f in frames), info.fps, size)


def _array(image):
    import numpy as np

    return np.asarray(image.convert("RGB"))


if __name__ == "__main__":
    main()
