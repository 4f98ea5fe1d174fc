"""MLX layers that own buffers: ``BatchNorm``, ``RunningStatistics`` and ``Buffer`` (formulas:
``specc.runtime.reference.statistics``).

Their buffers are frozen arrays of the module: in ``parameters()`` (so saved and loaded with
the weights) but not in ``trainable_parameters()`` (no gradient, not in the optimizer). The
compiled training step takes and returns ``model.state``, so their updates survive it; they
move only in training mode (``model.train()``).
"""

from __future__ import annotations

import mlx.core as mx
from mlx import nn
from mlx.utils import tree_map_with_path
from specc.runtime import checks
from specc.runtime.init import layer_parameters
from specc.runtime.parameters import is_buffer


def _create(module, kind, **arguments):
    buffers = []
    for array in layer_parameters(kind, **arguments):
        setattr(module, array.name, mx.zeros(array.shape, dtype=mx.float32))
        if array.buffer:
            buffers.append(array.name)
    module.freeze(recurse=False, keys=buffers)


def with_current_buffers(tree, model):
    """``tree`` (a ``model.parameters()`` tree: saved master weights, an EMA) with each buffer
    replaced by the model's current value in ``tree``'s dtype: restoring the master weights
    after a bf16 forward pass, or averaging the weights, keeps the buffers' training-step
    updates instead of undoing them."""
    current = model.parameters()
    return tree_map_with_path(
        lambda path, kept, now: now.astype(kept.dtype) if is_buffer(path) else kept, tree, current
    )


def _moments(x):
    axes = list(range(x.ndim - 1))
    mean = mx.mean(x, axis=axes)
    variance = mx.mean((x - mean) ** 2, axis=axes)
    count = 1
    for size in x.shape[:-1]:
        count *= size
    return mean, variance, count


def _moved(old, new, momentum):
    return (1 - momentum) * old + momentum * mx.stop_gradient(new)


class BatchNorm(nn.Module):
    """Channels-last batch normalisation: the batch's mean and variance over every axis but
    the last in training (moving ``running_mean`` and ``running_var`` by ``momentum``), the
    running values after ``model.eval()``; then ``* weight + bias`` when affine."""

    def __init__(self, num_features, momentum=0.1, eps=1e-5, affine=True):
        super().__init__()
        self.num_features, self.momentum, self.eps = num_features, momentum, eps
        self.weight, self.bias = None, None
        _create(self, "BatchNorm", num_features=num_features, momentum=momentum, eps=eps, affine=affine)

    def __call__(self, x):
        checks.check_channels("BatchNorm", x.shape, self.num_features)
        if self.training:
            mean, variance, count = _moments(x)
            self.running_mean = _moved(self.running_mean, mean, self.momentum)
            self.running_var = _moved(self.running_var, variance * count / max(count - 1, 1), self.momentum)
        else:
            mean, variance = self.running_mean, self.running_var
        y = (x - mean) / mx.sqrt(variance + self.eps)
        return y if self.weight is None else y * self.weight + self.bias


class RunningStatistics(nn.Module):
    """The identity, tracking in training the mean and (biased) standard deviation of its
    input over every axis but the last in ``running_mean`` and ``running_std``."""

    def __init__(self, num_features, momentum=0.01):
        super().__init__()
        self.num_features, self.momentum = num_features, momentum
        _create(self, "RunningStatistics", num_features=num_features, momentum=momentum)

    def __call__(self, x):
        checks.check_channels("RunningStatistics", x.shape, self.num_features)
        if self.training:
            mean, variance, _ = _moments(x)
            self.running_mean = _moved(self.running_mean, mean, self.momentum)
            self.running_std = _moved(self.running_std, mx.sqrt(variance), self.momentum)
        return x


class Buffer(nn.Module):
    """A ``buffer(shape, init)`` of the graph language: ``b()`` reads the buffer; ``b(value)``
    (``update(b, value)``) stores ``value`` (no gradient) in training and returns it, and
    returns the stored value unchanged after ``model.eval()``."""

    def __init__(self, shape, init="zeros"):
        super().__init__()
        _create(self, "Buffer", shape=shape, init=init)

    def __call__(self, value=None):
        if value is None or not self.training:
            return self.buffer
        checks.check_same_shape("Buffer", "buffer", tuple(self.buffer.shape), "value", tuple(value.shape))
        self.buffer = mx.stop_gradient(value).astype(mx.float32)
        return self.buffer
