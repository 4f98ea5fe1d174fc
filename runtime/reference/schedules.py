"""Learning-rate schedules: pure callables ``k -> lr`` (numpy reference, float64).

Update ``k`` is 0-indexed: the first optimizer update uses ``lr(0)``. The formulas are
written once in ``specc.runtime.composites.schedules`` against a small table of array
operations (``ScheduleMath``); this module binds them to numpy (``NUMPY_MATH``), the jax
and mlx runtimes to tables that work on traced / lazy step counters, and the torch runtime
evaluates the numpy ones to Python floats. The tests check these against the closed-form
formulas written out with ``math``.
"""

from __future__ import annotations

from specc.runtime.composites import binder
from specc.runtime.composites import schedules as composite

__all__ = ["constant", "exponential", "step", "warmup_cosine", "warmup_linear"]

NUMPY_MATH = composite.NUMPY_MATH
_bind = binder(NUMPY_MATH, __name__)

constant = _bind(composite.constant)
warmup_cosine = _bind(composite.warmup_cosine)
warmup_linear = _bind(composite.warmup_linear)
step = _bind(composite.step)
exponential = _bind(composite.exponential)
