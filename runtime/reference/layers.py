"""Numpy reference of the runtime layers: the oracle the jax, torch and mlx layers match.

Layout is channels-last (``[B, T, C]``, ``[B, H, W, C]``); parameters are passed
explicitly in the canonical (PyTorch) layout: linear ``[out, in]``, convolution
``[out, in / groups, *kernel]``, transposed convolution ``[in, out / groups, *kernel]``.
Every function works in the dtype it is given (float64 for the parity suite).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from scipy import special

from specc.runtime import checks
from specc.runtime.reference.statistics import batch_norm, buffer, running_statistics  # noqa: F401 - layers owning buffers

# ----------------------------------------------------------------------------- activations


def gelu(x, approximate="none"):
    """``0.5 x (1 + erf(x / sqrt 2))``; ``approximate = "tanh"``:
    ``0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))``."""
    checks.check_choice("gelu", "approximate", approximate, ("none", "tanh"))
    if approximate == "tanh":
        return (
            0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))
        )
    return 0.5 * x * (1.0 + special.erf(x / math.sqrt(2.0)))


def relu(x):
    """``max(x, 0)``."""
    return np.maximum(x, 0)


def sigmoid(x):
    """``1 / (1 + exp(-x))``."""
    return special.expit(x)


def silu(x):
    """``x * sigmoid(x)``."""
    return x * special.expit(x)


def leaky_relu(x, negative_slope=0.01):
    """``x`` where ``x >= 0``, else ``negative_slope * x``."""
    return np.where(x >= 0, x, negative_slope * x)


def elu(x, alpha=1.0):
    """``x`` where ``x > 0``, else ``alpha * (exp(x) - 1)``."""
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


def tanh(x):
    return np.tanh(x)


def softmax(x, axis=-1):
    """``exp(x - max) / sum exp(x - max)`` along ``axis``."""
    shifted = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return shifted / np.sum(shifted, axis=axis, keepdims=True)


def exp(x):
    return np.exp(x)


def log(x):
    return np.log(x)


def sqrt(x):
    return np.sqrt(x)


def abs(x):  # noqa: A001 - the runtime's name for |x|
    return np.abs(x)


# ----------------------------------------------------------------------------- tensor ops


def mean(x, axis=-1, keepdims=False):
    return np.mean(x, axis=_axes(axis), keepdims=keepdims)


def sum(x, axis=-1, keepdims=False):  # noqa: A001 - the runtime's name
    return np.sum(x, axis=_axes(axis), keepdims=keepdims)


def _axes(axis):
    return tuple(axis) if isinstance(axis, (list, tuple)) else axis


def matmul(a, b):
    return np.matmul(a, b)


def reshape(x, shape, from_input=()):
    """Full target shape with at most one ``-1``; ``from_input`` copies input axes."""
    return np.reshape(x, checks.reshape_target("reshape", x.shape, shape, from_input))


def transpose(x, axes):
    """``axes`` is a full permutation of the input's axes."""
    return np.transpose(x, checks.check_permutation("transpose", axes, x.ndim))


def swapaxes(x, axis1, axis2):
    return np.swapaxes(x, axis1, axis2)


def concat(tensors, axis=-1):
    return np.concatenate(list(tensors), axis=axis)


def split(x, sections, axis=-1):
    """``sections`` equal parts along ``axis``, as a list."""
    axis = checks.normalize_axis("split", axis, x.ndim)
    checks.check_divisible("split", f"axis {axis}", x.shape[axis], "sections", sections)
    return list(np.split(x, sections, axis=axis))


def flatten(x, start_axis=1):
    """Merge the axes from ``start_axis`` on: ``[B, a, b] -> [B, a * b]``."""
    start_axis = checks.normalize_axis("flatten", start_axis, x.ndim)
    return np.reshape(x, x.shape[:start_axis] + (-1,))


