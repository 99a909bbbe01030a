"""StyleTransferModel: a Keras model that trains itself inside its call.

`model(content, style)` runs the whole optimization (epochs x steps_per_epoch steps, coarse to
fine) and returns the stylized image; `model.stylize(...)` returns a `StyleResult` like the
PyTorch `Stylizer`. Inputs, colour handling, the level plan, progress records and the output
image come from the same code as the PyTorch engine (`brushwork.engine`), so only the network,
the losses and the optimizer step are TensorFlow here.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
import torch
from PIL import Image

from .. import imaging, pipeline
from ..cache import LRUCache
from ..callbacks import Callback
from ..lbfgs import LBFGS_HISTORY
from ..options import DEFAULT_LEARNING_RATES
from ..pipeline import StyleResult
from ..errors import DeviceError
from ..imaging import ImageInput
from ..losses import blend_grams, normalized_weights
from ..options import StyleOptions, make_options
from ..schedule import Level, plan_levels
from ..weights import InputFormat, VGGWeights, load_vgg19_weights
from .optimizers import adam_state, adam_update, lbfgs_state, lbfgs_update
from .losses import content_loss, gram_matrix, style_loss, total_variation_loss
from .network import VGG19Features

Targets = dict[str, tf.Tensor]


class StyleTransferModel(keras.Model):
    """VGG-19 (loaded once) plus a cache of style targets; each call optimizes one image.

    Thread-safe for the style cache; TensorFlow runs the graphs of concurrent calls side by side.
    """

    def __init__(self, weights: str | Path | VGGWeights | None = None, options: StyleOptions | None = None, *,
                 weights_format: InputFormat | None = None, style_cache_size: int = 32,
                 name: str = "brushwork_style_transfer") -> None:
        super().__init__(name=name)
        loaded = weights if isinstance(weights, VGGWeights) else load_vgg19_weights(weights, weights_format)
        self.vgg = VGG19Features(loaded, name="vgg19")
        self.options = options or StyleOptions(backend="tensorflow")
        self._style_cache = LRUCache(style_cache_size)
        self._steps = LRUCache(16)  # compiled train steps, one per image size and loss/optimizer settings
        self.built = True  # nothing to build from input shapes: the weights are fixed

    # -- public ----------------------------------------------------------------------------------
    def __call__(self, content: Any, style: Any, *args: Any, **kwargs: Any) -> tf.Tensor:
        """Keras's call path for tensors; paths, bytes and PIL images (which Keras refuses) go straight in."""
        if all(isinstance(x, (tf.Tensor, tf.Variable, np.ndarray)) for x in (content, style)):
            return super().__call__(content, style, *args, **kwargs)
        return self.call(content, style, *args, **kwargs)

    def call(self, content: Any, style: Any, options: StyleOptions | None = None, *,
             callback: Callback | None = None, init_image: ImageInput | None = None) -> tf.Tensor:
        """Optimize an image with `content`'s content in `style`'s style; (1, H, W, 3) RGB in [0, 1]."""
        result = self.stylize(content, style, options, callback=callback, init_image=init_image)
        array = np.asarray(result.image.convert("RGB"), dtype=np.float32) / 255.0
        return tf.convert_to_tensor(array[None])

    def stylize(self, content: Any, style: Any, options: StyleOptions | None = None, *,
                callback: Callback | None = None, init_image: ImageInput | None = None,
                **overrides: Any) -> StyleResult:
        """Like `brushwork.Stylizer.__call__`: checked steps, returning image, history and timings."""
        # 1. check inputs
        base = options if options is not None else self.options
        opts = make_options(base, **overrides) if overrides else base
        styles = [_image_input(s) for s in pipeline.as_list(_listify(style))]
        pipeline.check_call(opts, styles, init_image)
        device, precision = _device(opts)
        started = time.perf_counter()
        # 2. prepare images (colour handling as in the PyTorch engine)
        inputs = pipeline.prepare(_image_input(content), styles, opts, init_image)
        height, width = inputs.content.shape[-2:]
        levels = plan_levels(width, height, opts.scales, opts.min_scale_size, opts.total_steps)
        run = _Run(opts, levels, callback, started, inputs.content_colour, opts.preserve_colour == "luminance")
        rng = np.random.default_rng(opts.seed)
        image: tf.Tensor | None = None
        with tf.device(device):
            for index, level in enumerate(levels):
                # 3. targets for this level (style targets cached across calls)
                content_here = _nhwc(pipeline.resized(inputs.content, level))
                content_targets = self._features(content_here, opts.content_layers, opts.pooling)
                style_targets = self._style_targets(inputs.styles, inputs.blend, level, opts)
                # 4. initialise, optimize, report
                image = _initial(image, content_here, inputs.init, opts, level, rng)
                image = self._optimize(image, content_targets, style_targets, opts, level.steps,
                                       lambda terms, img, i=index: run.report(i, terms, img))
        assert image is not None
        result = pipeline.finish(_nchw(image), inputs, opts)
        return StyleResult(image=result, options=opts, history=run.history, levels=levels,
                           seconds=time.perf_counter() - started, device=device, precision=precision)

    def clear_cache(self) -> None:
        """Forget the cached style Gram matrices."""
        self._style_cache.clear()

    def loss_terms(self, image: tf.Tensor, content_targets: Targets, style_targets: Targets,
                   opts: StyleOptions) -> dict[str, tf.Tensor]:
        """content, style, tv and weighted total for an image (1, H, W, 3), as in the PyTorch engine."""
        layer_weights = normalized_weights(opts.style_layers, opts.style_layer_weights)
        found = self.vgg(image, layers=(*opts.content_layers, *opts.style_layers), pooling=opts.pooling)
        content = tf.add_n([content_loss(found[n], content_targets[n]) for n in opts.content_layers])
        content = content / len(opts.content_layers)
        style = style_loss({n: gram_matrix(found[n]) for n in opts.style_layers}, style_targets, layer_weights)
        tv = total_variation_loss(image)
        total = opts.content_weight * content + opts.style_weight * style + opts.tv_weight * tv
        return {"content": content, "style": style, "tv": tv, "total": total}

    def targets(self, content: tf.Tensor, style: tf.Tensor, opts: StyleOptions) -> tuple[Targets, Targets]:
        """Content features and style Grams of (1, H, W, 3) images (for notebooks and cross-checks)."""
        found = self._features(style, opts.style_layers, opts.pooling)
        return (self._features(content, opts.content_layers, opts.pooling),
                {name: gram_matrix(value) for name, value in found.items()})

    # -- the steps of a call ----------------------------------------------------------------------
    def _features(self, image: tf.Tensor, layers: Sequence[str], pooling: str) -> Targets:
        return self.vgg(image, layers=tuple(layers), pooling=pooling)

    def _style_targets(self, styles: list[Image.Image], blend: list[float], level: Level,
                       opts: StyleOptions) -> Targets:
        grams = [self._style_grams(style, level, opts) for style in styles]
        return grams[0] if len(grams) == 1 else blend_grams(grams, blend)

    def _style_grams(self, style: Image.Image, level: Level, opts: StyleOptions) -> Targets:
        long_side = max(16, round(max(level.width, level.height) * opts.style_scale))
        size = imaging.output_size(*style.size, long_side)
        key = (pipeline.image_digest(style), size, opts.style_layers, opts.pooling)
        grams = self._style_cache.get(key)
        if grams is None:
            found = self._features(_array(imaging.resize(style, size)), opts.style_layers, opts.pooling)
            grams = self._style_cache.put(key, {name: gram_matrix(value) for name, value in found.items()})
        return grams

    def _optimize(self, image: tf.Tensor, content_targets: Targets, style_targets: Targets,
                  opts: StyleOptions, steps: int, report: Any) -> tf.Tensor:
        """`steps` optimizer steps on the pixels, each one call of a compiled graph."""
        variable = tf.Variable(image, trainable=True, name="image")
        state = adam_state(variable) if opts.optimizer == "adam" else lbfgs_state(variable, LBFGS_HISTORY)
        train_step = self._train_step(opts, tuple(image.shape))
        for _ in range(steps):
            terms = train_step(variable, content_targets, style_targets, state)
            report({name: float(value) for name, value in terms.items()}, variable)
        return tf.clip_by_value(tf.convert_to_tensor(variable), 0.0, 1.0)

    def _train_step(self, opts: StyleOptions, shape: tuple[int, ...]) -> Any:
        """The compiled step for these loss and optimizer settings and this image size, kept across calls.

        The size is part of the key because a traced graph holds a variable argument's shape fixed
        (TensorFlow does not retrace when only a variable's shape changes).
        """
        key = (shape, opts.optimizer, opts.learning_rate, opts.content_layers, opts.style_layers,
               opts.style_layer_weights, opts.content_weight, opts.style_weight, opts.tv_weight, opts.pooling)
        step = self._steps.get(key)
        return step if step is not None else self._steps.put(key, _make_train_step(self, opts))


