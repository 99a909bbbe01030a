"""StyleOptions: the one options object shared by the library, the CLI and the server.

Every default, bound and choice list lives here; front ends derive their flags and fields
from this model so they cannot drift apart.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import InvalidInputError

LayerName = str
Optimizer = Literal["lbfgs", "adam"]
Init = Literal["content", "noise", "image", "fast"]
Pooling = Literal["max", "avg"]
PreserveColour = Literal["none", "luminance", "histogram"]
Precision = Literal["auto", "fp32", "bf16", "fp16", "int8"]
Mode = Literal["optimize", "fast"]
Backend = Literal["torch", "tensorflow"]

DEFAULT_STYLE_LAYERS: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
DEFAULT_CONTENT_LAYERS: tuple[str, ...] = ("relu4_2",)
#: Step sizes when `learning_rate` is None (both engines).
DEFAULT_LEARNING_RATES = {"lbfgs": 1.0, "adam": 0.02}
#: The largest output long side (`size`, and the content's own size with size None): 8192 px is
#: 50 megapixels at 4:3, a print of 70 x 52 cm at 300 dpi.
MAX_SIZE = 8192


class StyleOptions(BaseModel):
    """How one style transfer runs. Immutable; make a changed copy with `.replace(**changes)`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # -- size and schedule ---------------------------------------------------------------
    size: int | None = Field(
        512, ge=16, le=MAX_SIZE,
        description=f"Long side of the output in pixels, at most {MAX_SIZE}; None keeps the content image's own size.")
    epochs: int = Field(5, ge=1, le=1000, description="Progress reports (and previews) per run.")
    steps_per_epoch: int = Field(
        25, ge=1, le=10000,
        description="Optimizer steps per epoch; epochs x steps_per_epoch steps in all, spread over the scales.")
    scales: int | None = Field(
        None, ge=1, le=8,
        description="Coarse-to-fine levels (Gatys et al. 2017): solve small, upsample, refine. "
                    "None (auto): one level per doubling from min_scale_size; 1 = single scale.")
    min_scale_size: int = Field(128, ge=32, le=4096,
                                description="Long side of the coarsest level in pixels.")

    # -- loss ------------------------------------------------------------------------------
    content_weight: float = Field(1.0, ge=0.0, le=1e6, description="Weight of the content loss.")
    style_weight: float = Field(10.0, ge=0.0, le=1e9, description="Weight of the style loss (style strength).")
    tv_weight: float = Field(1.0, ge=0.0, le=1e6, description="Weight of the total-variation (smoothness) loss.")
    content_layers: tuple[LayerName, ...] = Field(DEFAULT_CONTENT_LAYERS, min_length=1)
    style_layers: tuple[LayerName, ...] = Field(DEFAULT_STYLE_LAYERS, min_length=1)
    style_layer_weights: tuple[float, ...] | None = Field(
        None, description="One weight per style layer; None weighs them equally.")
    style_blend_weights: tuple[float, ...] | None = Field(
        None, description="One weight per style image; None weighs them equally.")
    style_scale: float = Field(1.0, gt=0.0, le=4.0,
                               description="Size of the style image relative to the output.")
    pooling: Pooling = Field("avg", description="Pooling in VGG-19: avg (Gatys et al.) or max.")

    # -- optimization -------------------------------------------------------------------------
    optimizer: Optimizer = Field("lbfgs", description="L-BFGS (best per step) or Adam.")
    learning_rate: float | None = Field(
        None, gt=0.0, le=100.0, description="Step size; None picks the optimizer's own default.")
    init: Init = Field("content", description="Start from the content image, noise, init_image, or fast mode's "
                                              "picture (fast: a good picture in fewer steps).")
    preserve_colour: PreserveColour = Field(
        "none", description="Keep the content's colours: luminance-only transfer or histogram matching.")
    seed: int | None = Field(0, ge=0, le=2**63 - 1, description="Random seed; None for a random run.")

    # -- execution -----------------------------------------------------------------------------
    device: str = Field("auto", description="auto, cpu, cuda, cuda:N or mps.")
    precision: Precision = Field(
        "auto", description="auto picks bf16/fp16 where the hardware is fast at it (fast mode: int8 on CPUs "
                            "with VNNI); int8 is for fast mode on the CPU only.")
    mode: Mode = Field("optimize", description="optimize (Gatys et al.) or fast (feed-forward).")
    backend: Backend = Field(
        "torch", description="Engine: torch, or tensorflow (needs the brushwork[tensorflow] extra).")
    style_strength: float = Field(
        1.0, ge=0.0, le=1.0,
        description="fast mode (and init 'fast'): how much style, 0 (the photo) to 1 (full style); "
                    "the optimizer uses style_weight.")
    coarse_pass: float = Field(
        0.0, ge=0.0, le=1.0,
        description="fast mode (and init 'fast'): paint a half-size picture first and blend this share of it "
                    "into the photo before the full-size pass: larger painted shapes, closer to the painting, "
                    "further from the photo, about a quarter more time (0.2: a little, 0.5: a lot; 0: one pass).")
    max_memory: int | None = Field(
        None, ge=64 * 2**20,
        description="Memory the run may use, in bytes or with a unit (3GB, 1500MB): levels that would not fit "
                    "run in tiles. None: 70 percent of the memory free now (RAM on the CPU, device "
                    "memory on a GPU).")
    preview_every: int = Field(0, ge=0, le=100000,
                               description="Attach a preview image to progress every N steps (0: never).")

    @field_validator("device")
    @classmethod
    def _check_device(cls, value: str) -> str:
        base, _, index = value.partition(":")
        if base not in {"auto", "cpu", "cuda", "mps"} or (index and (base != "cuda" or not index.isdigit())):
            raise ValueError(f"device must be auto, cpu, cuda, cuda:N or mps, not {value!r}")
        return value

    @field_validator("max_memory", mode="before")
    @classmethod
    def _parse_memory(cls, value: Any) -> Any:
        if value is None or isinstance(value, bool):
            return value
        from .memory import parse_size  # local: options stays importable without torch work

        try:
            return parse_size(value)
        except InvalidInputError as error:
            raise ValueError(str(error)) from None

    @field_validator("content_layers", "style_layers")
    @classmethod
    def _check_layers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from .features import LAYER_NAMES  # local: options must stay importable without torch work

        unknown = [name for name in value if name not in LAYER_NAMES]
        if unknown:
            raise ValueError(f"unknown VGG-19 layer(s) {', '.join(unknown)}; use names like relu4_2")
        return value

    @model_validator(mode="after")
    def _check_lengths(self) -> "StyleOptions":
        weights = self.style_layer_weights
        if weights is not None and len(weights) != len(self.style_layers):
            raise ValueError(
                f"style_layer_weights has {len(weights)} values for {len(self.style_layers)} style layers")
        if self.init == "fast" and self.backend != "torch":
            raise ValueError("init 'fast' starts from fast mode's picture, which the torch backend makes")
        if self.precision == "int8" and (self.mode != "fast" or self.backend != "torch"):
            raise ValueError("int8 is for fast mode (torch backend) only; the optimizer needs bf16 or fp32")
        for name in ("style_layer_weights", "style_blend_weights"):
            values = getattr(self, name)
            if values is not None and (any(v < 0 for v in values) or sum(values) <= 0):
                raise ValueError(f"{name} must be non-negative and not all zero")
        return self

    @property
    def total_steps(self) -> int:
        return self.epochs * self.steps_per_epoch

    def replace(self, **changes: Any) -> "StyleOptions":
        """A validated copy with some fields changed."""
        return make_options(self, **changes)


def make_options(base: StyleOptions | None = None, **changes: Any) -> StyleOptions:
    """Build StyleOptions from keyword arguments, turning validation failures into one clear line."""
    data = base.model_dump() if base is not None else {}
    data.update({k: v for k, v in changes.items()})
    try:
        return StyleOptions(**data)
    except ValidationError as error:
        raise InvalidInputError(describe_validation_error(error)) from None


def describe_validation_error(error: ValidationError) -> str:
    """One line naming each bad field and what was wrong with it."""
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "options"
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown option"
        parts.append(f"{where}: {message}")
    return "; ".join(parts)
