"""What the generated PyTorch Lightning scripts do to a model's parameters by name or as
a whole: freezing by prefix, the EMA of the weights, the L2 penalty by prefix."""

from __future__ import annotations

import torch

from specc.runtime.training.tree import under_prefix


def freeze_parameters(model: torch.nn.Module, prefixes) -> None:
    """Stop training the parameters whose dotted name is a prefix or starts with
    ``prefix + "."`` (``encoder`` freezes ``encoder.x``, not ``encoder2.x``); ``ValueError``
    when a prefix matches no parameter. Frozen parameters get no gradient, so the optimizer
    leaves them (and their weight decay) alone."""
    names = [name for name, _ in model.named_parameters()]
    for prefix in prefixes:
        if not any(under_prefix(name, prefix) for name in names):
            raise ValueError(f"freeze: no parameter name starts with {prefix!r}")
    for name, parameter in model.named_parameters():
        if any(under_prefix(name, prefix) for prefix in prefixes):
            parameter.requires_grad_(False)


@torch.no_grad()
def ema_update(average: torch.nn.Module, current: torch.nn.Module, decay: float) -> None:
    """``e <- d * e + (1 - d) * p`` for every parameter, in place (after each step):
    ``average`` holds the EMA ``e``, ``current`` the trained model's parameters ``p``."""
    for averaged, parameter in zip(average.parameters(), current.parameters()):
        averaged.mul_(decay).add_(parameter.detach(), alpha=1.0 - decay)


def parameter_penalty(model: torch.nn.Module, penalties) -> torch.Tensor:
    """``sum_k weight_k * sum_{theta under prefix_k} theta^2`` (float32 scalar) over the
    model's dotted parameter names (``pe`` covers ``pe.weight``, not ``pe2``);
    ``penalties``: ``((prefix, weight), ...)``."""
    named = dict(model.named_parameters())
    total = torch.zeros((), dtype=torch.float32, device=next(iter(named.values())).device)
    for prefix, weight in penalties:
        for name in sorted(named):
            if under_prefix(name, prefix):
                total = total + float(weight) * named[name].float().square().sum()
    return total
