"""Evaluation metrics (mlx).

The composites of ``specc.runtime.composites.metrics`` bound to ``specc.runtime.mlx.ops``:
same names, signatures, defaults and error text as ``specc.runtime.reference.metrics``.
Every metric returns a 0-d ``mx.array`` (float32) so it can stay on the device;
``float(metric)`` turns it into a Python number. ``linear_assignment`` solves its matchings
with scipy on the host (not for ``mx.compile``).
"""

from __future__ import annotations

from specc.runtime.composites import binder
from specc.runtime.composites import metrics as composite
from specc.runtime.mlx import ops

__all__ = [
    "accuracy",
    "chamfer",
    "linear_assignment",
    "log_spectral_distance",
    "mae",
    "mse",
    "perplexity",
    "spectral_distribution_distance",
    "tokens",
]

_bind = binder(ops, __name__)

accuracy = _bind(composite.accuracy)
mse = _bind(composite.mse)
mae = _bind(composite.mae)
perplexity = _bind(composite.perplexity)
log_spectral_distance = _bind(composite.log_spectral_distance)
tokens = _bind(composite.tokens)
chamfer = _bind(composite.chamfer)
linear_assignment = _bind(composite.linear_assignment)
spectral_distribution_distance = _bind(composite.spectral_distribution_distance)
