"""L-BFGS on the image's pixels, one loss evaluation per step, guarded against blow-ups.

Why not `torch.optim.LBFGS`: with one evaluation per step and no line search (a line search
costs 2-3 evaluations a step), its first step is scaled by 1/|g|_1 - on a large image that
moves pixels by ~1e-6, so the first curvature pair is gradient noise (bf16 most of all), and the
next quasi-Newton step can throw the loss up 30x (measured: 4.4 -> 123 at the start of a level).
This version differs in two ways, both cheap:

* The first step (and any step taken without curvature pairs) moves the largest pixel by
  `FIRST_STEP` (a few grey levels): big enough that the first pair measures curvature.
* A step that raises the loss by more than `GROWTH_LIMIT`x is undone: the point goes back to
  the last accepted one and the same direction is tried again at a tenth of the length (the
  rejected evaluation is the step's one evaluation; no pair is kept from it).

Everything else is the textbook method (Nocedal & Wright, Alg. 7.4): the two-loop recursion over
the newest `history` pairs, H0 = y.s / y.y, and a pair kept only when y.s > 0.
The TensorFlow engine runs the same algorithm (`brushwork.tf.optimizers`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

FIRST_STEP = 0.01          # largest pixel change of a step without curvature information
MAX_STEP = 0.25           # largest pixel change of any step (pixels are 0..1)
GROWTH_LIMIT = 2.0         # a loss this many times the last accepted one rejects the step
BACKTRACK = 0.1            # length of the retried step, relative to the rejected one
CURVATURE_EPS = 1e-10      # pairs with y.s at or below this are skipped
LBFGS_HISTORY = 50         # curvature pairs kept (a memory budget may keep fewer: `brushwork.planning`)


@dataclass
class LBFGSState:
    """What L-BFGS remembers between steps (flat fp32 vectors)."""

    history: int
    pairs: list[tuple[torch.Tensor, torch.Tensor, float]] = field(default_factory=list)  # (s, y, 1/y.s)
    h_diag: float = 1.0
    point: torch.Tensor | None = None      # last accepted point
    gradient: torch.Tensor | None = None   # its gradient
    loss: float = float("inf")             # its loss
    step: torch.Tensor | None = None       # the last move t*d taken from `point`
    rejected: int = 0                      # steps undone so far (for tests and diagnostics)


def lbfgs_step(pixels: torch.Tensor, loss: float, gradient: torch.Tensor, state: LBFGSState,
               lr: float = 1.0) -> None:
    """Move `pixels` (in place) from the point where `loss` and `gradient` were just evaluated.

    Memory: at print sizes each vector is 150 MB, so no vector is made that is not kept. Besides
    the pairs, the state holds three vectors (point, gradient, step) between steps; a new pair is
    made in the step's and the last gradient's buffers, and the pair it replaces gives its buffers
    to the new gradient and direction. A step's peak is the pairs and three vectors more than
    `pixels` and `gradient` (`planning.LEVEL_BUFFERS` counts them)."""
    x = pixels.detach().reshape(-1).float()
    g = gradient.detach().reshape(-1).float()
    if state.point is not None and state.step is not None and not loss <= GROWTH_LIMIT * state.loss:
        state.rejected += 1  # undo the blow-up (or NaN); retry the same direction, shorter
        state.step.mul_(BACKTRACK)
        _move_to(pixels, state.point, state.step)
        return
    spare: list[torch.Tensor] = []         # buffers free for this step's new vectors
    if state.point is not None and state.gradient is not None and state.step is not None:
        s = torch.sub(x, state.point, out=state.step)      # the move made, in the step's buffer
        y = state.gradient.neg_().add_(g)                   # the gradient's change, in the last gradient's
        state.step = state.gradient = None
        ys = float(y @ s)
        if ys > CURVATURE_EPS:
            if len(state.pairs) == state.history:
                spare.extend(state.pairs.pop(0)[:2])
            state.pairs.append((s, y, 1.0 / ys))
            state.h_diag = ys / float(y @ y)
        else:
            spare.extend((s, y))
        del s, y
    direction = two_loop(g, state.pairs, state.h_diag, out=spare.pop() if spare else None)
    if not state.pairs:
        length = FIRST_STEP / float(_largest(g).clamp_min(1e-12))
    else:
        length = min(lr, MAX_STEP / float(_largest(direction).clamp_min(1e-12)))
    if state.point is None:
        state.point = x.clone()
    else:
        state.point.copy_(x)
    state.gradient = spare.pop().copy_(g) if spare else g.clone()
    del spare
    state.loss = loss
    if float(g @ direction) >= 0:  # not a descent direction (flat or converged): stay put
        state.step = direction.zero_()
        return
    state.step = direction.mul_(length)
    _move_to(pixels, state.point, state.step)


def _largest(vector: torch.Tensor) -> torch.Tensor:
    """max |v|, without an |v| copy of the vector."""
    return torch.linalg.vector_norm(vector, float("inf"))


def two_loop(g: torch.Tensor, pairs: list[tuple[torch.Tensor, torch.Tensor, float]], h_diag: float,
             out: torch.Tensor | None = None) -> torch.Tensor:
    """-H g, with H the L-BFGS inverse-Hessian estimate from `pairs` (oldest first); in `out` if given."""
    q = torch.neg(g, out=out) if out is not None else g.neg()
    alphas = []
    for s, y, rho in reversed(pairs):
        alpha = rho * float(s @ q)
        q.sub_(y, alpha=alpha)
        alphas.append(alpha)
    r = q.mul_(h_diag if pairs else 1.0)
    for (s, y, rho), alpha in zip(pairs, reversed(alphas)):
        beta = rho * float(y @ r)
        r.add_(s, alpha=alpha - beta)
    return r


def _move_to(pixels: torch.Tensor, point: torch.Tensor, step: torch.Tensor) -> None:
    """pixels = point + step, without a temporary where the pixels are fp32 and contiguous."""
    with torch.no_grad():
        if pixels.dtype == torch.float32 and pixels.is_contiguous():
            torch.add(point, step, out=pixels.view(-1))
        else:
            pixels.copy_((point + step).reshape(pixels.shape).to(pixels.dtype))
