"""The PyTorch engine's two optimizers, step for step, as state variables plus pure update functions.

State lives in `tf.Variable`s made outside any graph and passed to the compiled train step, whose
updates run inside it. Keeping the state out of Python objects lets one traced step serve every
call at the same image size (a server's repeated requests) instead of tracing anew each time.

* Adam: `torch.optim.Adam`'s update (bias-corrected, epsilon added to sqrt(v_hat)).
* L-BFGS: `torch.optim.LBFGS` with `max_iter=1`, no line search and zero tolerances, as the
  PyTorch engine calls it: one function evaluation per step, a fixed step size `lr` (the first
  step scaled by 1/|g|_1), the two-loop recursion over the last `history` (s, y) pairs, a pair
  kept only when y.s > 1e-10, and no move when the direction is not a descent direction.
"""

from __future__ import annotations

from typing import NamedTuple

import tensorflow as tf

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
    iterations: tf.Variable
    direction: tf.Variable          # (N,) last search direction d
    previous_gradient: tf.Variable  # (N,)
    step_size: tf.Variable          # last t
    h_diag: tf.Variable             # initial inverse-Hessian scale y.s / y.y


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
                      new(0), new(0), new(0), new(tf.zeros((size,))), new(tf.zeros((size,))), new(0.0), new(1.0))


def lbfgs_update(variable: tf.Variable, gradient: tf.Tensor, state: LBFGSState, lr: float) -> None:
    """One L-BFGS step from the gradient at the variable's current value (inside tf.function)."""
    g = tf.reshape(gradient, (-1,))
    if state.iterations > 0:
        _remember(state, g - state.previous_gradient, state.direction * state.step_size)
        direction = _two_loop(state, g)
        step_size = tf.constant(lr)
    else:
        direction = -g
        step_size = tf.minimum(1.0, 1.0 / tf.reduce_sum(tf.abs(g))) * lr
    state.previous_gradient.assign(g)
    state.direction.assign(direction)
    state.step_size.assign(step_size)
    state.iterations.assign_add(1)
    if tf.tensordot(g, direction, 1) <= 0.0:  # torch stops (no update) when d is not a descent direction
        variable.assign_add(tf.reshape(step_size * direction, tf.shape(variable)))


def _remember(state: LBFGSState, y: tf.Tensor, s: tf.Tensor) -> None:
    ys = tf.tensordot(y, s, 1)
    if ys > 1e-10:
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
