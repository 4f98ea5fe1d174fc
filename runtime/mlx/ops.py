"""The array operations of the runtime composites, in ``mlx.core`` (``mx.compile``-compatible).

Same names and signatures as every backend's ``ops`` module (see ``specc.runtime.jax.ops``
and ``specc.runtime.composites``). MLX specifics kept here: host index tables become int32
arrays; ``log_softmax`` is ``x - logsumexp(x)`` (``mlx.core`` has none); ``mx.jvp`` takes and
returns lists.
"""

from __future__ import annotations

import mlx.core as mx
import numpy as np

DTYPES = {"float32": mx.float32, "int32": mx.int32, "bool": mx.bool_}
LOW_PRECISION = (mx.float16, mx.bfloat16)


def _dtype(dtype, like=None):
    if dtype is None:
        return like.dtype
    return DTYPES[dtype] if isinstance(dtype, str) else dtype


# ----------------------------------------------------------------------------- creation


def as_array(values):
    """``values`` as an ``mx.array`` (arrays pass through)."""
    return values if isinstance(values, mx.array) else mx.array(values)


def constant(table, like, dtype=None):
    """A host (numpy) table as an array of ``dtype`` (default: ``like``'s)."""
    return mx.array(np.asarray(table), dtype=_dtype(dtype, like))


def full(shape, value, like, dtype=None):
    """An array of ``shape`` filled with ``value``, of ``dtype`` (default: ``like``'s)."""
    return mx.full(tuple(shape), value, dtype=_dtype(dtype, like))


def ones_like(x):
    return mx.ones_like(x)


def zeros_like(x):
    return mx.zeros_like(x)


def arange(count, like):
    """``[0, 1, ..., count - 1]``."""
    return mx.arange(count)


def cast(x, dtype):
    return x.astype(_dtype(dtype))


def as_floating(x):
    """``x`` if it is floating, else ``x`` in float32."""
    return x if mx.issubdtype(x.dtype, mx.floating) else x.astype(mx.float32)


def at_least_float32(x):
    """``x`` in float32 when it has less precision (bf16, fp16) or is not floating."""
    return x.astype(mx.float32) if x.dtype in LOW_PRECISION or not mx.issubdtype(x.dtype, mx.floating) else x


def to_numpy(x) -> np.ndarray:
    """``x`` evaluated, as a host numpy array (not inside ``mx.compile``)."""
    return np.array(x)


# ----------------------------------------------------------------------------- elementwise


def abs(x):
    return mx.abs(x)


def exp(x):
    return mx.exp(x)


def log(x):
    return mx.log(x)


def log10(x):
    return mx.log10(x)


def sqrt(x):
    return mx.sqrt(x)


def cos(x):
    return mx.cos(x)


def sin(x):
    return mx.sin(x)


def sigmoid(x):
    return mx.sigmoid(x)


def relu(x):
    return mx.maximum(x, 0)


def maximum(first, second):
    return mx.maximum(first, second)


def minimum(first, second):
    return mx.minimum(first, second)


def clip(x, low, high):
    return mx.clip(x, low, high)


def where(condition, first, second):
    return mx.where(condition, first, second)


# ----------------------------------------------------------------------------- reductions


def sum(x, axis=None):
    return mx.sum(x, axis=axis)


def mean(x, axis=None):
    return mx.mean(x, axis=axis)


def min(x, axis=None):
    return mx.min(x, axis=axis)


def any(x):
    return mx.any(x)


def argmax(x, axis=-1):
    """Index of the first maximum along ``axis``."""
    return mx.argmax(x, axis=axis)


# ----------------------------------------------------------------------------- shapes and indexing


def reshape(x, shape):
    return mx.reshape(x, tuple(shape))


def concatenate(arrays, axis=0):
    return mx.concatenate(list(arrays), axis=axis)


def stack(arrays, axis=0):
    return mx.stack(list(arrays), axis=axis)


def swapaxes(x, first, second):
    return mx.swapaxes(x, first, second)


def moveaxis(x, source, destination):
    return mx.moveaxis(x, source, destination)


def pad(x, widths):
    """Zero padding; ``widths``: one ``(before, after)`` pair per axis."""
    return mx.pad(x, [tuple(pair) for pair in widths])


def take(x, indices, axis):
    """``x`` indexed along ``axis`` by the integer array ``indices`` (numpy or mlx, any
    shape): the result has ``indices.shape`` in place of that axis."""
    if not isinstance(indices, mx.array):
        indices = mx.array(np.asarray(indices, dtype=np.int32))
    return mx.take(x, indices, axis=axis)


def take_along_axis(x, indices, axis):
    return mx.take_along_axis(x, indices, axis=axis)


# ----------------------------------------------------------------------------- nn, fft, autodiff


def log_softmax(x, axis=-1):
    return x - mx.logsumexp(x, axis=axis, keepdims=True)


def softmax(x, axis=-1):
    return mx.softmax(x, axis=axis)


def rfft(x, axis=-1, norm="backward"):
    return mx.fft.rfft(x, axis=axis, norm=norm)


def stop_gradient(x):
    return mx.stop_gradient(x)


def jvp(function, primals, tangents):
    """``(function(*primals), J . tangents)`` by forward-mode AD (``mx.jvp``, which takes and
    returns lists)."""
    outputs, derivatives = mx.jvp(function, list(primals), list(tangents))
    return outputs[0], derivatives[0]
