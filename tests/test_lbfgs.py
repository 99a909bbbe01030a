"""brushwork.lbfgs: converges, sizes its first step, caps steps and undoes blow-ups."""

import torch

from brushwork.lbfgs import BACKTRACK, FIRST_STEP, MAX_STEP, LBFGSState, lbfgs_step


def _run(loss_fn, x: torch.Tensor, steps: int, state: LBFGSState) -> list[float]:
    losses = []
    for _ in range(steps):
        x.grad = None
        loss = loss_fn(x)
        loss.backward()
        losses.append(float(loss.detach()))
        lbfgs_step(x, float(loss.detach()), x.grad, state)
    return losses


def test_converges_on_an_ill_conditioned_quadratic():
    scales = torch.logspace(0, 3, 200)
    target = torch.rand(200, generator=torch.Generator().manual_seed(0))
    x = torch.zeros(200, requires_grad=True)
    losses = _run(lambda v: (scales * (v - target) ** 2).sum(), x, 120, LBFGSState(history=10))
    assert losses[-1] < 1e-6 * losses[0]
    assert torch.allclose(x.detach(), target, atol=0.02)


def test_first_step_moves_the_largest_pixel_by_first_step():
    x = torch.full((1, 3, 8, 8), 0.5, requires_grad=True)
    state = LBFGSState(history=5)
    _run(lambda v: 1e6 * (v ** 2).sum(), x, 1, state)  # a huge gradient: torch's 1/|g|_1 rule would barely move
    assert abs(float((x.detach() - 0.5).abs().max()) - FIRST_STEP) < 1e-6


def test_steps_are_capped_per_pixel():
    x = torch.zeros(50, requires_grad=True)
    state = LBFGSState(history=5)
    previous = x.detach().clone()
    for _ in range(6):  # a flat quadratic with a far minimum: L-BFGS wants huge steps
        _run(lambda v: 1e-3 * ((v - 100.0) ** 2).sum(), x, 1, state)
        assert float((x.detach() - previous).abs().max()) <= max(MAX_STEP, FIRST_STEP) + 1e-6
        previous = x.detach().clone()


def test_blow_up_is_undone_and_retried_shorter():
    state = LBFGSState(history=5)
    x = torch.zeros(4, requires_grad=True)
    accepted = x.detach().clone()
    lbfgs_step(x, 1.0, torch.ones(4), state)       # accepted point 0 with loss 1: moves downhill
    step = x.detach() - accepted
    lbfgs_step(x, 50.0, torch.ones(4), state)      # the new point's loss blew up: back off
    assert state.rejected == 1
    assert torch.allclose(x.detach(), accepted + BACKTRACK * step)
    lbfgs_step(x, float("nan"), torch.ones(4), state)  # NaN counts as a blow-up too
    assert state.rejected == 2 and torch.isfinite(x).all()


_PEAK_SCRIPT = """
import resource, sys, torch
from brushwork.lbfgs import LBFGSState, lbfgs_step
n, history = 16 * 2**20, int(sys.argv[1])          # 64 MB vectors: the allocator's slack is noise
target, pixels = torch.rand(n), torch.zeros(n)
state, start = LBFGSState(history), None
for _ in range(history + 3):                       # past a full history: pairs are replaced
    gradient = torch.sub(pixels, target).mul_(2.0)
    start = start or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    lbfgs_step(pixels, float(gradient @ gradient), gradient, state)
    del gradient
print(len(state.pairs), (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - start) * 1024 / (4 * n))
"""


def test_a_step_makes_no_vector_beyond_its_state_and_pairs():
    """What `planning.LEVEL_BUFFERS` counts: besides the pixels and their gradient, the pairs and
    three vectors (point, last gradient, step), at every step, a full history included."""
    import subprocess
    import sys

    for history in (1, 3):
        done = subprocess.run([sys.executable, "-c", _PEAK_SCRIPT, str(history)], capture_output=True, text=True,
                              check=True)
        pairs, extra = done.stdout.split()
        assert int(pairs) == history
        assert float(extra) < 2 * history + 3 + 0.5, f"history {history}: {extra} vectors over pixels and gradient"
