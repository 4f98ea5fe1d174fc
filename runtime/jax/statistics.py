"""JAX layers that own buffers: ``BatchNorm``, ``RunningStatistics`` and ``Buffer`` (formulas:
``specc.runtime.reference.statistics``).

Their buffers are ``nnx.BatchStat`` variables, not ``nnx.Param``: ``nnx.split(model,
nnx.Param, ...)`` puts them in the rest of the state, which the jitted training step carries
and returns (so gradients and optax see only the parameters); ``model.eval()`` sets
``use_running_average`` and the layers stop updating them.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx
from specc.runtime import checks
from specc.runtime.init import layer_parameters


def _create(module, kind, **arguments):
    for array in layer_parameters(kind, **arguments):
        kind_of = nnx.BatchStat if array.buffer else nnx.Param
        setattr(module, array.name, kind_of(jnp.zeros(array.shape, jnp.float32)))


def _moments(x):
    axes = tuple(range(x.ndim - 1))
    mean = jnp.mean(x, axis=axes)
    variance = jnp.mean((x - mean) ** 2, axis=axes)
    count = 1
    for size in x.shape[:-1]:
        count *= size
    return mean, variance, count


def _moved(old, new, momentum):
    return (1 - momentum) * old + momentum * jax.lax.stop_gradient(new)


class BatchNorm(nnx.Module):
    """Channels-last batch normalisation: the batch's mean and variance over every axis but
    the last in training (moving ``running_mean`` and ``running_var`` by ``momentum``), the
    running values after ``model.eval()``; then ``* weight + bias`` when affine."""

    def __init__(self, num_features, momentum=0.1, eps=1e-5, affine=True):
        self.num_features, self.momentum, self.eps = num_features, momentum, eps
        self.weight, self.bias = nnx.data(None), nnx.data(None)
        self.use_running_average = False
        _create(self, "BatchNorm", num_features=num_features, momentum=momentum, eps=eps, affine=affine)

    def __call__(self, x):
        checks.check_channels("BatchNorm", x.shape, self.num_features)
        if self.use_running_average:
            mean, variance = self.running_mean[...], self.running_var[...]
        else:
            mean, variance, count = _moments(x)
            unbiased = variance * count / max(count - 1, 1)
            self.running_mean[...] = _moved(self.running_mean[...], mean, self.momentum)
            self.running_var[...] = _moved(self.running_var[...], unbiased, self.momentum)
        y = (x - mean) / jnp.sqrt(variance + self.eps)
        return y if self.weight is None else y * self.weight[...] + self.bias[...]


class RunningStatistics(nnx.Module):
    """The identity, tracking in training the mean and (biased) standard deviation of its
    input over every axis but the last in ``running_mean`` and ``running_std``."""

    def __init__(self, num_features, momentum=0.01):
        self.num_features, self.momentum = num_features, momentum
        self.use_running_average = False
        _create(self, "RunningStatistics", num_features=num_features, momentum=momentum)

    def __call__(self, x):
        checks.check_channels("RunningStatistics", x.shape, self.num_features)
        if not self.use_running_average:
            mean, variance, _ = _moments(x)
            self.running_mean[...] = _moved(self.running_mean[...], mean, self.momentum)
            self.running_std[...] = _moved(self.running_std[...], jnp.sqrt(variance), self.momentum)
        return x


class Buffer(nnx.Module):
    """A ``buffer(shape, init)`` of the graph language: ``b()`` reads the buffer; ``b(value)``
    (``update(b, value)``) stores ``value`` (no gradient) in training and returns it, and
    returns the stored value unchanged after ``model.eval()``."""

    def __init__(self, shape, init="zeros"):
        self.use_running_average = False
        _create(self, "Buffer", shape=shape, init=init)

    def __call__(self, value=None):
        if value is None or self.use_running_average:
            return self.buffer[...]
        checks.check_same_shape("Buffer", "buffer", tuple(self.buffer[...].shape), "value", tuple(value.shape))
        self.buffer[...] = jax.lax.stop_gradient(value).astype(jnp.float32)
        return self.buffer[...]
