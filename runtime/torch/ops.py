"""The array operations of the runtime composites, in ``torch``.

Same names and signatures as every backend's ``ops`` module (see ``specc.runtime.jax.ops``
and ``specc.runtime.composites``). What torch needs that the others do not is kept here:
new arrays go on ``like``'s device; reductions over ``axis=()`` reduce nothing (torch's
``dim=()`` would reduce every axis); Python scalars in ``maximum`` / ``minimum`` go through
``clamp`` (a 0-d float64 tensor would promote two 0-d float32 operands); indices are cast
to int64; stop-gradient is ``detach``; the JVP is ``torch.func.jvp``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.func
from torch.nn import functional

DTYPES = {"float32": torch.float32, "int32": torch.int32, "bool": torch.bool}


def _dtype(dtype, like=None):
    if dtype is None:
        return like.dtype
    return DTYPES[dtype] if isinstance(dtype, str) else dtype


def _reduces_nothing(axis) -> bool:
    return isinstance(axis, (tuple, list)) and len(axis) == 0


# ----------------------------------------------------------------------------- creation


def as_array(values):
    """``values`` as a tensor (tensors pass through)."""
    return torch.as_tensor(values)


def constant(table, like, dtype=None):
    """A host (numpy) table as a tensor of ``dtype`` (default: ``like``'s) on ``like``'s device."""
    return torch.as_tensor(np.asarray(table), dtype=_dtype(dtype, like), device=like.device)


def full(shape, value, like, dtype=None):
    """A tensor of ``shape`` filled with ``value``, of ``dtype`` (default: ``like``'s), on ``like``'s device."""
    return torch.full(tuple(shape), value, dtype=_dtype(dtype, like), device=like.device)


def ones_like(x):
    return torch.ones_like(x)


def zeros_like(x):
    return torch.zeros_like(x)


def arange(count, like):
    """``[0, 1, ..., count - 1]`` on ``like``'s device."""
    return torch.arange(count, device=like.device)


def cast(x, dtype):
    return x.to(_dtype(dtype))


def as_floating(x):
    """``x`` if it is floating, else ``x`` in float32."""
    return x if x.is_floating_point() else x.to(torch.float32)


def at_least_float32(x):
    """``x`` in float32 when it has less precision (bf16, fp16); float64 stays."""
    return x.to(torch.promote_types(x.dtype, torch.float32))


def to_numpy(x) -> np.ndarray:
    """``x`` detached, on the host, as a numpy array."""
    return x.detach().cpu().numpy()


# ----------------------------------------------------------------------------- elementwise


def abs(x):
    return torch.abs(x)


def exp(x):
    return torch.exp(x)


def log(x):
    return torch.log(x)


def log10(x):
    return torch.log10(x)


def sqrt(x):
    return torch.sqrt(x)


def cos(x):
    return torch.cos(x)


def sin(x):
    return torch.sin(x)


def sigmoid(x):
    return torch.sigmoid(x)


def relu(x):
    return torch.relu(x)


def maximum(first, second):
    if not isinstance(second, torch.Tensor):
        return torch.clamp(first, min=second)
    if not isinstance(first, torch.Tensor):
        return torch.clamp(second, min=first)
    return torch.maximum(first, second)


def minimum(first, second):
    if not isinstance(second, torch.Tensor):
        return torch.clamp(first, max=second)
    if not isinstance(first, torch.Tensor):
        return torch.clamp(second, max=first)
    return torch.minimum(first, second)


def clip(x, low, high):
    return torch.clamp(x, low, high)


def where(condition, first, second):
    return torch.where(condition, first, second)


# ----------------------------------------------------------------------------- reductions


def sum(x, axis=None):
    if axis is None:
        return torch.sum(x)
    return x if _reduces_nothing(axis) else torch.sum(x, dim=axis)


def mean(x, axis=None):
    if axis is None:
        return torch.mean(x)
    return x if _reduces_nothing(axis) else torch.mean(x, dim=axis)


def min(x, axis=None):
    if axis is None:
        return torch.amin(x)
    return x if _reduces_nothing(axis) else torch.amin(x, dim=axis)


def any(x):
    return torch.any(x)


def argmax(x, axis=-1):
    """Index of the first maximum along ``axis``."""
    return torch.argmax(x, dim=axis)


# ----------------------------------------------------------------------------- shapes and indexing


def reshape(x, shape):
    return torch.reshape(x, tuple(shape))


def concatenate(arrays, axis=0):
    return torch.cat(list(arrays), dim=axis)


def stack(arrays, axis=0):
    return torch.stack(list(arrays), dim=axis)


def swapaxes(x, first, second):
    return torch.swapaxes(x, first, second)


def moveaxis(x, source, destination):
    return torch.movedim(x, source, destination)


def pad(x, widths):
    """Zero padding; ``widths``: one ``(before, after)`` pair per axis."""
    flat = [size for pair in reversed(list(widths)) for size in pair]
    return functional.pad(x, flat)


def take(x, indices, axis):
    """``x`` indexed along ``axis`` by the integer array ``indices`` (numpy or torch, any
    shape): the result has ``indices.shape`` in place of that axis."""
    indices = torch.as_tensor(indices, device=x.device).long()
    axis = axis % x.ndim
    picked = torch.index_select(x, axis, indices.reshape(-1))
    return picked.reshape(tuple(x.shape[:axis]) + tuple(indices.shape) + tuple(x.shape[axis + 1 :]))


def take_along_axis(x, indices, axis):
    return torch.gather(x, axis, indices.long())


# ----------------------------------------------------------------------------- nn, fft, autodiff


def log_softmax(x, axis=-1):
    return torch.log_softmax(x, dim=axis)


def softmax(x, axis=-1):
    return torch.softmax(x, dim=axis)


def rfft(x, axis=-1, norm="backward"):
    return torch.fft.rfft(x, dim=axis, norm=norm)


def stop_gradient(x):
    return x.detach()


def jvp(function, primals, tangents):
    """``(function(*primals), J . tangents)`` by forward-mode AD (``torch.func.jvp``); the
    primal output stays differentiable by ordinary autograd with respect to the parameters."""
    return torch.func.jvp(function, tuple(primals), tuple(tangents))
