"""Learning-rate schedules: pure callables ``k -> lr`` (numpy reference).

Update ``k`` is 0-indexed: the first optimizer update uses ``lr(0)``. The formulas are
written once, here, against a small table of array operations (``ScheduleMath``); the jax
and mlx runtimes pass their own table so their schedules work on traced / lazy step
counters, and the torch runtime evaluates these numpy ones to Python floats.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from specc.runtime import checks


@dataclass(frozen=True)
class ScheduleMath:
    """The array operations a schedule needs, for one backend."""

    integer: Callable  # step counter -> integer array
    to_float: Callable  # integer array -> float array
    floor_divide: Callable
    where: Callable
    cos: Callable
    minimum: Callable
    maximum: Callable
    power: Callable  # (python float base, float array exponent) -> array
    finish: Callable = lambda value: value  # final conversion (e.g. 0-d array -> scalar)


NUMPY_MATH = ScheduleMath(
    integer=lambda k: np.asarray(k, dtype=np.int64),
    to_float=lambda k: np.asarray(k, dtype=np.float64),
    floor_divide=np.floor_divide,
    where=np.where,
    cos=np.cos,
    minimum=np.minimum,
    maximum=np.maximum,
    power=lambda base, exponent: np.power(np.float64(base), exponent),
    finish=lambda value: value[()] if np.ndim(value) == 0 else value,
)


def _check_warmup(function: str, peak, warmup, total) -> None:
    checks.check_non_negative(function, "peak", peak)
    checks.check_non_negative(function, "warmup", warmup)
    checks.check_positive(function, "total", total)


def build_constant(math_table: ScheduleMath, lr: float) -> Callable:
    """``lr(k) = lr``."""
    checks.check_non_negative("constant", "lr", lr)

    def schedule(k):
        return math_table.finish(math_table.to_float(math_table.integer(k)) * 0.0 + lr)

    return schedule


def build_warmup_cosine(math_table: ScheduleMath, peak, warmup, total, min_ratio=0.0) -> Callable:
    """See :func:`warmup_cosine`."""
    _check_warmup("warmup_cosine", peak, warmup, total)
    checks.check_non_negative("warmup_cosine", "min_ratio", min_ratio)
    duration = max(1, total - warmup)
    minimum_lr = min_ratio * peak

    def schedule(k):
        step = math_table.to_float(math_table.integer(k))
        rising = peak * step / max(warmup, 1)
        progress = math_table.minimum(math_table.maximum(step - warmup, 0.0), duration) / duration
        falling = minimum_lr + (peak - minimum_lr) * 0.5 * (1.0 + math_table.cos(math.pi * progress))
        return math_table.finish(math_table.where(step < warmup, rising, falling))

    return schedule


def build_warmup_linear(math_table: ScheduleMath, peak, warmup, total) -> Callable:
    """See :func:`warmup_linear`."""
    _check_warmup("warmup_linear", peak, warmup, total)
    duration = max(1, total - warmup)

    def schedule(k):
        step = math_table.to_float(math_table.integer(k))
        rising = peak * step / max(warmup, 1)
        falling = peak * math_table.maximum(1.0 - (step - warmup) / duration, 0.0)
        return math_table.finish(math_table.where(step < warmup, rising, falling))

    return schedule


def build_step(math_table: ScheduleMath, initial, step_size, gamma=0.1) -> Callable:
    """See :func:`step`."""
    checks.check_non_negative("step", "initial", initial)
    checks.check_positive("step", "step_size", step_size)
    checks.check_positive("step", "gamma", gamma)

    def schedule(k):
        drops = math_table.to_float(math_table.floor_divide(math_table.integer(k), step_size))
        return math_table.finish(initial * math_table.power(gamma, drops))

    return schedule


def build_exponential(math_table: ScheduleMath, initial, decay_rate) -> Callable:
    """See :func:`exponential`."""
    checks.check_non_negative("exponential", "initial", initial)
    checks.check_positive("exponential", "decay_rate", decay_rate)

    def schedule(k):
        step = math_table.to_float(math_table.integer(k))
        return math_table.finish(initial * math_table.power(decay_rate, step))

    return schedule


def constant(lr):
    """Constant learning rate: ``lr(k) = lr``."""
    return build_constant(NUMPY_MATH, lr)


def warmup_cosine(peak, warmup, total, min_ratio=0.0):
    """Linear warmup then cosine decay (optax's ``warmup_cosine_decay_schedule``).

    ``k < warmup``: ``peak * k / warmup`` (starts at 0); otherwise, with
    ``D = max(1, total - warmup)`` and ``min = min_ratio * peak``:
    ``min + (peak - min) * 0.5 * (1 + cos(pi * min(k - warmup, D) / D))``.
    """
    return build_warmup_cosine(NUMPY_MATH, peak, warmup, total, min_ratio)


def warmup_linear(peak, warmup, total):
    """Linear warmup then linear decay to 0 at ``total``.

    ``k < warmup``: ``peak * k / warmup``; otherwise
    ``peak * max(0, 1 - (k - warmup) / D)`` with ``D = max(1, total - warmup)``.
    """
    return build_warmup_linear(NUMPY_MATH, peak, warmup, total)


def step(initial, step_size, gamma=0.1):
    """Step decay: ``initial * gamma ** (k // step_size)``."""
    return build_step(NUMPY_MATH, initial, step_size, gamma)


def exponential(initial, decay_rate):
    """Exponential decay: ``initial * decay_rate ** k``."""
    return build_exponential(NUMPY_MATH, initial, decay_rate)
