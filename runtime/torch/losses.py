"""Losses (torch): flow losses, token losses, adversarial, VAE and spectral losses.

The composites of ``specc.runtime.composites.losses`` bound to ``specc.runtime.torch.ops``:
same names, signatures, defaults and error text as ``specc.runtime.reference.losses`` (the
oracle). Every loss returns a 0-d ``torch.Tensor``; the flow losses return ``(loss, mse)``
with a detached ``mse`` for logging. ``sg`` is ``Tensor.detach``; the JVP is
``torch.func.jvp``, whose primal output stays differentiable by ordinary autograd with
respect to the model's parameters. Fused attention has no forward-mode rule on CPU: attention
writes itself out when a tangent passes through it (runtime/torch/functions.py).
"""

from __future__ import annotations

from specc.runtime.composites import binder
from specc.runtime.composites import losses as composite
from specc.runtime.torch import ops

__all__ = [
    "REDUCTIONS",
    "combined_token_loss",
    "cross_entropy",
    "expected_codebook",
    "expected_codebook_grouped",
    "expected_scalar",
    "feature_matching_loss",
    "flow_matching_loss",
    "hinge_discriminator_loss",
    "hinge_generator_loss",
    "improved_mean_flow_loss",
    "jvp",
    "kl_divergence",
    "l1",
    "mean_flow_loss",
    "mse",
    "multi_resolution_stft_loss",
    "stft_magnitude",
    "weighted_l2",
]

_bind = binder(ops, __name__)

REDUCTIONS = composite.REDUCTIONS
weighted_l2 = _bind(composite.weighted_l2)
mse = _bind(composite.mse)
l1 = _bind(composite.l1)
jvp = _bind(composite.jvp)
flow_matching_loss = _bind(composite.flow_matching_loss)
mean_flow_loss = _bind(composite.mean_flow_loss)
improved_mean_flow_loss = _bind(composite.improved_mean_flow_loss)
cross_entropy = _bind(composite.cross_entropy)
expected_codebook = _bind(composite.expected_codebook)
expected_scalar = _bind(composite.expected_scalar)
expected_codebook_grouped = _bind(composite.expected_codebook_grouped)
combined_token_loss = _bind(composite.combined_token_loss)
hinge_discriminator_loss = _bind(composite.hinge_discriminator_loss)
hinge_generator_loss = _bind(composite.hinge_generator_loss)
feature_matching_loss = _bind(composite.feature_matching_loss)
kl_divergence = _bind(composite.kl_divergence)
stft_magnitude = _bind(composite.stft_magnitude)
multi_resolution_stft_loss = _bind(composite.multi_resolution_stft_loss)
