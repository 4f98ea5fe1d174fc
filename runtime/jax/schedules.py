"""Learning-rate schedules for JAX: pure callables ``k -> lr`` that work on traced integer
step counters, so optax takes them directly (``optax.adamw(learning_rate=schedule)``).

The formulas of ``specc.runtime.composites.schedules`` evaluated with ``jax.numpy`` in
float32. Update ``k`` is 0-indexed, as optax counts.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
from specc.runtime.composites import binder
from specc.runtime.composites import schedules as composite

__all__ = ["constant", "exponential", "step", "warmup_cosine", "warmup_linear"]

JAX_MATH = composite.ScheduleMath(
    integer=lambda k: jnp.asarray(k),
    to_float=lambda k: jnp.asarray(k, dtype=jnp.float32),
    floor_divide=jnp.floor_divide,
    where=jnp.where,
    cos=jnp.cos,
    minimum=jnp.minimum,
    maximum=jnp.maximum,
    # base ** k as exp(k * log(base)) with log(base) taken in float64: a float32 base
    # would put a relative error of k * 6e-8 on the result
    power=lambda base, exponent: jnp.exp(exponent * math.log(base)),
)
_bind = binder(JAX_MATH, __name__)

constant = _bind(composite.constant)
warmup_cosine = _bind(composite.warmup_cosine)
warmup_linear = _bind(composite.warmup_linear)
step = _bind(composite.step)
exponential = _bind(composite.exponential)
