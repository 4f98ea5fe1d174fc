"""Learning-rate schedules for PyTorch: pure callables ``k -> lr`` returning Python floats,
and ``lambda_lr`` to drive an optimizer with one through ``torch.optim.lr_scheduler.LambdaLR``.

``LambdaLR`` sets ``lr = base_lr * ratio(k)`` at construction (k = 0) and after each
``scheduler.step()``, so the first optimizer update uses ``lr(0)``: update ``k`` is
0-indexed, as on every backend. The formulas are the reference's, in float64.
"""

from __future__ import annotations

import torch

from specc.runtime import checks
from specc.runtime.reference import schedules as reference

TORCH_MATH = reference.ScheduleMath(
    **{
        **{name: getattr(reference.NUMPY_MATH, name) for name in reference.ScheduleMath.__dataclass_fields__},
        "finish": float,
    }
)


def constant(lr):
    """Constant learning rate: ``lr(k) = lr``."""
    return reference.build_constant(TORCH_MATH, lr)


def warmup_cosine(peak, warmup, total, min_ratio=0.0):
    """Linear warmup then cosine decay (optax's ``warmup_cosine_decay_schedule``).

    ``k < warmup``: ``peak * k / warmup``; otherwise, with ``D = max(1, total - warmup)``
    and ``min = min_ratio * peak``: ``min + (peak - min) * 0.5 * (1 + cos(pi * min(k - warmup, D) / D))``.
    """
    return reference.build_warmup_cosine(TORCH_MATH, peak, warmup, total, min_ratio)


def warmup_linear(peak, warmup, total):
    """Linear warmup then linear decay: ``peak * max(0, 1 - (k - warmup) / max(1, total - warmup))``."""
    return reference.build_warmup_linear(TORCH_MATH, peak, warmup, total)


def step(initial, step_size, gamma=0.1):
    """Step decay: ``initial * gamma ** (k // step_size)``."""
    return reference.build_step(TORCH_MATH, initial, step_size, gamma)


def exponential(initial, decay_rate):
    """Exponential decay: ``initial * decay_rate ** k``."""
    return reference.build_exponential(TORCH_MATH, initial, decay_rate)


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
