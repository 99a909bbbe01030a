"""Other ways than AdaIN to give the photo's features the painting's, in front of the trained decoder.

    python benchmarks/fast_mode.py --images ../shared/images --out OUT          # once: optimizer pictures
    python research/feature_matching.py --bench OUT --method swap --levels relu4_1 [--patch 3] [--mix 0.5 1]
    python research/feature_matching.py --bench OUT --method histogram --levels relu4_1 relu3_1

AdaIN matches each channel's mean and std only, so the question is whether matching more of the
painting's features at inference, with the shipped decoder as it is, closes the style gap
(research/fast-mode-experiments.md, "What would close the style gap"):
  swap       style swap (Chen & Schmidt 2016): every `--patch` x `--patch` patch of the photo's
             features is replaced by the painting's patch of highest normalised cross-correlation
             (overlaps averaged), then AdaIN'd to the painting's statistics as usual;
  histogram  each channel's values are replaced by the painting's values of the same rank (its
             whole marginal distribution, not only mean and std; Risser et al. 2017).
At the chosen `--levels`, the result (a `--mix` share of it, the rest plain AdaIN) goes to the
decoder; the other levels get AdaIN. Mix 0 is fast mode itself (fp32, not folded into int8).
Scored as score_decoders.py does: style / content distance ratios to the optimizer's pictures
(lower is closer), per pair and mean, and the seconds of one transfer (the painting read beforehand). `--sheet` writes the pictures.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

# research/ for its sibling scripts, benchmarks/ for the shared helpers (_machine, fast_mode)
sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parent.parent / "benchmarks")]
from _machine import machine_line  # noqa: E402
from fast_mode import optimizer_scores, pairs, sheet  # noqa: E402

import brushwork  # noqa: E402
from brushwork import imaging  # noqa: E402
from brushwork.fast.model import read_decoder_file, style_long_side  # noqa: E402
from brushwork.fast.network import (  # noqa: E402
    Decoder,
    Encoder,
    adain_affine,
    apply_affine,
    frame,
    mean_std,
    split_vector,
    style_vector,
)
from brushwork.metrics import score  # noqa: E402

SIZE = 512


def style_swap(content: torch.Tensor, style: torch.Tensor, patch: int = 3) -> torch.Tensor:
    """(1, C, h, w) features with each patch replaced by the style's best-correlated patch."""
    channels = style.shape[1]
    kernels = F.unfold(style, patch, padding=patch // 2)[0].T.reshape(-1, channels, patch, patch)
    normed = kernels / kernels.flatten(1).norm(dim=1).clamp_min(1e-8)[:, None, None, None]
    best = F.conv2d(content, normed, padding=patch // 2).argmax(1, keepdim=True)
    chosen = torch.zeros(1, len(kernels), *content.shape[-2:]).scatter_(1, best, 1.0)
    summed = F.conv_transpose2d(chosen, kernels, padding=patch // 2)
    return summed / F.conv_transpose2d(chosen, torch.ones_like(kernels[:, :1]), padding=patch // 2)


def histogram_match(content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """(1, C, h, w) features with each channel's values replaced by the style's of the same rank."""
    flat, ranked = content[0].flatten(1), style[0].flatten(1).sort(dim=1).values
    quantiles = torch.linspace(0, ranked.shape[1] - 1, flat.shape[1]).round().long()
    return torch.empty_like(flat).scatter_(1, flat.argsort(dim=1), ranked[:, quantiles]).reshape(content.shape)


def read_pair(content: Path, style: Path, encoder: Encoder, levels: tuple[str, ...]
              ) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
    """The photo at SIZE, and the painting's features and style vector as fast mode reads it (once
    per pair: every --mix uses them)."""
    photo = imaging.load_image(content).rgb
    photo = imaging.resize(photo, imaging.output_size(*photo.size, SIZE))
    painting = imaging.load_image(style).rgb
    painting = imaging.resize(painting, imaging.output_size(
        *painting.size, style_long_side(brushwork.StyleOptions(), *photo.size)))
    with torch.no_grad():
        painted = encoder.layers(imaging.to_tensor(painting), levels)
    return imaging.to_tensor(photo), painted, style_vector(painted, levels)


def transfer(encoder: Encoder, decoder: Decoder, photo: torch.Tensor, painted: dict[str, torch.Tensor],
             vector: torch.Tensor, match, levels: tuple[str, ...], mix: float) -> torch.Tensor:
    """Fast mode's transfer with `match` (photo features, painting features -> features) at `levels`."""
    padded, crop = frame(photo)
    found = encoder.layers(padded, decoder.levels)
    features, affines = [], []
    for name, part in zip(decoder.levels, split_vector(vector, decoder.levels)):
        own = found[name]
        affine = adain_affine(mean_std(own), part)
        if name in levels and mix > 0:
            matched = match(own, painted[name])
            painted_like = apply_affine(matched, adain_affine(mean_std(matched), part))
            own = mix * painted_like + (1 - mix) * apply_affine(own, affine)
            affine = (torch.ones_like(affine[0]), torch.zeros_like(affine[1]))      # (already mapped)
        features.append(own)
        affines.append(affine)
    return crop(decoder.decode(features, affines, fold=True, style=vector).clamp(0, 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench", type=Path, required=True, help="a fast_mode.py --out folder (optimizer pictures)")
    parser.add_argument("--images", type=Path, default=Path("../shared/images"))
    parser.add_argument("--pairs", type=int, default=4)
    parser.add_argument("--method", choices=("swap", "histogram"), default="swap")
    parser.add_argument("--levels", nargs="+", default=["relu4_1"], help="levels to match [relu4_1]")
    parser.add_argument("--patch", type=int, default=3, help="style swap's patch size [3]")
    parser.add_argument("--mix", type=float, nargs="+", default=[0.0, 1.0], help="shares of the matched features")
    parser.add_argument("--fast-weights", type=Path)
    parser.add_argument("--sheet", type=Path, help="write the pictures here (one row per mix)")
    args = parser.parse_args()
    decoder, _ = read_decoder_file(args.fast_weights)
    unknown = set(args.levels) - set(decoder.levels)
    if unknown:
        parser.error(f"the decoder reads {', '.join(decoder.levels)}, not {', '.join(sorted(unknown))}")
    stylizer = brushwork.Stylizer()
    chosen = pairs(args.images, args.pairs)
    optimizer = optimizer_scores(stylizer, args.bench, chosen, parser)
    encoder = Encoder.for_levels(stylizer.weights, decoder.levels)
    inputs = [read_pair(content, style, encoder, decoder.levels) for content, style in chosen]

    def match(photo: torch.Tensor, painting: torch.Tensor) -> torch.Tensor:
        return style_swap(photo, painting, args.patch) if args.method == "swap" else histogram_match(photo, painting)

    print(machine_line(), flush=True)
    rows = []
    for mix in args.mix:
        ratios, seconds, pictures = [], [], []
        for (content, style), (photo, painted, vector) in zip(chosen, inputs):
            with torch.no_grad():
                started = time.perf_counter()
                out = transfer(encoder, decoder, photo, painted, vector, match, tuple(args.levels), mix)
                seconds.append(time.perf_counter() - started)
            picture = imaging.to_pil(out)
            got, slow = score(stylizer, picture, content, style), optimizer[content, style]
            ratios.append((got.style / slow.style, got.content / slow.content))
            pictures.append(picture)
        means = [statistics.mean(ratio[i] for ratio in ratios) for i in (0, 1)]
        print(f"{args.method} at {' '.join(args.levels)}, mix {mix:g}: {means[0]:.3f} / {means[1]:.3f}   "
              + "  ".join(f"{s:.2f}/{c:.2f}" for s, c in ratios)
              + "   s: " + " / ".join(f"{t:.2f}" for t in seconds), flush=True)
        rows.append(pictures)
    if args.sheet:
        args.sheet.parent.mkdir(parents=True, exist_ok=True)
        sheet(rows, [f"{content.stem} + {style.stem}" for content, style in chosen]).save(args.sheet)


if __name__ == "__main__":
    main()
