"""The loss terms of `brushwork.losses`, in TensorFlow and channels-last (B, H, W, C) layout.

Same definitions, so the two engines optimize the same objective (the tests check values and
gradients against the PyTorch functions): Gram matrices divided by H*W, relative squared errors
for content and style, total variation as the mean squared difference of neighbouring pixels.
"""

from __future__ import annotations

from collections.abc import Mapping

import tensorflow as tf


def gram_matrix(features: tf.Tensor) -> tf.Tensor:
    """Channel correlations, (B, H, W, C) -> (B, C, C), divided by H*W."""
    shape = tf.shape(features)
    flat = tf.reshape(features, (shape[0], shape[1] * shape[2], shape[3]))  # (B, HW, C)
    return tf.matmul(flat, flat, transpose_a=True) / tf.cast(shape[1] * shape[2], features.dtype)


def relative_squared_error(value: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
    """||value - target||^2 / ||target||^2, any matching shapes -> ()."""
    return tf.reduce_sum(tf.square(value - target)) / tf.maximum(tf.reduce_sum(tf.square(target)), 1e-12)


def content_loss(features: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
    """Feature reconstruction error at one layer, (B, H, W, C) x (B, H, W, C) -> ()."""
    return relative_squared_error(features, target)


def style_loss(grams: Mapping[str, tf.Tensor], targets: Mapping[str, tf.Tensor],
               layer_weights: Mapping[str, float]) -> tf.Tensor:
    """Weighted sum over layers of relative Gram errors, {layer: (B, C, C)} -> ()."""
    return tf.add_n([weight * relative_squared_error(grams[name], targets[name])
                     for name, weight in layer_weights.items()])


def total_variation_loss(image: tf.Tensor) -> tf.Tensor:
    """Mean squared difference of neighbouring pixels, (B, H, W, 3) -> (); 0 for a flat image."""
    dx = image[:, :, 1:, :] - image[:, :, :-1, :]
    dy = image[:, 1:, :, :] - image[:, :-1, :, :]
    return tf.reduce_mean(tf.square(dx)) + tf.reduce_mean(tf.square(dy))
