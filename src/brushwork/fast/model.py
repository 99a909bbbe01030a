"""FastStylizer: the feed-forward mode behind `Stylizer(..., mode="fast")` and `stylize --fast`.

One call = one style-network pass per (uncached) style, one transfer-network pass. Colour
preservation, alpha and image handling are the optimization engine's own helpers, so both modes
treat inputs identically.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image

from .. import imaging
from ..cache import LRUCache
from ..device import Placement
from ..errors import InvalidInputError, WeightsError
from ..options import StyleOptions
from ..pipeline import image_digest
from ..weights import VGGWeights
from .network import Decoder, Encoder, StyleNetwork, TransferNetwork, pad_to_multiple

DECODER_FILE = "decoder-fp16.pt"


def default_decoder_path() -> Path:
    """The decoder weights shipped inside the package (trained with `brushwork train-fast`)."""
    return Path(str(resources.files("brushwork.fast") / "weights" / DECODER_FILE))


def load_decoder(path: str | Path | None = None) -> Decoder:
    """A Decoder (fp32) with weights from `path` (default: the shipped fp16 file or a checkpoint)."""
    file = Path(path) if path is not None else default_decoder_path()
    if not file.is_file():
        raise WeightsError(f"fast-mode decoder weights '{file}' do not exist")
    try:
        payload = torch.load(file, map_location="cpu", weights_only=True)
        state = payload["decoder"] if isinstance(payload, dict) and "decoder" in payload else payload
        decoder = Decoder()
        decoder.load_state_dict({k: v.float() for k, v in state.items()})
    except Exception as error:  # a wrong or damaged file: one line, not a traceback
        first = (str(error).splitlines() or [type(error).__name__])[0]
        raise WeightsError(f"'{file}' is not a brushwork fast-mode decoder ({first})") from None
    return decoder.requires_grad_(False).eval()


#: Mirrored border added around the photo and cut off again. VGG's zero padding makes the features
#: at the image's edges unlike any the decoder saw inside its training crops, and it drew streaks
#: there (flat skies showed a band of horizontal lines along the top); with the border those
#: edge effects fall outside the picture. Costs ~15 % more work at 512x384.
EDGE_MARGIN = 16


def add_margin(image: torch.Tensor, margin: int = EDGE_MARGIN) -> tuple[torch.Tensor, int]:
    """(B, 3, H, W) -> the image inside a mirrored border (as wide as the image allows), and its width."""
    margin = min(margin, image.shape[-2] - 1, image.shape[-1] - 1)
    if margin <= 0:
        return image, 0
    return F.pad(image, (margin, margin, margin, margin), mode="reflect"), margin


class FastStylizer:
    """Holds the style and transfer networks on one device/dtype, and a cache of style vectors."""

    def __init__(self, weights: VGGWeights, placement: Placement, decoder: str | Path | None = None,
                 cache_size: int = 64) -> None:
        self.placement = placement
        encoder = Encoder(weights)
        self.style_network = StyleNetwork(encoder)
        self.transfer_network = TransferNetwork(encoder, load_decoder(decoder))
        self.transfer_network.to(device=placement.device, dtype=placement.dtype)
        encoder.vgg.preprocess.float()
        if placement.device.type == "cpu":
            self.transfer_network.to(memory_format=torch.channels_last)
        self._cache = LRUCache(cache_size)

    def style_vector(self, style: Image.Image, long_side: int) -> torch.Tensor:
        """(1, 1024) statistics of one style image at `long_side` px; cached by image content."""
        size = imaging.output_size(*style.size, max(16, long_side))
        key = (image_digest(style), size)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        tensor = self._input(imaging.to_tensor(imaging.resize(style, size)))
        with torch.no_grad():
            vector = self.style_network(tensor).float()
        return self._cache.put(key, vector)

    def clear_cache(self) -> None:
        """Forget the cached style vectors."""
        self._cache.clear()

    def blended_vector(self, styles: Sequence[Image.Image], blend: Sequence[float], long_side: int) -> torch.Tensor:
        """Weighted mean of the styles' vectors (AdaIN is linear in it, so this blends the styles)."""
        total = float(sum(blend))
        if total <= 0:
            raise InvalidInputError("style blend weights must not all be zero")
        vectors = [self.style_vector(s, long_side) * (w / total) for s, w in zip(styles, blend)]
        return torch.stack(vectors).sum(0)

    def transfer(self, content: torch.Tensor, vector: torch.Tensor, strength: float) -> torch.Tensor:
        """(1, 3, H, W) content in [0, 1] -> stylized (1, 3, H, W) on the CPU, fp32."""
        framed, margin = add_margin(content)
        padded, (height, width) = pad_to_multiple(framed)
        # full strength needs no blend with the photo's own statistics: skip computing them
        amount = None if strength >= 1 else torch.tensor([strength], device=self.placement.device)
        with torch.no_grad():
            out = self.transfer_network(self._input(padded), vector.to(self.placement.device), amount)
        return out[..., margin:height - margin, margin:width - margin].cpu()

    def _input(self, image: torch.Tensor) -> torch.Tensor:
        image = image.to(self.placement.device)
        if self.placement.device.type == "cpu":
            image = image.contiguous(memory_format=torch.channels_last)
        return image


#: The decoder learned from style statistics of paintings shrunk to ~160-256 px (training crops),
#: so fast mode reads the painting at half the optimizer's size, but not below 256 px (or the
#: optimizer's size where that is smaller): closer to what the decoder was trained on. At 512 px
#: the style distance is 7-13 % lower on the benchmark pairs (content within 4 %) and the style
#: pass costs a quarter as much; at 128-256 px nothing changes (halving there loses the strokes).
FAST_STYLE_SCALE = 0.5
FAST_STYLE_MIN_SIDE = 256


def style_long_side(opts: StyleOptions, width: int, height: int) -> int:
    """Long side at which fast mode reads style images (see FAST_STYLE_SCALE)."""
    full = max(16, round(max(width, height) * opts.style_scale))       # the optimizer's size
    return max(min(FAST_STYLE_MIN_SIDE, full), round(full * FAST_STYLE_SCALE))
