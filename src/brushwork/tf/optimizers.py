"""The PyTorch engine's two optimizers, step for step, as state variables plus pure update functions.

State lives in `tf.Variable`s made outside any graph and passed to the compiled train step, whose
updates run inside it. Keeping the state out of Python objects lets one traced step serve every
call at the same image size (a server's repeated requests) instead of tracing anew each time.

* Adam: `torch.optim.Adam`'s update (bias-corrected, epsilon added to sqrt(v_hat)).
* L-BFGS: `brushwork.lbfgs` (one evaluation per step, a sized first step, steps capped at
  MAX_STEP per pixel, blow-ups undone and retried shorter), the same constants and branches.
"""

from __future__ import annotations

from typing import NamedTuple

import tensorflow as tf

from ..lbfgs import BACKTRACK, CURVATURE_EPS, FIRST_STEP, GROWTH_LIMIT, MAX_STEP

ADAM_BETAS = (0.9, 0.999)
ADAM_EPSILON = 1e-8


class AdamState(NamedTuple):
    m: tf.Variable         # first moment, like the image
    v: tf.Variable         # second moment
    step: tf.Variable      # steps taken (float, for the bias corrections)


class LBFGSState(NamedTuple):
    s: tf.Variable                  # (history, N) steps, in a ring
    y: tf.Variable                  # (history, N) gradient changes
    rho: tf.Variable                # (history,) 1 / (y . s)
    count: tf.Variable              # pairs held
    head: tf.Variable               # ring slot the next pair goes to
    iterations: tf.Variable         # accepted points so far
    point: tf.Variable              # (N,) last accepted point
    gradient: tf.Variable           # (N,) its gradient
    loss: tf.Variable               # its loss
    step: tf.Variable               # (N,) the last move taken from `point`
    h_diag: tf.Variable             # initial inverse-Hessian scale y.s / y.y
    rejected: tf.Variable           # steps undone so far


def adam_state(variable: tf.Variable) -> AdamState:
    zeros = tf.zeros_like(variable)
    return AdamState(tf.Variable(zeros, trainable=False), tf.Variable(zeros, trainable=False),
                     tf.Variable(0.0, trainable=False))


def adam_update(variable: tf.Variable, gradient: tf.Tensor, state: AdamState, lr: float) -> None:
    """One Adam step (inside tf.function)."""
    beta1, beta2 = ADAM_BETAS
    state.step.assign_add(1.0)
    state.m.assign(beta1 * state.m + (1.0 - beta1) * gradient)
    state.v.assign(beta2 * state.v + (1.0 - beta2) * tf.square(gradient))
    correction1 = 1.0 - tf.pow(beta1, state.step)
    correction2 = 1.0 - tf.pow(beta2, state.step)
    denominator = tf.sqrt(state.v) / tf.sqrt(correction2) + ADAM_EPSILON
    variable.assign_sub(lr / correction1 * state.m / denominator)


def lbfgs_state(variable: tf.Variable, history: int = 50) -> LBFGSState:
    size = int(tf.size(variable))

    def new(value: tf.Tensor) -> tf.Variable:
        return tf.Variable(value, trainable=False)

    return LBFGSState(new(tf.zeros((history, size))), new(tf.zeros((history, size))), new(tf.zeros((history,))),
                      new(0), new(0), new(0), new(tf.zeros((size,))), new(tf.zeros((size,))), new(0.0),
                      new(tf.zeros((size,))), new(1.0), new(0))


def lbfgs_update(variable: tf.Variable, loss: tf.Tensor, gradient: tf.Tensor, state: LBFGSState,
                 lr: float) -> None:
    """One L-BFGS step from the loss and gradient at the variable's current value (inside tf.function)."""
    x = tf.reshape(variable, (-1,))
    g = tf.reshape(gradient, (-1,))
    if state.iterations > 0 and not loss <= GROWTH_LIMIT * state.loss:
        state.rejected.assign_add(1)  # undo the blow-up (or NaN); retry the same direction, shorter
        state.step.assign(state.step * BACKTRACK)
        variable.assign(tf.reshape(state.point + state.step, tf.shape(variable)))
    else:
        if state.iterations > 0:
            _remember(state, g - state.gradient, x - state.point)
        direction = _two_loop(state, g)
        if state.count == 0:
            length = FIRST_STEP / tf.maximum(tf.reduce_max(tf.abs(g)), 1e-12)
        else:
            length = tf.minimum(lr, MAX_STEP / tf.maximum(tf.reduce_max(tf.abs(direction)), 1e-12))
        state.point.assign(x)
        state.gradient.assign(g)
        state.loss.assign(loss)
        state.iterations.assign_add(1)
        if tf.tensordot(g, direction, 1) < 0.0:
            state.step.assign(length * direction)
        else:  # not a descent direction (flat or converged): stay put
            state.step.assign(tf.zeros_like(x))
        variable.assign(tf.reshape(x + state.step, tf.shape(variable)))


def _remember(state: LBFGSState, y: tf.Tensor, s: tf.Tensor) -> None:
    ys = tf.tensordot(y, s, 1)
    if ys > CURVATURE_EPS:
        history = tf.shape(state.rho)[0]
        state.s[state.head].assign(s)
        state.y[state.head].assign(y)
        state.rho[state.head].assign(1.0 / ys)
        state.head.assign((state.head + 1) % history)
        state.count.assign(tf.minimum(state.count + 1, history))
        state.h_diag.assign(ys / tf.tensordot(y, y, 1))


def _two_loop(state: LBFGSState, g: tf.Tensor) -> tf.Tensor:
    """-H g by the two-loop recursion: newest pair first, then oldest first."""
    count, head, history = state.count, state.head, tf.shape(state.rho)[0]
    alphas = tf.TensorArray(tf.float32, size=history, clear_after_read=False)
    q = -g
    for i in tf.range(count):
        slot = (head - 1 - i) % history
        alpha = tf.tensordot(tf.gather(state.s, slot), q, 1) * tf.gather(state.rho, slot)
        q = q - alpha * tf.gather(state.y, slot)
        alphas = alphas.write(slot, alpha)
    r = q * state.h_diag
    for i in tf.range(count):
        slot = (head - count + i) % history
        beta = tf.tensordot(tf.gather(state.y, slot), r, 1) * tf.gather(state.rho, slot)
        r = r + tf.gather(state.s, slot) * (alphas.read(slot) - beta)
    return r