def _reflect_indices(size: int, before: int, after: int) -> np.ndarray:
    """Indices of a reflect padding (the edge is not repeated): ``[2, 1, 0, 1, 2, ...]``."""
    positions = np.arange(-before, size + after)
    positions = np.abs(positions)
    return np.where(positions >= size, 2 * (size - 1) - positions, positions)


def pad(x, before, after, axis=-1, mode="zeros"):
    """Pad ``before`` / ``after`` values along ``axis`` with zeros or the reflection."""
    checks.check_choice("pad", "mode", mode, ("zeros", "reflect"))
    axis = checks.normalize_axis("pad", axis, x.ndim)
    if mode == "reflect":
        checks.check_reflect_padding("pad", x.shape[axis], before, after)
        return np.take(x, _reflect_indices(x.shape[axis], before, after), axis=axis)
    widths = [(0, 0)] * x.ndim
    widths[axis] = (before, after)
    return np.pad(x, widths)


def sinusoidal(x, dim):
    """``x [...] -> [..., dim]``: ``half = dim // 2``, ``f_i = exp(-ln(10000) i / half)``,
    ``concat(cos(x f), sin(x f))``. Integer ``x`` (``positions``) is read as float64."""
    checks.check_even("sinusoidal", "dim", dim)
    half = dim // 2
    if not np.issubdtype(np.asarray(x).dtype, np.floating):
        x = np.asarray(x, np.float64)
    frequencies = np.exp(-math.log(10000.0) * np.arange(half) / half).astype(x.dtype)
    arguments = x[..., None] * frequencies
    return np.concatenate([np.cos(arguments), np.sin(arguments)], axis=-1)


def positions(x, axis=1, batched=False):
    """``[0, 1, ..., n - 1]`` (int64) for the ``n`` entries of ``x``'s ``axis``; ``batched``:
    repeated over the first axis, ``[B, n]``."""
    axis = checks.positions_axis("positions", axis, np.ndim(x), batched)
    counted = np.arange(x.shape[axis], dtype=np.int64)
    return np.tile(counted, (x.shape[0], 1)) if batched else counted


_DTYPES = {"f32": np.float32, "i32": np.int32, "i64": np.int64, "bool": np.bool_}


def cast(x, dtype):
    """The same values as ``dtype`` (``f32``, ``i32``, ``i64`` or ``bool``: not 0 is true;
    a float cast to an integer is truncated toward 0)."""
    checks.check_choice("cast", "dtype", dtype, tuple(_DTYPES))
    return np.asarray(x).astype(_DTYPES[dtype])


def where(condition, a, b):
    """``a`` where ``condition`` is true, ``b`` elsewhere (arrays or numbers, broadcast)."""
    return np.where(condition, a, b)


def dropout(x, rate):
    """Dropout in evaluation mode (the only mode with a reference): the identity."""
    return x


def gaussian_sample(mean, logvar, noise=None):
    """Reparameterised Gaussian draw: ``mean + exp(logvar / 2) * noise`` with the standard
    normal ``noise`` given (training mode; the backends draw it), ``mean`` when ``noise`` is
    None (evaluation mode). Gradients: ``d/dmean = 1``,
    ``d/dlogvar = exp(logvar / 2) * noise / 2``."""
    checks.check_same_shape("GaussianSample", "mean", np.shape(mean), "logvar", np.shape(logvar))
    if noise is None:
        return mean
    checks.check_same_shape("GaussianSample", "mean", np.shape(mean), "noise", np.shape(noise))
    return mean + np.exp(logvar / 2.0) * noise


def free_parameter(weight):
    """A free ``parameter(shape)``: the learned array itself, ``weight`` of that shape."""
    return weight


# ----------------------------------------------------------------------------- pooling


