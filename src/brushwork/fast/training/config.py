"""What a fast-mode training run is: its configuration (stored in every checkpoint, so a resume is
exact), the layers its losses read, and how it lays tensors out on the device."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..network import DECODER_WIDTHS, LOSS_LAYERS

GRAM_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")   # the optimizer's style layers
OBJECTIVES = ("adain", "gatys")
GATYS_CONTENT_LAYER = "relu4_2"                                          # the optimizer's content layer


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on; stored in every checkpoint so a resume is exact."""

    content_dir: str
    style_dir: str
    output_dir: str
    steps: int = 20000
    batch_size: int = 6
    crop: int = 256
    learning_rate: float = 5e-4
    lr_decay: float = 1e-4            # lr / (1 + decay * step), as in AdaIN
    content_weight: float = 1.0
    style_weight: float = 10.0
    identity_weight: float = 50.0     # pixel MSE of decoding the content's own features (0: off)
    gram_weight: float = 0.0          # relative Gram-matrix style loss over relu1_1..relu5_1 (0: off)
    objective: str = "adain"          # "adain" (AdaIN's losses) or "gatys" (the optimizer's; see above)
    skips: bool = False               # decoder with skip levels relu3_1..relu1_1 (network.Decoder)
    widths: tuple[int, ...] = DECODER_WIDTHS  # decoder widths, coarse to fine (network.Decoder)
    modulated: bool = False           # the style vector scales and shifts the decoder's channels (network.Decoder)
    coarse: bool = False              # the decoder also reads relu5_1 (network.Decoder; --init may lack it)
    perceptual_every: int = 1         # with identity on: steps between 2 are identity-only (cheap)
    clip_grad_norm: float | None = None  # clip the gradient's global norm to this before each step (None: off)
    init: str | None = None           # start from these decoder weights (a checkpoint or shipped file)
    style_crops: int = 8              # cached random crops per style image
    style_augment: bool = False       # recolour those crops (see augment_painting)
    style_whole: int | None = None    # targets from each whole painting at this long side instead of crops
    whole_share: float = 1.0          # with style_whole: the share of picks from it (below 1: crops for the rest)
    checkpoint_every: int = 100
    keep_checkpoints: bool = False    # also keep each checkpoint's decoder (checkpoint-STEP.pt) to score them
    ema: float = 0.0                  # decay of the weight average the written decoders hold (0: last weights)
    log_every: int = 10
    max_minutes: float | None = None
    device: str = "auto"
    precision: str = "auto"
    seed: int = 0


def loss_layers(config: TrainConfig) -> tuple[str, ...]:
    """What the max-pooling encoder must give for the losses (with objective "gatys": the vectors only)."""
    return GRAM_LAYERS if config.gram_weight and config.objective == "adain" else LOSS_LAYERS


def channels_last(x: torch.Tensor) -> torch.Tensor:
    """Channels-last: the fast layout for bf16 convolutions on both oneDNN (CPU) and cuDNN."""
    return x.contiguous(memory_format=torch.channels_last)


def autocast(device: torch.device, dtype: torch.dtype):
    """Mixed precision at `dtype` on `device` (off for fp32)."""
    enabled = dtype != torch.float32
    return torch.autocast(device.type, dtype=dtype, enabled=enabled)
