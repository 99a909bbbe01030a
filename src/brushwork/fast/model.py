"""FastStylizer: the feed-forward mode behind `Stylizer(..., mode="fast")` and `stylize --fast`.

One call = one style-network pass per (uncached) style, one transfer-network pass. Colour
preservation, alpha and image handling are the optimization engine's own helpers, so both modes
treat inputs identically.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image

from .. import imaging
from ..cache import LRUCache
from ..device import Placement, cpu_has_fast_bf16
from ..errors import InvalidInputError, WeightsError
from ..features import place
from ..files import atomic_write
from ..memory import memory_left
from ..options import StyleOptions
from ..pipeline import image_digest
from ..weights import VGGWeights
from .int8 import Int8Decoder, Int8Encoder, Ranges
from .network import EDGE_MARGIN, Decoder, Encoder, StyleNetwork, TransferNetwork, decoder_shape, frame
from .tiled import fast_plan, style_vector_tiled, transfer_tiled

DECODER_FILE = "decoder-fp16.pt"


def with_coarse_pass(content: torch.Tensor, paint: Callable[[torch.Tensor], torch.Tensor], share: float
                     ) -> torch.Tensor:
    """The photo (1, 3, H, W) in [0, 1] with `share` of a half-size painting of it blended in, for a
    second, full-size pass (`StyleOptions.coarse_pass`).

    The decoder paints at the scale of VGG's relu4_1 window (~1/8 of a 512-px picture) and misses the
    painting's larger shapes (the Scream's sky bands, udnie's planes). Painted at half size, the same
    window covers twice as much of the picture; blended into the photo, those shapes and colours are
    what the full-size pass then paints over. On the benchmark pairs (docs/fast-mode.md) a share of
    0.2 took the style distance 7 % closer to the optimizer's at 4 % more content distance: a better
    trade than a heavier Gram weight in training gave."""
    height, width = content.shape[-2:]
    small = F.interpolate(content, size=(max(1, height // 2), max(1, width // 2)), mode="bilinear",
                          antialias=True, align_corners=False)
    coarse = F.interpolate(paint(small), size=(height, width), mode="bicubic", align_corners=False)
    return torch.lerp(content, coarse.clamp(0, 1).to(content.dtype), share)


def default_decoder_path() -> Path:
    """The decoder weights shipped inside the package (trained with `brushwork train-fast`)."""
    return Path(str(resources.files("brushwork.fast") / "weights" / DECODER_FILE))


def load_decoder(path: str | Path | None = None) -> Decoder:
    """A Decoder (fp32) with weights from `path` (default: the shipped fp16 file or a checkpoint)."""
    return read_decoder_file(path)[0]


def read_decoder_file(path: str | Path | None = None) -> tuple[Decoder, Ranges | None]:
    """The decoder in `path` (default: the shipped one) and its int8 activation ranges, if calibrated."""
    file = Path(path) if path is not None else default_decoder_path()
    if not file.is_file():
        raise WeightsError(f"fast-mode decoder weights '{file}' do not exist")
    try:
        payload = torch.load(file, map_location="cpu", weights_only=True)
        has_parts = isinstance(payload, dict) and "decoder" in payload
        state = payload["decoder"] if has_parts else payload
        decoder = Decoder(**decoder_shape(state))
        decoder.load_state_dict({k: v.float() for k, v in state.items()})
        ranges = payload.get("int8") if has_parts else None
    except Exception as error:  # a wrong or damaged file: one line, not a traceback
        first = (str(error).splitlines() or [type(error).__name__])[0]
        raise WeightsError(f"'{file}' is not a brushwork fast-mode decoder ({first})") from None
    return decoder.requires_grad_(False).eval(), ranges


def save_int8_ranges(decoder_file: str | Path, ranges: Ranges, target: str | Path) -> Path:
    """Write `decoder_file`'s contents plus the int8 activation ranges to `target` (atomically;
    `target` may be `decoder_file` itself: the weights are kept, only the ranges are added)."""
    payload = torch.load(decoder_file, map_location="cpu", weights_only=True)
    if not (isinstance(payload, dict) and "decoder" in payload):
        payload = {"decoder": payload}
    payload["int8"] = ranges
    target = Path(target)
    try:
        with atomic_write(target) as stream:
            torch.save(payload, stream)
    except (OSError, RuntimeError) as error:      # (torch reports a failed write as RuntimeError)
        raise InvalidInputError(f"cannot write '{target}' ({type(error).__name__})") from None
    return target


class FastStylizer:
    """Holds the style and transfer networks on one device/dtype, and a cache of style vectors."""

    def __init__(self, weights: VGGWeights, placement: Placement, decoder: str | Path | None = None,
                 cache_size: int = 64, *, loaded: tuple[Decoder, Ranges | None] | None = None) -> None:
        """`loaded`: `read_decoder_file(decoder)`'s result where the caller has it already (it is
        copied, so one read serves stylizers of several precisions)."""
        self.placement = placement
        trained, ranges = (copy.deepcopy(loaded[0]), loaded[1]) if loaded is not None else read_decoder_file(decoder)
        encoder = Encoder.for_levels(weights, trained.levels)
        if placement.dtype == torch.qint8:
            int8_encoder, int8_decoder = _int8_networks(encoder, trained, ranges, decoder)
            self.transfer_network = TransferNetwork(int8_encoder, int8_decoder)
            # The style pass in int8 too: in bf16 its statistics come out a little closer to fp32's
            # (the pictures then differ from fp32's by 3.9 instead of 5.5 levels on average), but the
            # benchmark scores are the same to 3 digits and a new painting costs ~0.1 s more.
            self.style_network = StyleNetwork(int8_encoder, trained.levels)
        else:
            self.transfer_network = place(TransferNetwork(encoder, trained, fold_adain=True), placement.device,
                                          placement.dtype)
            self.style_network = StyleNetwork(encoder, trained.levels)
        self._cache = LRUCache(cache_size)

    def style_vector(self, style: Image.Image, long_side: int, budget: int | None = None) -> torch.Tensor:
        """(1, N) statistics of one style image at `long_side` px; cached by image content. Within a
        memory `budget`, a painting too big for one pass is read in tiles (the same statistics)."""
        size = imaging.output_size(*style.size, max(16, long_side))
        key = (image_digest(style), size)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        tensor = imaging.to_tensor(imaging.resize(style, size))
        vector = None
        if budget is not None:
            network = self.style_network
            available = memory_left(budget, self.placement.device)
            vector = style_vector_tiled(network.encoder, network.levels, tensor, available, self._input)
        if vector is None:
            with torch.no_grad():
                vector = self.style_network(self._input(tensor)).float()
        return self._cache.put(key, vector.float())

    def clear_cache(self) -> None:
        """Forget the cached style vectors."""
        self._cache.clear()

    def blended_vector(self, styles: Sequence[Image.Image], blend: Sequence[float], long_side: int,
                       budget: int | None = None) -> torch.Tensor:
        """Weighted mean of the styles' vectors (AdaIN is linear in it, so this blends the styles)."""
        total = float(sum(blend))
        if total <= 0:
            raise InvalidInputError("style blend weights must not all be zero")
        vectors = [self.style_vector(s, long_side, budget) * (w / total) for s, w in zip(styles, blend)]
        return torch.stack(vectors).sum(0)

    def transfer(self, content: torch.Tensor, vector: torch.Tensor, strength: float, *, budget: int | None = None,
                 core: int | None = None, on_tile: Callable[[int, int], None] | None = None) -> torch.Tensor:
        """(1, 3, H, W) content in [0, 1] -> stylized (1, 3, H, W) on the CPU, fp32.

        With a memory `budget` (bytes, for the whole process) a picture whose pass would not fit runs
        in tiles, with the whole picture's statistics (`fast.tiled`); `core` forces tiles of that size,
        and `on_tile(done, total)` follows them (both passes)."""
        # full strength needs no blend with the photo's own statistics
        amount = None if strength >= 1 else torch.tensor([strength], device=self.placement.device)
        if core is None and budget is not None and min(content.shape[-2:]) > 2 * EDGE_MARGIN:
            core = self._tile_core(content, budget)
        if core is not None:
            with torch.no_grad():
                return transfer_tiled(self.transfer_network, content, vector.to(self.placement.device), amount, core,
                                      self._input, on_tile)
        padded, crop = frame(content)
        with torch.no_grad():
            out = self.transfer_network(self._input(padded), vector.to(self.placement.device), amount)
        return crop(out).cpu()

    def _tile_core(self, content: torch.Tensor, budget: int) -> int | None:
        """The tile core for a photo within `budget` (None: one pass fits): `fast_plan`'s, made
        with what the process holds now (`MemoryBudgetError` when not even one tile fits)."""
        height, width = content.shape[-2:]
        held = budget - memory_left(budget, self.placement.device)
        return fast_plan(self, width, height, budget, held).levels[0].core

    def _input(self, image: torch.Tensor) -> torch.Tensor:
        image = image.to(self.placement.device)
        if self.placement.device.type == "cpu":
            image = image.contiguous(memory_format=torch.channels_last)
        return image