def _pool(function, x, kernel_size, stride, padding, rank, reduce):
    kernel, stride, padding = checks.pool_arguments(
        function, kernel_size, stride, padding, rank
    )
    fill = -np.inf if reduce == "max" else 0.0
    widths = [(0, 0)] + [(size, size) for size in padding] + [(0, 0)]
    padded = np.pad(x, widths, constant_values=fill)
    lengths = [
        checks.conv_output_length(function, size, window, step, 1, pad_size, pad_size)
        for size, window, step, pad_size in zip(x.shape[1:-1], kernel, stride, padding)
    ]
    windows = [
        padded[_window_slices(offsets, stride, lengths)]
        for offsets in itertools.product(*map(range, kernel))
    ]
    if reduce == "max":
        return np.max(np.stack(windows), axis=0)
    return np.sum(np.stack(windows), axis=0) / math.prod(kernel)


def _window_slices(offsets, stride, lengths):
    spatial = tuple(
        slice(offset, offset + step * (length - 1) + 1, step)
        for offset, step, length in zip(offsets, stride, lengths)
    )
    return (slice(None),) + spatial + (slice(None),)


def avg_pool1d(x, kernel_size, stride=None, padding=0):
    """Mean over windows of ``[B, T, C]`` along T; zero padding counts in the mean."""
    return _pool("avg_pool1d", x, kernel_size, stride, padding, 1, "mean")


def max_pool1d(x, kernel_size, stride=None, padding=0):
    """Maximum over windows of ``[B, T, C]`` along T (padding is -inf)."""
    return _pool("max_pool1d", x, kernel_size, stride, padding, 1, "max")


def avg_pool2d(x, kernel_size, stride=None, padding=0):
    """Mean over windows of ``[B, H, W, C]``; zero padding counts in the mean."""
    return _pool("avg_pool2d", x, kernel_size, stride, padding, 2, "mean")


def max_pool2d(x, kernel_size, stride=None, padding=0):
    """Maximum over windows of ``[B, H, W, C]`` (padding is -inf)."""
    return _pool("max_pool2d", x, kernel_size, stride, padding, 2, "max")


# ----------------------------------------------------------------------------- parametrised


def linear(x, weight, bias=None):
    """``x @ weight^T + bias``; weight ``[out, in]``."""
    y = np.matmul(x, weight.T)
    return y if bias is None else y + bias


def weight_norm(weight_g, weight_v):
    """``g * v / ||v||``, the norm over all axes of v but the first."""
    axes = tuple(range(1, weight_v.ndim))
    return weight_g * weight_v / np.sqrt(np.sum(weight_v**2, axis=axes, keepdims=True))