def _make_train_step(model: StyleTransferModel, opts: StyleOptions) -> Any:
    """Forward, loss, gradient and optimizer update as one tf.function (the optimizer state is an argument)."""
    rate = opts.learning_rate or DEFAULT_LEARNING_RATES[opts.optimizer]

    @tf.function
    def train_step(variable: tf.Variable, content_targets: Targets, style_targets: Targets,
                   state: Any) -> dict[str, tf.Tensor]:
        with tf.GradientTape() as tape:
            terms = model.loss_terms(variable, content_targets, style_targets, opts)
        gradient = tape.gradient(terms["total"], variable)
        if opts.optimizer == "adam":
            adam_update(variable, gradient, state, rate)
            variable.assign(tf.clip_by_value(variable, 0.0, 1.0))  # small steps: keep pixels valid
        else:
            lbfgs_update(variable, terms["total"], gradient, state, rate)
        return terms

    return train_step


class _Run(pipeline.RunProgress):
    """The PyTorch engine's progress reporting; previews converted from channels-last TF tensors."""

    def _preview(self, image: Any) -> Image.Image:
        return super()._preview(_nchw(tf.convert_to_tensor(image)))


# -- small helpers --------------------------------------------------------------------------------
def _listify(style: Any) -> Any:
    return list(style) if isinstance(style, (list, tuple)) else style