def _cpu_float() -> torch.dtype:
    return torch.bfloat16 if cpu_has_fast_bf16() else torch.float32


def _int8_networks(encoder: Encoder, decoder: Decoder, ranges: Ranges | None,
                   path: str | Path | None) -> tuple[Int8Encoder, Int8Decoder]:
    if not ranges:
        name = path or default_decoder_path()
        raise WeightsError(f"fast-mode decoder '{name}' has no int8 calibration; run brushwork calibrate-fast on it "
                           "or use precision bf16/fp32")
    try:
        return Int8Encoder(encoder, ranges, decoder.levels), Int8Decoder(decoder, ranges, _cpu_float())
    except KeyError as error:
        raise WeightsError(f"the int8 calibration of '{path or default_decoder_path()}' does not fit its decoder "
                           f"({error.args[0]}); run brushwork calibrate-fast again") from None


#: The decoder learned from style statistics of painting crops at about 1-1.6x the crop size
#: (192-256 px crops), so fast mode reads the painting at 3/4 of the optimizer's size, and never
#: below 320 px, even for smaller outputs. On the four benchmark pairs at 512 px, 3/4 beats 1/2
#: (mean style distance 0.420 against 0.456, content 0.975 against 1.017: finer strokes, less
#: mottling) for ~0.06 s more per new painting (int8); at the full size style scored 7-13 % worse.
#: The floor: read at 128-256 px, paintings give style vectors unlike the training ones, and a
#: 128-px result scored 0.80 (style) where 320 px gives 0.53 (research/fast-mode-experiments.md).
FAST_STYLE_SCALE = 0.75
FAST_STYLE_MIN_SIDE = 320


def style_long_side(opts: StyleOptions, width: int, height: int) -> int:
    """Long side at which fast mode reads style images (see FAST_STYLE_SCALE)."""
    full = max(16, round(max(width, height) * opts.style_scale))       # the optimizer's size
    return max(FAST_STYLE_MIN_SIDE, round(full * FAST_STYLE_SCALE))