def _convolve(
    function, x, weight, bias, stride, padding, dilation, groups, padding_mode
):
    rank = weight.ndim - 2
    kernel = weight.shape[2:]
    stride = checks.normalize_tuple(function, "stride", stride, rank)
    dilation = checks.normalize_tuple(function, "dilation", dilation, rank)
    pads = checks.conv_padding(function, padding, kernel, stride, dilation)
    checks.check_choice(function, "padding_mode", padding_mode, ("zeros", "reflect"))
    checks.check_channels(function, x.shape, weight.shape[1] * groups)
    if padding_mode == "reflect":
        for axis, (before, after) in enumerate(pads, start=1):
            checks.check_reflect_padding(function, x.shape[axis], before, after)
    lengths = [
        checks.conv_output_length(function, size, window, step, rate, before, after)
        for size, window, step, rate, (before, after) in zip(
            x.shape[1:-1], kernel, stride, dilation, pads
        )
    ]
    for axis, (before, after) in enumerate(pads, start=1):
        x = pad(x, before, after, axis=axis, mode=padding_mode)
    out_channels = weight.shape[0]
    grouped = weight.reshape((groups, out_channels // groups, weight.shape[1]) + kernel)
    y = 0.0
    for offsets in itertools.product(*map(range, kernel)):
        starts = [offset * rate for offset, rate in zip(offsets, dilation)]
        window = x[_window_slices(starts, stride, lengths)]
        window = window.reshape(window.shape[:-1] + (groups, -1))
        y = y + np.einsum("...gi,goi->...go", window, grouped[(Ellipsis,) + offsets])
    y = y.reshape(y.shape[:-2] + (out_channels,))
    return y if bias is None else y + bias


def conv1d(
    x,
    weight,
    bias=None,
    stride=1,
    padding=0,
    dilation=1,
    groups=1,
    padding_mode="zeros",
):
    """``y[b, t, o] = bias[o] + sum_{j, i} x_pad[b, t * stride + j * dilation, g(o) * in_g + i]
    * weight[o, i, j]``; x ``[B, T, in]``, weight ``[out, in / groups, k]``."""
    return _convolve(
        "conv1d", x, weight, bias, stride, padding, dilation, groups, padding_mode
    )


def conv2d(
    x,
    weight,
    bias=None,
    stride=1,
    padding=0,
    dilation=1,
    groups=1,
    padding_mode="zeros",
):
    """The 2-d form of ``conv1d`` on ``[B, H, W, in]`` with weight ``[out, in / groups, kh, kw]``."""
    return _convolve(
        "conv2d", x, weight, bias, stride, padding, dilation, groups, padding_mode
    )


def conv_transpose1d(
    x, weight, bias=None, stride=1, padding=0, output_padding=0, dilation=1, groups=1
):
    """``y_full[b, t * stride + j * dilation, o] += x[b, t, i] * weight[i, o, j]`` (per group),
    cropped to ``[padding, padding + L)`` with
    ``L = (T - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1``."""
    function = "conv_transpose1d"
    checks.check_channels(function, x.shape, weight.shape[0])
    checks.check_output_padding(function, output_padding, stride, dilation)
    in_channels, out_per_group, kernel = weight.shape
    batch, steps = x.shape[0], x.shape[1]
    length = (
        (steps - 1) * stride
        - 2 * padding
        + dilation * (kernel - 1)
        + output_padding
        + 1
    )
    if length < 1:
        raise ValueError(
            f"{function}: padding = {padding} leaves no output for an input of length {steps}"
        )
    full = np.zeros(
        (batch, length + 2 * padding, groups, out_per_group),
        dtype=np.result_type(x, weight),
    )
    grouped_x = x.reshape(batch, steps, groups, in_channels // groups)
    grouped_w = weight.reshape(groups, in_channels // groups, out_per_group, kernel)
    for offset in range(kernel):
        start = offset * dilation
        full[:, start : start + stride * (steps - 1) + 1 : stride] += np.einsum(
            "btgi,gio->btgo", grouped_x, grouped_w[..., offset]
        )
    y = full[:, padding : padding + length].reshape(
        batch, length, groups * out_per_group
    )
    return y if bias is None else y + bias


def layer_norm(x, weight=None, bias=None, eps=1e-5):
    """``(x - mean) / sqrt(var + eps) * weight + bias`` over the last axis (biased variance)."""
    centred = x - np.mean(x, axis=-1, keepdims=True)
    y = centred / np.sqrt(np.mean(centred**2, axis=-1, keepdims=True) + eps)
    return _affine(y, weight, bias)


def group_norm(x, num_groups, weight=None, bias=None, eps=1e-5):
    """Channels-last group norm: channel c is in group ``c // (C / num_groups)``; statistics
    over every non-batch position and the channels of the group."""
    channels = x.shape[-1]
    checks.check_divisible("group_norm", "channels", channels, "num_groups", num_groups)
    grouped = x.reshape(x.shape[:-1] + (num_groups, channels // num_groups))
    axes = tuple(range(1, x.ndim - 1)) + (x.ndim,)
    centred = grouped - np.mean(grouped, axis=axes, keepdims=True)
    y = centred / np.sqrt(np.mean(centred**2, axis=axes, keepdims=True) + eps)
    return _affine(y.reshape(x.shape), weight, bias)


def rms_norm(x, weight=None, eps=1e-6):
    """``x / sqrt(mean(x^2) + eps) * weight`` over the last axis."""
    y = x / np.sqrt(np.mean(x**2, axis=-1, keepdims=True) + eps)
    return _affine(y, weight, None)


def _affine(y, weight, bias):
    if weight is not None:
        y = y * weight
    return y if bias is None else y + bias


def embedding(ids, weight):
    """``weight[ids]``: integer ids of any shape -> ``ids.shape + [dim]``."""
    return weight[ids]


def attention(query, key, value, num_heads, causal=False, mask=None, dropout=None):
    """Scaled dot-product attention over ``num_heads`` heads of size ``d = D / num_heads``:
    ``softmax(q k^T / sqrt(d) + mask) v`` with q ``[B, Tq, D]``, k, v ``[B, Tk, D]``.

    Query i may attend key j when ``j <= i`` (if ``causal``) and ``mask[b, j]`` (if a boolean
    key mask ``[B, Tk]`` is given, True = attend). Scores of other keys are replaced by the
    dtype's lowest finite value before the softmax and their weights set to 0 after it, so
    a query with no key to attend gets a zero output (never NaN, also under AD).
    ``dropout``: a function applied to the weights ``[B, heads, Tq, Tk]`` before they mix the
    values (``MultiHeadAttention(dropout=p)`` passes its ``Dropout`` layer in training)."""
    batch, query_steps, dim = query.shape
    checks.check_divisible("attention", "dim", dim, "num_heads", num_heads)
    head = dim // num_heads
    allowed = _attention_allowed(query_steps, key.shape[1], causal, mask, batch)

    def heads(tensor):
        return tensor.reshape(batch, tensor.shape[1], num_heads, head).transpose(
            0, 2, 1, 3
        )

    scores = np.matmul(heads(query), heads(key).transpose(0, 1, 3, 2)) / math.sqrt(head)
    if allowed is not None:
        scores = np.where(allowed, scores, np.finfo(scores.dtype).min)
    weights = softmax(scores, axis=-1)
    if allowed is not None:
        weights = np.where(allowed, weights, 0.0)
    if dropout is not None:  # on the attention weights (after the softmax and the masks)
        weights = dropout(weights)
    mixed = np.matmul(weights, heads(value))
    return mixed.transpose(0, 2, 1, 3).reshape(batch, query_steps, dim)


def _attention_allowed(query_steps, key_steps, causal, mask, batch):
    """Which keys each query attends, broadcastable to ``[B, heads, Tq, Tk]``: the causal
    triangle ``[Tq, Tk]`` and the key mask ``[B, 1, 1, Tk]``; None when both are absent."""
    allowed = None
    if causal:
        allowed = np.tril(np.ones((query_steps, key_steps), dtype=bool))
    if mask is not None:
        checks.check_attention_mask("attention", np.shape(mask), batch, key_steps)
        keys = np.asarray(mask, dtype=bool)[:, None, None, :]
        allowed = keys if allowed is None else allowed & keys
    return allowed


def multi_head_attention(
    x, parameters, num_heads, causal=False, context=None, mask=None, dropout=None
):
    """``out(attention(query(x), key(c), value(c)))`` with ``c = context or x``;
    ``parameters`` maps ``query.weight``, ``query.bias``, ... ``out.bias`` to arrays;
    ``mask`` is the boolean key mask ``[B, len(c)]`` (True = attend); ``dropout``: a
    function of the attention weights (see ``attention``)."""
    source = x if context is None else context

    def project(name, tensor):
        return linear(
            tensor, parameters[f"{name}.weight"], parameters.get(f"{name}.bias")
        )

    mixed = attention(
        project("query", x),
        project("key", source),
        project("value", source),
        num_heads,
        causal,
        mask,
        dropout,
    )
    return project("out", mixed)


def positional_embedding(x, weight):
    """Learned absolute positions: ``y[b, t, :] = x[b, t, :] + weight[t, :]`` for
    ``x [B, T, D]`` and ``weight [max_length, D]``, ``T <= max_length``."""
    checks.check_positional_input("PositionalEmbedding", x.shape, weight.shape[0], weight.shape[1])
    return x + weight[: x.shape[1]]
