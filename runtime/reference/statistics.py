"""Numpy reference of the layers that own buffers (``BatchNorm``, ``RunningStatistics``,
``Buffer``): the oracle the jax, torch and mlx classes match.

Layout is channels-last: the statistics of channel ``c`` are over every axis but the last.
Each function returns the output and the new buffers: in training the buffers move towards
the batch's statistics by ``momentum`` (``new = (1 - momentum) * old + momentum * batch``,
torch's convention); in evaluation they are returned unchanged.
"""

from __future__ import annotations

import numpy as np


def _moments(x):
    axes = tuple(range(x.ndim - 1))
    mean = np.mean(x, axis=axes)
    variance = np.mean((x - mean) ** 2, axis=axes)
    return mean, variance, int(np.prod(x.shape[:-1]))


def batch_norm(x, running_mean, running_var, weight=None, bias=None, momentum=0.1, eps=1e-5, training=True):
    """``(y, running_mean, running_var)``. Training: ``y`` normalised by the batch's mean and
    biased variance; the running variance moves towards the unbiased one (``n / (n - 1)``,
    ``n`` values per channel). Evaluation: ``y`` normalised by the running values."""
    if training:
        mean, variance, count = _moments(x)
        unbiased = variance * count / max(count - 1, 1)
        running_mean = (1 - momentum) * running_mean + momentum * mean
        running_var = (1 - momentum) * running_var + momentum * unbiased
    else:
        mean, variance = running_mean, running_var
    y = (x - mean) / np.sqrt(variance + eps)
    if weight is not None:
        y = y * weight + bias
    return y, running_mean, running_var


def running_statistics(x, running_mean, running_std, momentum=0.01, training=True):
    """``(x, running_mean, running_std)``: ``x`` unchanged; in training the running mean and
    standard deviation (biased) move towards the batch's."""
    if training:
        mean, variance, _ = _moments(x)
        running_mean = (1 - momentum) * running_mean + momentum * mean
        running_std = (1 - momentum) * running_std + momentum * np.sqrt(variance)
    return x, running_mean, running_std


def buffer(stored, value=None, training=True):
    """``(output, stored)`` of a graph ``buffer``: read (``value`` None) returns the stored
    array; ``update(b, value)`` stores ``value`` and returns it in training, and returns the
    stored array unchanged in evaluation."""
    if value is None or not training:
        return stored, stored
    return value, value
