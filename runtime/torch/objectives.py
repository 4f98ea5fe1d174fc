"""Pieces of the generated Lightning scripts for the objectives whose step is not one loss
of one model (``language_model``, ``adversarial``).

- ``expected_value_term``: one expected-value term of a language model, the runtime loss its
  array and id ranges call for (``specc.runtime.composites.objectives`` bound to
  ``specc.runtime.torch.ops``);
- ``freeze_models``: ``train.freeze`` over a container of several models;
- ``gradient_norm``: the global norm logged before clipping;
- ``step_uncounted``: an optimizer step that Lightning does not count as a training step.
"""

from __future__ import annotations

import torch

from specc.runtime.composites import binder
from specc.runtime.composites import objectives as composite
from specc.runtime.torch import ops
from specc.runtime.torch.parameters import freeze_parameters
from specc.runtime.training.tree import under_prefix

__all__ = ["EXPECTED_VALUE_FUNCTIONS", "expected_value_term", "freeze_models", "gradient_norm", "step_uncounted"]

_bind = binder(ops, __name__)

EXPECTED_VALUE_FUNCTIONS = composite.EXPECTED_VALUE_FUNCTIONS
expected_value_term = _bind(composite.expected_value_term)


def gradient_norm(parameters) -> torch.Tensor:
    """``sqrt(sum ||g||^2)`` over the parameters that have a gradient (0 when none has), in
    float32: the norms of all gradients in one ``torch._foreach_norm`` call (what
    ``torch.nn.utils.clip_grad_norm_`` does), then the norm of those."""
    gradients = [p.grad.detach() for p in parameters if p.grad is not None]
    if not gradients:
        return torch.zeros(())
    norms = torch._foreach_norm(gradients, 2, dtype=torch.float32)  # fp16 squares overflow
    return torch.linalg.vector_norm(torch.stack(norms))


def step_uncounted(strategy, optimizer) -> None:
    """Step ``optimizer`` (a plain torch optimizer) through the strategy and its precision
    plugin without Lightning counting a training step: with two optimizers per batch
    (adversarial), ``global_step`` counts the generator's updates only."""
    strategy.optimizer_step(optimizer, closure=lambda: None)


def freeze_models(models: torch.nn.Module, prefixes) -> None:
    """``freeze_parameters`` for a container of several models (parameters named
    ``<model>.<name>``): a prefix names a parameter with or without its model
    (``vae.encoder`` or ``encoder``, which then matches in every model); ``ValueError`` when
    a prefix matches nothing either way."""
    names = [name for name, _ in models.named_parameters()]
    qualified = []
    for prefix in prefixes:
        if any(under_prefix(name, prefix) for name in names):
            qualified.append(prefix)
            continue
        local = sorted({name.partition(".")[0] + "." + prefix for name in names if under_prefix(name.partition(".")[2], prefix)})
        if not local:
            raise ValueError(f"freeze: no parameter name starts with {prefix!r}")
        qualified += local
    freeze_parameters(models, qualified)


