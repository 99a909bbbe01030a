"""VGG-19 as a Keras feature extractor with the named layers of `brushwork.features`.

The weights are the ones `brushwork.weights.load_vgg19_weights()` reads, converted once from
PyTorch's OIHW layout to Keras's HWIO; inputs are RGB in [0, 1], channels-last (B, H, W, 3).
"""

from __future__ import annotations

from collections.abc import Iterable

import keras
import numpy as np
import tensorflow as tf

from ..features import CAFFE_MEAN_BGR, IMAGENET_MEAN_RGB, IMAGENET_STD_RGB, LAYER_NAMES
from ..weights import CONV_NAMES, VGGWeights


def keras_kernels(weights: VGGWeights) -> list[tuple[np.ndarray, np.ndarray]]:
    """(kernel HWIO, bias) float32 arrays for the sixteen convolutions."""
    return [(w.permute(2, 3, 1, 0).contiguous().numpy(), b.numpy()) for w, b in weights.convs]


class VGG19Features(keras.layers.Layer):
    """The convolutional part of VGG-19, frozen; a call runs only as deep as the deepest asked layer."""

    def __init__(self, weights: VGGWeights, **kwargs: object) -> None:
        super().__init__(trainable=False, **kwargs)
        self.input_format = weights.input_format
        self.convs: list[keras.layers.Conv2D] = []
        in_channels = 3
        for name, (kernel, bias) in zip(CONV_NAMES, keras_kernels(weights)):
            conv = keras.layers.Conv2D(kernel.shape[-1], 3, padding="same", name=name, trainable=False)
            conv.build((None, None, None, in_channels))
            conv.set_weights([kernel, bias])
            self.convs.append(conv)
            in_channels = kernel.shape[-1]
        self.built = True

    def preprocess(self, image: tf.Tensor) -> tf.Tensor:
        """RGB in [0, 1] -> the input convention the weights were trained with."""
        if self.input_format == "caffe":
            return image[..., ::-1] * 255.0 - tf.constant(CAFFE_MEAN_BGR)  # RGB -> BGR, 0-255, minus mean
        return (image - tf.constant(IMAGENET_MEAN_RGB)) / tf.constant(IMAGENET_STD_RGB)

    def call(self, image: tf.Tensor, layers: Iterable[str] = ("relu5_1",),
             pooling: str = "avg") -> dict[str, tf.Tensor]:
        """RGB image (B, H, W, 3) in [0, 1] -> {layer: features (B, h, w, C)} for the asked layers."""
        wanted = set(layers)
        unknown = wanted - set(LAYER_NAMES)
        if unknown:
            raise ValueError(f"unknown VGG-19 layer(s) {sorted(unknown)}")
        x = self.preprocess(image)
        found: dict[str, tf.Tensor] = {}
        conv_index = 0
        for name in LAYER_NAMES:
            if name.startswith("conv"):
                x = self.convs[conv_index](x)
                conv_index += 1
            elif name.startswith("relu"):
                x = tf.nn.relu(x)
            else:
                # VALID floors odd sizes, as torch does; a side already 1 px long stays 1 px (SAME)
                # instead of vanishing, as the torch network's ceil mode does for very thin images.
                known = [side for side in x.shape[1:3] if side is not None]
                padding = "SAME" if known and min(known) < 2 else "VALID"
                pool = tf.nn.max_pool2d if pooling == "max" else tf.nn.avg_pool2d
                x = pool(x, 2, 2, padding)
            if name in wanted:
                found[name] = x
                if len(found) == len(wanted):
                    break
        return found
