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

import torch.nn.functional as F

from specc.runtime import checks
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
_masked_cross_entropy = _bind(composite.cross_entropy)
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


def cross_entropy(logits, labels, ignore_index=None, label_smoothing=0.0):
    """The composite's cross-entropy (``specc.runtime.composites.losses.cross_entropy``: same
    value, signature and errors). Without an ignored label it is torch's fused
    ``F.cross_entropy`` over every position (one kernel forward and backward, no mask); with
    one (or no position at all), the composite's masked mean: no position left gives 0, where
    torch gives NaN."""
    if ignore_index is not None or labels.numel() == 0:
        return _masked_cross_entropy(logits, labels, ignore_index, label_smoothing)
    checks.check_same_shape("cross_entropy", "logits without the class axis", logits.shape[:-1], "labels", labels.shape)
    checks.check_fraction("cross_entropy", "label_smoothing", label_smoothing)
    logits = ops.at_least_float32(logits)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1).long(), label_smoothing=label_smoothing)
