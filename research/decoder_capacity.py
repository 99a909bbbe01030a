"""Is the fast decoder's style gap its architecture or what it has learnt? Fit it to one painting and see.

    python research/decoder_capacity.py --bench OUT --pair 1 --fit pair --train decoder
    python research/decoder_capacity.py --bench OUT --pair 1 --fit painting --train modulation

Starting from a trained decoder (`--fast-weights`; the shipped one by default), trains (`--train`)
either all of its weights or only the style modulation's output (the 1,344 per-channel scales and
shifts: the expand layer's bias) on the optimizer's own losses (relative Gram error over
relu1_1..relu5_1 + `--content-weight` x relu4_2), for one benchmark painting, `--fit`:
  pair      on the benchmark photo itself at 512 px: what the network can draw for one input;
  painting  on random 256-px crops of `--photos` (the benchmark photo is not among them), scored on
            the benchmark photo: a network made for this one painting, as per-style networks are.
Every `--every` steps it prints the style / content distance ratios to the optimizer's picture (a
`benchmarks/fast_mode.py --out OUT` run's), as `brushwork score` and fast_mode.py measure them.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import torch

# research/ for its sibling scripts, benchmarks/ for the shared helpers (_machine, fast_mode)
sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parent.parent / "benchmarks")]
from _machine import machine_line  # noqa: E402
from fast_mode import optimizer_scores, pairs  # noqa: E402

import brushwork  # noqa: E402
from brushwork import imaging  # noqa: E402
from brushwork.fast.model import FAST_STYLE_SCALE, read_decoder_file  # noqa: E402
from brushwork.fast.network import Encoder, StyleNetwork, TransferNetwork, frame  # noqa: E402
from brushwork.fast.train import (  # noqa: E402
    GATYS_CONTENT_LAYER,
    GRAM_LAYERS,
    gram_loss,
    list_images,
    load_uint8,
    random_crop,
)
from brushwork.features import VGG19Features  # noqa: E402
from brushwork.losses import gram_matrix, relative_squared_error  # noqa: E402
from brushwork.metrics import score  # noqa: E402
from brushwork.weights import load_vgg19_weights  # noqa: E402


def optimizer_loss(loss_network: VGG19Features, output: torch.Tensor, grams: dict[str, torch.Tensor],
                   photo: torch.Tensor, content_weight: float) -> torch.Tensor:
    """The optimizer's objective per image, averaged over the batch (train-fast's objective "gatys"):
    the relative Gram error against the one painting + weight x relu4_2's against each photo."""
    found = loss_network(output, (*GRAM_LAYERS, GATYS_CONTENT_LAYER))
    targets = {name: gram.expand(len(output), -1, -1) for name, gram in grams.items()}
    content = torch.vmap(relative_squared_error)(found[GATYS_CONTENT_LAYER].float(), photo).mean()
    return gram_loss(found, targets) + content_weight * content


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench", type=Path, required=True, help="a fast_mode.py --out folder (optimizer pictures)")
    parser.add_argument("--images", type=Path, default=Path("../shared/images"))
    parser.add_argument("--photos", type=Path, default=Path("../shared/training/content"))
    parser.add_argument("--pair", type=int, default=1, help="which benchmark pair (fast_mode.py's order) [1]")
    parser.add_argument("--fit", choices=("pair", "painting"), default="pair")
    parser.add_argument("--train", choices=("decoder", "modulation"), default="decoder")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--every", type=int, default=25)
    parser.add_argument("--learning-rate", type=float, help="[3e-4 for the decoder, 1e-3 for the modulation]")
    parser.add_argument("--content-weight", type=float, default=0.1, help="[0.1: train-fast's --gram-weight 10]")
    parser.add_argument("--batch-size", type=int, default=4, help="crops per step with --fit painting [4]")
    parser.add_argument("--fast-weights", type=Path, help="decoder file or checkpoint to start from [the shipped one]")
    parser.add_argument("--save", type=Path, help="write the last picture here")
    args = parser.parse_args()
    torch.manual_seed(0)
    content_path, style_path = pairs(args.images, args.pair + 1)[args.pair]
    reference = brushwork.Stylizer()
    slow = optimizer_scores(reference, args.bench, [(content_path, style_path)], parser)[content_path, style_path]

    weights = load_vgg19_weights()
    decoder, _ = read_decoder_file(args.fast_weights)
    decoder = decoder.float().requires_grad_(False)
    encoder = Encoder.for_levels(weights, decoder.levels).requires_grad_(False)
    if args.train == "modulation":
        if decoder.modulation is None:
            parser.error("the shipped decoder has no style modulation")
        trained = [decoder.modulation.expand.bias]
    else:
        trained = list(decoder.parameters())
    for parameter in trained:
        parameter.requires_grad_(True)
    network = TransferNetwork(encoder, decoder)
    loss_network = VGG19Features(weights, "relu5_1", pooling="avg").requires_grad_(False)

    size = 512
    content = imaging.load_tensor(content_path, size)
    with torch.no_grad():      # the style vector as fast mode reads it; the Gram targets as score() does
        vector = StyleNetwork(encoder, decoder.levels)(imaging.load_tensor(style_path, round(size * FAST_STYLE_SCALE)))
        painting = loss_network(imaging.load_tensor(style_path, size), GRAM_LAYERS)
        grams = {name: gram_matrix(painting[name]) for name in GRAM_LAYERS}
        if args.fit == "pair":     # the one photo's content target, once
            pair_photo = loss_network(content, (GATYS_CONTENT_LAYER,))[GATYS_CONTENT_LAYER]
        else:
            photos = [load_uint8(p, 768) for p in list_images(args.photos) if p.stem != content_path.stem]
    padded, crop = frame(content)
    rng = random.Random(0)
    learning_rate = args.learning_rate or (1e-3 if args.train == "modulation" else 3e-4)
    optimizer = torch.optim.Adam(trained, lr=learning_rate)

    def report(step: int, seconds: float) -> None:
        with torch.no_grad():
            picture = imaging.to_pil(crop(network(padded, vector)))
        got = score(reference, picture, content_path, style_path)
        print(f"| {step} | {got.style / slow.style:.2f} | {got.content / slow.content:.2f} | {seconds:.0f} |",
              flush=True)
        if args.save:
            picture.save(args.save)

    print(f"{content_path.stem} + {style_path.stem}, fit {args.fit}, train {args.train}, lr {learning_rate}, "
          f"content weight {args.content_weight}; {machine_line()}")
    print("| step | style ratio | content ratio | s |\n|---|---|---|---|")
    report(0, 0.0)
    started = time.perf_counter()
    for step in range(1, args.steps + 1):
        if args.fit == "pair":
            batch, photo = padded, pair_photo
        else:
            batch = torch.stack([random_crop(photos[rng.randrange(len(photos))], 256, rng, jitter=False)
                                 for _ in range(args.batch_size)])
            with torch.no_grad():
                photo = loss_network(batch, (GATYS_CONTENT_LAYER,))[GATYS_CONTENT_LAYER]
        with torch.autocast("cpu", dtype=torch.bfloat16):
            output = network(batch.contiguous(memory_format=torch.channels_last), vector.expand(len(batch), -1))
            if args.fit == "pair":
                output = crop(output)
            loss = optimizer_loss(loss_network, output.float(), grams, photo.float(), args.content_weight)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % args.every == 0 or step == args.steps:
            report(step, time.perf_counter() - started)


if __name__ == "__main__":
    main()
