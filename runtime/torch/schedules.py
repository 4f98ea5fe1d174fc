"""Learning-rate schedules for PyTorch: pure callables ``k -> lr`` returning Python floats,
and ``lambda_lr`` to drive an optimizer with one through ``torch.optim.lr_scheduler.LambdaLR``.

``LambdaLR`` sets ``lr = base_lr * ratio(k)`` at construction (k = 0) and after each
``scheduler.step()``, so the first optimizer update uses ``lr(0)``: update ``k`` is
0-indexed, as on every backend. The formulas of ``specc.runtime.composites.schedules``
evaluated with numpy in float64 and returned as Python floats.
"""

from __future__ import annotations

import dataclasses

import torch
from specc.runtime import checks
from specc.runtime.composites import binder
from specc.runtime.composites import schedules as composite

__all__ = ["constant", "exponential", "lambda_lr", "step", "warmup_cosine", "warmup_linear"]

TORCH_MATH = dataclasses.replace(composite.NUMPY_MATH, finish=float)
_bind = binder(TORCH_MATH, __name__)

constant = _bind(composite.constant)
warmup_cosine = _bind(composite.warmup_cosine)
warmup_linear = _bind(composite.warmup_linear)
step = _bind(composite.step)
exponential = _bind(composite.exponential)


def lambda_lr(optimizer, schedule, base_lr):
    """Wrap ``schedule`` in a ``LambdaLR``: ``lr(k) = base_lr * (schedule(k) / base_lr)``.

    ``base_lr`` must equal the lr every parameter group of ``optimizer`` was built with
    (LambdaLR multiplies each group's initial lr by the ratio).
    """
    checks.check_positive("lambda_lr", "base_lr", base_lr)
    for group in optimizer.param_groups:
        group_lr = group.get("initial_lr", group["lr"])
        if abs(float(group_lr) - float(base_lr)) > 1e-12 * max(1.0, abs(float(base_lr))):
            raise ValueError(
                f"lambda_lr: base_lr = {base_lr} but an optimizer parameter group has lr = {group_lr}; "
                "they must be equal"
            )
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda k: schedule(k) / base_lr)
