"""Learning-rate schedules for MLX: pure callables ``k -> lr`` on ``mx.array`` step counters.

``mlx.optimizers`` accept a callable learning rate and call it with the optimizer's
(unsigned) step counter before incrementing it, so update ``k`` is 0-indexed as everywhere.
The formulas are the reference's, evaluated with ``mlx.core`` in float32; the counter is
converted to float32 before any subtraction (an unsigned ``k - warmup`` would wrap around).
"""

from __future__ import annotations

import math

import mlx.core as mx

from specc.runtime.reference import schedules as reference


def _integer(k):
    return k if isinstance(k, mx.array) else mx.array(k)


MLX_MATH = reference.ScheduleMath(
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


def constant(lr):
    """Constant learning rate: ``lr(k) = lr``."""
    return reference.build_constant(MLX_MATH, lr)


def warmup_cosine(peak, warmup, total, min_ratio=0.0):
    """Linear warmup then cosine decay (optax's ``warmup_cosine_decay_schedule``).

    ``k < warmup``: ``peak * k / warmup``; otherwise, with ``D = max(1, total - warmup)``
    and ``min = min_ratio * peak``: ``min + (peak - min) * 0.5 * (1 + cos(pi * min(k - warmup, D) / D))``.
    """
    return reference.build_warmup_cosine(MLX_MATH, peak, warmup, total, min_ratio)


def warmup_linear(peak, warmup, total):
    """Linear warmup then linear decay: ``peak * max(0, 1 - (k - warmup) / max(1, total - warmup))``."""
    return reference.build_warmup_linear(MLX_MATH, peak, warmup, total)


def step(initial, step_size, gamma=0.1):
    """Step decay: ``initial * gamma ** (k // step_size)`` (integer division on the counter)."""
    return reference.build_step(MLX_MATH, initial, step_size, gamma)


def exponential(initial, decay_rate):
    """Exponential decay: ``initial * decay_rate ** k``."""
    return reference.build_exponential(MLX_MATH, initial, decay_rate)
