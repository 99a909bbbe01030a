"""L-BFGS for one image variable, step for step the algorithm of `torch.optim.LBFGS`.

The PyTorch engine calls torch's L-BFGS with `max_iter=1`, no line search and zero tolerances:
one function evaluation per step, a fixed step size `lr` (the first step scaled by 1/|g|_1),
the two-loop recursion over the last `history` (s, y) pairs, and a pair kept only when
y.s > 1e-10. This class does the same in TensorFlow, with the history in a ring buffer of
variables so that a whole step compiles into one `tf.function` graph.
"""

from __future__ import annotations

import tensorflow as tf


class LBFGS:
    """Curvature state for one variable; `apply(gradient)` moves the variable by one step."""

    def __init__(self, variable: tf.Variable, learning_rate: float = 1.0, history: int = 50) -> None:
        size = int(tf.size(variable))
        self.variable, self.lr, self.history = variable, float(learning_rate), history
        self.s = tf.Variable(tf.zeros((history, size)), trainable=False)   # steps, oldest..newest in a ring
        self.y = tf.Variable(tf.zeros((history, size)), trainable=False)   # gradient changes
        self.rho = tf.Variable(tf.zeros((history,)), trainable=False)      # 1 / (y . s)
        self.count = tf.Variable(0, trainable=False)                       # pairs held
        self.head = tf.Variable(0, trainable=False)                        # slot the next pair goes to
        self.iterations = tf.Variable(0, trainable=False)
        self.direction = tf.Variable(tf.zeros((size,)), trainable=False)
        self.previous_gradient = tf.Variable(tf.zeros((size,)), trainable=False)
        self.step_size = tf.Variable(0.0, trainable=False)
        self.h_diag = tf.Variable(1.0, trainable=False)

    def apply(self, gradient: tf.Tensor) -> None:
        """One L-BFGS step from the gradient at the variable's current value (call inside tf.function)."""
        g = tf.reshape(gradient, (-1,))
        if self.iterations > 0:
            self._remember(g - self.previous_gradient, self.direction * self.step_size)
            direction = self._two_loop(g)
            step_size = tf.constant(self.lr)
        else:
            direction = -g
            step_size = tf.minimum(1.0, 1.0 / tf.reduce_sum(tf.abs(g))) * self.lr
        self.previous_gradient.assign(g)
        self.direction.assign(direction)
        self.step_size.assign(step_size)
        self.iterations.assign_add(1)
        if tf.tensordot(g, direction, 1) <= 0.0:  # torch stops (no update) when d is not a descent direction
            self.variable.assign_add(tf.reshape(step_size * direction, tf.shape(self.variable)))

    def _remember(self, y: tf.Tensor, s: tf.Tensor) -> None:
        ys = tf.tensordot(y, s, 1)
        if ys > 1e-10:
            self.s[self.head].assign(s)
            self.y[self.head].assign(y)
            self.rho[self.head].assign(1.0 / ys)
            self.head.assign((self.head + 1) % self.history)
            self.count.assign(tf.minimum(self.count + 1, self.history))
            self.h_diag.assign(ys / tf.tensordot(y, y, 1))

    def _two_loop(self, g: tf.Tensor) -> tf.Tensor:
        """-H g by the two-loop recursion, newest pair first, then oldest first."""
        count, head, m = self.count, self.head, self.history
        alphas = tf.TensorArray(tf.float32, size=m, clear_after_read=False)
        q = -g
        for i in tf.range(count):
            slot = (head - 1 - i) % m
            alpha = tf.tensordot(tf.gather(self.s, slot), q, 1) * tf.gather(self.rho, slot)
            q = q - alpha * tf.gather(self.y, slot)
            alphas = alphas.write(slot, alpha)
        r = q * self.h_diag
        for i in tf.range(count):
            slot = (head - count + i) % m
            beta = tf.tensordot(tf.gather(self.y, slot), r, 1) * tf.gather(self.rho, slot)
            r = r + tf.gather(self.s, slot) * (alphas.read(slot) - beta)
        return r
