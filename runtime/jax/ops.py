"""The array operations of the runtime composites, in ``jax.numpy`` (jit-compatible).

Every backend's ``ops`` module (``specc.runtime.{reference,jax,torch,mlx}.ops``) has these
names and signatures; ``specc.runtime.composites`` writes the flows, losses, metrics and
objectives once against them. ``axis`` follows numpy (``None``: every axis, ``()``: none);
``dtype`` is a name (``"float32"``, ``"int32"``, ``"bool"``) or a jax dtype; ``like`` is an
array whose dtype (and, on torch, device) a new array takes. ``abs``, ``sum``, ``min`` and
``any`` keep numpy's names, so inside the ``ops`` modules they shadow the builtins.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

DTYPES = {"float32": jnp.float32, "int32": jnp.int32, "bool": jnp.bool_}


def _dtype(dtype, like=None):
    if dtype is None:
        return like.dtype
    return DTYPES[dtype] if isinstance(dtype, str) else dtype


# ----------------------------------------------------------------------------- creation


def as_array(values):
    """``values`` as a jax array (arrays pass through)."""
    return jnp.asarray(values)


def constant(table, like, dtype=None):
    """A host (numpy) table as an array of ``dtype`` (default: ``like``'s)."""
    return jnp.asarray(table, dtype=_dtype(dtype, like))


def full(shape, value, like, dtype=None):
    """An array of ``shape`` filled with ``value``, of ``dtype`` (default: ``like``'s)."""
    return jnp.full(shape, value, dtype=_dtype(dtype, like))


def ones_like(x):
    return jnp.ones_like(x)


def zeros_like(x):
    return jnp.zeros_like(x)


def arange(count, like):
    """``[0, 1, ..., count - 1]``."""
    return jnp.arange(count)


def cast(x, dtype):
    return x.astype(_dtype(dtype))


def as_floating(x):
    """``x`` if it is floating, else ``x`` in float32."""
    return x if jnp.issubdtype(x.dtype, jnp.floating) else x.astype(jnp.float32)


def at_least_float32(x):
    """``x`` in float32 when it has less precision (bf16, fp16); float64 stays."""
    return x.astype(jnp.promote_types(x.dtype, jnp.float32))


def to_numpy(x) -> np.ndarray:
    """``x`` as a host numpy array (not for traced values)."""
    return np.asarray(x)


# ----------------------------------------------------------------------------- elementwise


def abs(x):
    return jnp.abs(x)


def exp(x):
    return jnp.exp(x)


def log(x):
    return jnp.log(x)


def log10(x):
    return jnp.log10(x)


def sqrt(x):
    return jnp.sqrt(x)


def cos(x):
    return jnp.cos(x)


def sin(x):
    return jnp.sin(x)


def sigmoid(x):
    return jax.nn.sigmoid(x)


def relu(x):
    return jax.nn.relu(x)


def maximum(first, second):
    return jnp.maximum(first, second)


def minimum(first, second):
    return jnp.minimum(first, second)


def clip(x, low, high):
    return jnp.clip(x, low, high)


def where(condition, first, second):
    return jnp.where(condition, first, second)


# ----------------------------------------------------------------------------- reductions


def sum(x, axis=None):
    return jnp.sum(x, axis=axis)


def mean(x, axis=None):
    return jnp.mean(x, axis=axis)


def min(x, axis=None):
    return jnp.min(x, axis=axis)


def any(x):
    return jnp.any(x)


def argmax(x, axis=-1):
    """Index of the first maximum along ``axis``."""
    return jnp.argmax(x, axis=axis)


# ----------------------------------------------------------------------------- shapes and indexing


def reshape(x, shape):
    return jnp.reshape(x, tuple(shape))


def concatenate(arrays, axis=0):
    return jnp.concatenate(list(arrays), axis=axis)


def stack(arrays, axis=0):
    return jnp.stack(list(arrays), axis=axis)


def swapaxes(x, first, second):
    return jnp.swapaxes(x, first, second)


def moveaxis(x, source, destination):
    return jnp.moveaxis(x, source, destination)


def pad(x, widths):
    """Zero padding; ``widths``: one ``(before, after)`` pair per axis."""
    return jnp.pad(x, [tuple(pair) for pair in widths])


def take(x, indices, axis):
    """``x`` indexed along ``axis`` by the integer array ``indices`` (numpy or jax, any
    shape): the result has ``indices.shape`` in place of that axis."""
    return jnp.take(x, jnp.asarray(indices), axis=axis)


def take_along_axis(x, indices, axis):
    return jnp.take_along_axis(x, indices, axis=axis)


# ----------------------------------------------------------------------------- nn, fft, autodiff


def log_softmax(x, axis=-1):
    return jax.nn.log_softmax(x, axis=axis)


def softmax(x, axis=-1):
    return jax.nn.softmax(x, axis=axis)


def rfft(x, axis=-1, norm="backward"):
    return jnp.fft.rfft(x, axis=axis, norm=norm)


def stop_gradient(x):
    return jax.lax.stop_gradient(x)


def jvp(function, primals, tangents):
    """``(function(*primals), J . tangents)`` by forward-mode AD (``jax.jvp``)."""
    return jax.jvp(function, tuple(primals), tuple(tangents))
