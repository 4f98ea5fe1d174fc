"""The array operations of the runtime composites, in numpy (float64-capable).

Same names and signatures as every backend's ``ops`` module (see ``specc.runtime.jax.ops``
and ``specc.runtime.composites``). The reference modules do not use it: they are written
out in plain numpy as the oracle. The tests bind the composites to this table to evaluate
the shared formulas in float64 against that oracle at a tight tolerance. There is no
autodiff: ``stop_gradient`` is the identity and ``jvp`` a central finite difference.
"""

from __future__ import annotations

import numpy as np

DTYPES = {"float32": np.float32, "int32": np.int32, "bool": np.bool_}
JVP_STEP = 1e-6


def _dtype(dtype, like=None):
    if dtype is None:
        return like.dtype
    return DTYPES[dtype] if isinstance(dtype, str) else dtype


# ----------------------------------------------------------------------------- creation


def as_array(values):
    """``values`` as a numpy array (arrays pass through)."""
    return np.asarray(values)


def constant(table, like, dtype=None):
    """A host table as an array of ``dtype`` (default: ``like``'s)."""
    return np.asarray(table, dtype=_dtype(dtype, like))


def full(shape, value, like, dtype=None):
    """An array of ``shape`` filled with ``value``, of ``dtype`` (default: ``like``'s)."""
    return np.full(tuple(shape), value, dtype=_dtype(dtype, like))


def ones_like(x):
    return np.ones_like(x)


def zeros_like(x):
    return np.zeros_like(x)


def arange(count, like):
    """``[0, 1, ..., count - 1]``."""
    return np.arange(count)


def cast(x, dtype):
    return np.asarray(x).astype(_dtype(dtype))


def as_floating(x):
    """``x`` if it is floating, else ``x`` in float32."""
    x = np.asarray(x)
    return x if np.issubdtype(x.dtype, np.floating) else x.astype(np.float32)


def at_least_float32(x):
    """``x`` in float32 when it has less precision (fp16); float64 stays."""
    x = np.asarray(x)
    return x.astype(np.promote_types(x.dtype, np.float32))


def to_numpy(x) -> np.ndarray:
    return np.asarray(x)


# ----------------------------------------------------------------------------- elementwise


def abs(x):
    return np.abs(x)


def exp(x):
    return np.exp(x)


def log(x):
    return np.log(x)


def log10(x):
    return np.log10(x)


def sqrt(x):
    return np.sqrt(x)


def cos(x):
    return np.cos(x)


def sin(x):
    return np.sin(x)


def sigmoid(x):
    """``1 / (1 + exp(-x))``, written with tanh so it never overflows."""
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x)))


def relu(x):
    return np.maximum(x, 0)


def maximum(first, second):
    return np.maximum(first, second)


def minimum(first, second):
    return np.minimum(first, second)


def clip(x, low, high):
    return np.clip(x, low, high)


def where(condition, first, second):
    return np.where(condition, first, second)


# ----------------------------------------------------------------------------- reductions


def sum(x, axis=None):
    return np.sum(x, axis=axis)


def mean(x, axis=None):
    return np.mean(x, axis=axis)


def min(x, axis=None):
    return np.min(x, axis=axis)


def any(x):
    return np.any(x)


def argmax(x, axis=-1):
    """Index of the first maximum along ``axis``."""
    return np.argmax(x, axis=axis)


# ----------------------------------------------------------------------------- shapes and indexing


def reshape(x, shape):
    return np.reshape(x, tuple(shape))


def concatenate(arrays, axis=0):
    return np.concatenate(list(arrays), axis=axis)


def stack(arrays, axis=0):
    return np.stack(list(arrays), axis=axis)


def swapaxes(x, first, second):
    return np.swapaxes(x, first, second)


def moveaxis(x, source, destination):
    return np.moveaxis(x, source, destination)


def pad(x, widths):
    """Zero padding; ``widths``: one ``(before, after)`` pair per axis."""
    return np.pad(x, [tuple(pair) for pair in widths])


def take(x, indices, axis):
    """``x`` indexed along ``axis`` by the integer array ``indices`` (any shape): the result
    has ``indices.shape`` in place of that axis."""
    return np.take(x, np.asarray(indices), axis=axis)


def take_along_axis(x, indices, axis):
    return np.take_along_axis(x, np.asarray(indices).astype(np.int64), axis=axis)


# ----------------------------------------------------------------------------- nn, fft, autodiff


def log_softmax(x, axis=-1):
    """``x - max - log(sum(exp(x - max)))`` along ``axis``."""
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def softmax(x, axis=-1):
    return np.exp(log_softmax(x, axis))


def rfft(x, axis=-1, norm="backward"):
    return np.fft.rfft(x, axis=axis, norm=norm)


def stop_gradient(x):
    """The identity: numpy has no gradients."""
    return x


def jvp(function, primals, tangents):
    """``(f(primals), d/de f(primals + e * tangents) at e = 0)`` by a central difference
    with step ``1e-6 * max(1, max |primal|)``."""
    step = JVP_STEP * np.max([1.0] + [float(np.max(np.abs(primal))) for primal in primals])
    plus = function(*[primal + step * tangent for primal, tangent in zip(primals, tangents)])
    minus = function(*[primal - step * tangent for primal, tangent in zip(primals, tangents)])
    return function(*primals), (plus - minus) / (2.0 * step)