def _image_input(value: Any) -> Any:
    """Accept TF tensors and (1, H, W, 3) batches as well as what `imaging.load_image` reads."""
    if isinstance(value, (tf.Tensor, tf.Variable)):
        value = value.numpy()
    if isinstance(value, np.ndarray) and value.ndim == 4 and value.shape[0] == 1:
        value = value[0]
    return value


def _device(opts: StyleOptions) -> tuple[str, str]:
    """(TensorFlow device name, precision) for the options; TensorFlow runs in fp32 here."""
    if opts.precision not in ("auto", "fp32"):
        raise DeviceError(f"the tensorflow backend runs in fp32 only, not {opts.precision}; "
                          "use precision auto or fp32")
    gpus = tf.config.list_logical_devices("GPU")
    base, _, index = opts.device.partition(":")
    if base == "mps":
        raise DeviceError("the tensorflow backend has no mps device; use cpu or cuda")
    if base == "cuda" or (base == "auto" and gpus):
        number = int(index or 0)
        if number >= len(gpus):
            raise DeviceError(f"device {opts.device!r} is not available to TensorFlow "
                              f"({len(gpus)} GPU(s) visible; tensorflow-cpu sees none)")
        return f"/GPU:{number}", "fp32"
    return "/CPU:0", "fp32"


def _cubic_matrix(size_out: int, size_in: int, a: float = -0.75) -> np.ndarray:
    """(out, in) weights of torch's bicubic resampling along one axis (align_corners=False, edges clamped)."""
    matrix = np.zeros((size_out, size_in), np.float64)
    for i in range(size_out):
        source = (i + 0.5) * size_in / size_out - 0.5
        start = int(np.floor(source))
        t = source - start
        for offset, x in zip(range(-1, 3), (1 + t, t, 1 - t, 2 - t)):
            weight = ((a * x - 5 * a) * x + 8 * a) * x - 4 * a if x > 1 else ((a + 2) * x - (a + 3)) * x * x + 1
            matrix[i, min(max(start + offset, 0), size_in - 1)] += weight
    return matrix.astype(np.float32)


def bicubic_resize(image: tf.Tensor, height: int, width: int) -> tf.Tensor:
    """(1, h, w, C) -> (1, height, width, C) exactly as torch's `F.interpolate(mode="bicubic")`.

    TensorFlow's own bicubic uses the Keys kernel with a = -0.5; torch (and so the PyTorch engine's
    coarse-to-fine step) uses a = -0.75. The same upsampling keeps the two engines' levels alike.
    """
    rows = tf.constant(_cubic_matrix(height, int(image.shape[1])))
    columns = tf.constant(_cubic_matrix(width, int(image.shape[2])))
    return tf.einsum("hH,bHWc,wW->bhwc", rows, image, columns)


def _array(image: Image.Image) -> tf.Tensor:
    """PIL RGB -> (1, H, W, 3) float32 in [0, 1]."""
    return tf.convert_to_tensor(np.asarray(image.convert("RGB"), dtype=np.float32)[None] / 255.0)


def _nhwc(tensor: torch.Tensor) -> tf.Tensor:
    """(1, 3, H, W) torch -> (1, H, W, 3) TensorFlow."""
    return tf.convert_to_tensor(tensor.detach().cpu().float().permute(0, 2, 3, 1).contiguous().numpy())


def _nchw(tensor: tf.Tensor) -> torch.Tensor:
    """(1, H, W, 3) TensorFlow -> (1, 3, H, W) torch."""
    return torch.from_numpy(np.ascontiguousarray(tensor.numpy())).permute(0, 3, 1, 2).contiguous()


def _initial(previous: tf.Tensor | None, content: tf.Tensor, init: torch.Tensor | None,
             opts: StyleOptions, level: Level, rng: np.random.Generator) -> tf.Tensor:
    """The first level starts from content, noise or the init image; later ones from the last result."""
    if previous is not None:
        detail = _nhwc(pipeline.content_detail(_nchw(content), tuple(previous.shape[1:3])))
        return tf.clip_by_value(bicubic_resize(previous, level.height, level.width) + detail, 0.0, 1.0)
    if opts.init == "noise":
        return tf.convert_to_tensor(rng.random(content.shape, dtype=np.float32))
    if opts.init == "image" and init is not None:
        return _nhwc(pipeline.resized(init, level))
    return tf.identity(content)
