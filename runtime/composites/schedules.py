"""Learning-rate schedules written once: pure callables ``k -> lr`` over a ``ScheduleMath``.

Update ``k`` is 0-indexed: the first optimizer update uses ``lr(0)``. The formulas are
written against a small table of array operations (``ScheduleMath``) rather than the
backends' ``ops``: jax and mlx pass tables that work on traced / lazy step counters in
float32, the numpy reference evaluates them in float64 (``NUMPY_MATH``) and torch evaluates
the numpy ones to Python floats (``LambdaLR`` wants floats).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

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


WARMUP_FROM = ("one", "zero")


def _check_warmup(function: str, peak, warmup, total, warmup_from) -> None:
    checks.check_non_negative(function, "peak", peak)
    checks.check_non_negative(function, "warmup", warmup)
    checks.check_positive(function, "total", total)
    checks.check_choice(function, "warmup_from", warmup_from, WARMUP_FROM)


def _rising(peak, warmup, warmup_from, counter):
    """The warm-up's lr at update ``k`` (``counter``), for ``k < warmup``:

    - ``one`` (default; nanoGPT's ``lr * (it + 1) / (warmup + 1)``): ``peak * (k + 1) / (warmup + 1)``,
      so the first update runs at ``peak / (warmup + 1)``, never at 0;
    - ``zero`` (optax's ``warmup_cosine_decay_schedule``, ``LambdaLR(k / warmup)``):
      ``peak * k / warmup``, so the first update runs at lr 0.
    """
    if warmup_from == "one":
        return peak * (counter + 1.0) / (warmup + 1)
    return peak * counter / max(warmup, 1)


def constant(math_table: ScheduleMath, lr) -> Callable:
    """Constant learning rate: ``lr(k) = lr``."""
    checks.check_non_negative("constant", "lr", lr)

    def schedule(k):
        return math_table.finish(math_table.to_float(math_table.integer(k)) * 0.0 + lr)

    return schedule


def warmup_cosine(math_table: ScheduleMath, peak, warmup, total, min_ratio=0.0, warmup_from="one") -> Callable:
    """Linear warmup then cosine decay (nanoGPT's ``get_lr``; optax's
    ``warmup_cosine_decay_schedule`` with ``warmup_from = "zero"``).

    ``k < warmup``: ``peak * (k + 1) / (warmup + 1)`` (``warmup_from = "one"``) or
    ``peak * k / warmup`` (``"zero"``: starts at 0); otherwise, with
    ``D = max(1, total - warmup)`` and ``min = min_ratio * peak``:
    ``min + (peak - min) * 0.5 * (1 + cos(pi * min(k - warmup, D) / D))``.
    """
    _check_warmup("warmup_cosine", peak, warmup, total, warmup_from)
    checks.check_non_negative("warmup_cosine", "min_ratio", min_ratio)
    duration = max(1, total - warmup)
    minimum_lr = min_ratio * peak

    def schedule(k):
        counter = math_table.to_float(math_table.integer(k))
        rising = _rising(peak, warmup, warmup_from, counter)
        progress = math_table.minimum(math_table.maximum(counter - warmup, 0.0), duration) / duration
        falling = minimum_lr + (peak - minimum_lr) * 0.5 * (1.0 + math_table.cos(math.pi * progress))
        return math_table.finish(math_table.where(counter < warmup, rising, falling))

    return schedule


def warmup_linear(math_table: ScheduleMath, peak, warmup, total, warmup_from="one") -> Callable:
    """Linear warmup then linear decay to 0 at ``total``.

    ``k < warmup``: ``peak * (k + 1) / (warmup + 1)`` (``warmup_from = "one"``) or
    ``peak * k / warmup`` (``"zero"``); otherwise
    ``peak * max(0, 1 - (k - warmup) / D)`` with ``D = max(1, total - warmup)``.
    """
    _check_warmup("warmup_linear", peak, warmup, total, warmup_from)
    duration = max(1, total - warmup)

    def schedule(k):
        counter = math_table.to_float(math_table.integer(k))
        rising = _rising(peak, warmup, warmup_from, counter)
        falling = peak * math_table.maximum(1.0 - (counter - warmup) / duration, 0.0)
        return math_table.finish(math_table.where(counter < warmup, rising, falling))

    return schedule


def step(math_table: ScheduleMath, initial, step_size, gamma=0.1) -> Callable:
    """Step decay: ``initial * gamma ** (k // step_size)`` (integer division on the counter)."""
    checks.check_non_negative("step", "initial", initial)
    checks.check_positive("step", "step_size", step_size)
    checks.check_positive("step", "gamma", gamma)

    def schedule(k):
        drops = math_table.to_float(math_table.floor_divide(math_table.integer(k), step_size))
        return math_table.finish(initial * math_table.power(gamma, drops))

    return schedule


def exponential(math_table: ScheduleMath, initial, decay_rate) -> Callable:
    """Exponential decay: ``initial * decay_rate ** k``."""
    checks.check_non_negative("exponential", "initial", initial)
    checks.check_positive("exponential", "decay_rate", decay_rate)

    def schedule(k):
        counter = math_table.to_float(math_table.integer(k))
        return math_table.finish(initial * math_table.power(decay_rate, counter))

    return schedule
