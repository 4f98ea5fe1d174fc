"""Pieces of the generated JAX scripts for the objectives whose step is not one loss of one
model: ``expected_value_term``, one expected-value term of a language model (the composite
of ``specc.runtime.composites.objectives`` bound to ``specc.runtime.jax.ops``).

The JAX scripts write their adversarial step out in full; the torch and mlx modules of the
same name also hold the pieces their adversarial steps need.
"""

from __future__ import annotations

from specc.runtime.composites import binder
from specc.runtime.composites import objectives as composite
from specc.runtime.jax import ops

__all__ = ["EXPECTED_VALUE_FUNCTIONS", "expected_value_term"]

_bind = binder(ops, __name__)

EXPECTED_VALUE_FUNCTIONS = composite.EXPECTED_VALUE_FUNCTIONS
expected_value_term = _bind(composite.expected_value_term)
