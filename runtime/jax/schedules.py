"""Learning-rate schedules for JAX: pure callables ``k -> lr`` that work on traced integer
step counters, so optax takes them directly (``optax.adamw(learning_rate=schedule)``).

The formulas are the reference's (``specc.runtime.reference.schedules``), evaluated with
``jax.numpy`` in float32. Update ``k`` is 0-indexed, as optax counts.
"""

from __future__ import annotations

import math

import jax.numpy as jnp

from specc.runtime.reference import schedules as reference

JAX_MATH = reference.ScheduleMath(
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


def constant(lr):
    """Constant learning rate: ``lr(k) = lr``."""
    return reference.build_constant(JAX_MATH, lr)


def warmup_cosine(peak, warmup, total, min_ratio=0.0):
    """Linear warmup then cosine decay (optax's ``warmup_cosine_decay_schedule``).

    ``k < warmup``: ``peak * k / warmup``; otherwise, with ``D = max(1, total - warmup)``
    and ``min = min_ratio * peak``: ``min + (peak - min) * 0.5 * (1 + cos(pi * min(k - warmup, D) / D))``.
    """
    return reference.build_warmup_cosine(JAX_MATH, peak, warmup, total, min_ratio)


def warmup_linear(peak, warmup, total):
    """Linear warmup then linear decay: ``peak * max(0, 1 - (k - warmup) / max(1, total - warmup))``."""
    return reference.build_warmup_linear(JAX_MATH, peak, warmup, total)


def step(initial, step_size, gamma=0.1):
    """Step decay: ``initial * gamma ** (k // step_size)`` (integer division on the counter)."""
    return reference.build_step(JAX_MATH, initial, step_size, gamma)


def exponential(initial, decay_rate):
    """Exponential decay: ``initial * decay_rate ** k``."""
    return reference.build_exponential(JAX_MATH, initial, decay_rate)
