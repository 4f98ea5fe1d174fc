"""torch layers that own buffers: ``BatchNorm``, ``RunningStatistics`` and ``Buffer`` (formulas:
``specc.runtime.reference.statistics``).

Their buffers are ``register_buffer`` arrays: not parameters (no gradient, not in the
optimizer), in ``named_buffers``; they move only in training mode (``model.train()``).
"""

from __future__ import annotations

import torch
from specc.runtime import checks
from specc.runtime.init import layer_parameters
from torch import nn


def _create(module, kind, **arguments):
    for array in layer_parameters(kind, **arguments):
        if array.buffer:
            module.register_buffer(array.name, torch.zeros(array.shape))
        else:
            setattr(module, array.name, nn.Parameter(torch.zeros(array.shape)))


def _moments(x):
    axes = tuple(range(x.dim() - 1))
    mean = torch.mean(x, dim=axes)
    variance = torch.mean((x - mean) ** 2, dim=axes)
    return mean, variance, x[..., 0].numel()


def _move(buffer, new, momentum):
    with torch.no_grad():
        buffer.copy_((1 - momentum) * buffer + momentum * new.detach())


class BatchNorm(nn.Module):
    """Channels-last batch normalisation: the batch's mean and variance over every axis but
    the last in training (moving ``running_mean`` and ``running_var`` by ``momentum``), the
    running values after ``model.eval()``; then ``* weight + bias`` when affine."""

    def __init__(self, num_features, momentum=0.1, eps=1e-5, affine=True):
        super().__init__()
        self.num_features, self.momentum, self.eps = num_features, momentum, eps
        self.weight, self.bias = None, None
        _create(self, "BatchNorm", num_features=num_features, momentum=momentum, eps=eps, affine=affine)

    def forward(self, x):
        checks.check_channels("BatchNorm", tuple(x.shape), self.num_features)
        if self.training:
            mean, variance, count = _moments(x)
            _move(self.running_mean, mean, self.momentum)
            _move(self.running_var, variance * count / max(count - 1, 1), self.momentum)
        else:
            mean, variance = self.running_mean, self.running_var
        y = (x - mean) / torch.sqrt(variance + self.eps)
        return y if self.weight is None else y * self.weight + self.bias


class RunningStatistics(nn.Module):
    """The identity, tracking in training the mean and (biased) standard deviation of its
    input over every axis but the last in ``running_mean`` and ``running_std``."""

    def __init__(self, num_features, momentum=0.01):
        super().__init__()
        self.num_features, self.momentum = num_features, momentum
        _create(self, "RunningStatistics", num_features=num_features, momentum=momentum)

    def forward(self, x):
        checks.check_channels("RunningStatistics", tuple(x.shape), self.num_features)
        if self.training:
            mean, variance, _ = _moments(x)
            _move(self.running_mean, mean, self.momentum)
            _move(self.running_std, torch.sqrt(variance), self.momentum)
        return x


class Buffer(nn.Module):
    """A ``buffer(shape, init)`` of the graph language: ``b()`` reads the buffer; ``b(value)``
    (``update(b, value)``) stores ``value`` (no gradient) in training and returns it, and
    returns the stored value unchanged after ``model.eval()``. The buffer is replaced, not
    written in place, so a value read earlier in the step keeps its gradient graph."""

    def __init__(self, shape, init="zeros"):
        super().__init__()
        _create(self, "Buffer", shape=shape, init=init)

    def forward(self, value=None):
        if value is None or not self.training:
            return self.buffer
        checks.check_same_shape("Buffer", "buffer", tuple(self.buffer.shape), "value", tuple(value.shape))
        self.buffer = value.detach().to(self.buffer.dtype)
        return self.buffer
