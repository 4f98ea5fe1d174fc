"""Learning-rate schedules for MLX: pure callables ``k -> lr`` on ``mx.array`` step counters.

``mlx.optimizers`` accept a callable learning rate and call it with the optimizer's
(unsigned) step counter before incrementing it, so update ``k`` is 0-indexed as everywhere.
The formulas of ``specc.runtime.composites.schedules`` evaluated with ``mlx.core`` in
float32; the counter is converted to float32 before any subtraction (an unsigned
``k - warmup`` would wrap around).
"""

from __future__ import annotations

import math

import mlx.core as mx
from specc.runtime.composites import binder
from specc.runtime.composites import schedules as composite

__all__ = ["constant", "exponential", "step", "warmup_cosine", "warmup_linear"]


def _integer(k):
    return k if isinstance(k, mx.array) else mx.array(k)


MLX_MATH = composite.ScheduleMath(
    integer=_integer,
    to_float=lambda k: k.astype(mx.float32),
    floor_divide=mx.floor_divide,
    where=mx.where,
    cos=mx.cos,
    minimum=mx.minimum,
    maximum=mx.maximum,
    # base ** k as exp(k * log(base)) with log(base) taken in float64 (see the jax runtime)
    power=lambda base, exponent: mx.exp(exponent * math.log(base)),
)
_bind = binder(MLX_MATH, __name__)

constant = _bind(composite.constant)
warmup_cosine = _bind(composite.warmup_cosine)
warmup_linear = _bind(composite.warmup_linear)
step = _bind(composite.step)
exponential = _bind(composite.exponential)
