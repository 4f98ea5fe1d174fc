"""Epoch-based intervals of the generated loops (``val_check_interval``, ``every_n_epochs``).

Steps are counted from 1; an epoch is ``steps_per_epoch`` steps. As in Lightning, a
fractional ``val_check_interval`` is counted within each epoch:

    every = max(1, floor(fraction * steps_per_epoch))
    due(step) = ((step - 1) mod steps_per_epoch + 1) mod every == 0

so ``1.0`` evaluates at the end of every epoch and ``0.5`` of a 7-step epoch after its
steps 3 and 6.
"""

from __future__ import annotations

import math


def fraction_steps(fraction: float, steps_per_epoch: int) -> int:
    """Steps between evaluations for ``val_check_interval = fraction``:
    ``max(1, floor(fraction * steps_per_epoch))``; ``ValueError`` outside ``(0, 1]``."""
    if not 0.0 < float(fraction) <= 1.0:
        raise ValueError(f"val_check_interval must be in (0, 1] (a fraction of an epoch), got {fraction!r}")
    return max(1, math.floor(float(fraction) * int(steps_per_epoch)))


def due_in_epoch(step: int, every: int, steps_per_epoch: int) -> bool:
    """Whether ``step`` (from 1) ends one of the ``every``-step intervals of its epoch."""
    position = (int(step) - 1) % max(1, int(steps_per_epoch)) + 1
    return position % max(1, int(every)) == 0
