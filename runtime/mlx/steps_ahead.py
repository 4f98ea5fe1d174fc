"""The MLX training loop one step ahead of the computation (``OneStepAhead``).

An MLX step is lazy: ``train_step(...)`` builds the step's graph and ``mx.eval`` computes it,
holding the loop until it is done. Between two steps the loop then does its Python work (the
next batch, the compiled call, the bookkeeping) while the CPU or GPU waits. ``OneStepAhead``
starts each step with ``mx.async_eval`` instead and only waits for the step *before* it, so
the loop prepares step k + 1 while step k runs and is never more than one step ahead (the
arrays of at most two steps are alive). The values are the same: only when they are computed
changes. Anything that reads a value (a log row's means, a checkpoint) waits for it as before.

On the digits MLP on this CPU it ran 446, 486 and 455 steps/s against 377, 431 and 378 with
``mx.eval`` after every step (docs/performance.md).
"""

from __future__ import annotations

import mlx.core as mx
from mlx.utils import tree_flatten


class OneStepAhead:
    """``submit(*trees)`` after each step: start computing the arrays of ``trees`` (the model,
    optimizer and running totals' state) and wait for those submitted the step before."""

    def __init__(self):
        self.pending: list[mx.array] = []

    def submit(self, *trees) -> None:
        arrays = [leaf for tree in trees for _, leaf in tree_flatten(tree)]
        mx.async_eval(arrays)
        mx.eval(self.pending)
        self.pending = arrays
