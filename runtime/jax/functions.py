"""The unparametrised operations of the graph language on jax (``layers.relu``,
``layers.split``, ``layers.attention``...): pure functions of their inputs, the same names,
signatures and error messages on every backend. ``layers`` re-exports them."""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp

from specc.runtime import checks

_CONV_DIMENSIONS = {1: ("NWC", "OIW", "NWC"), 2: ("NHWC", "OIHW", "NHWC")}


def gelu(x, approximate="none"):
    checks.check_choice("gelu", "approximate", approximate, ("none", "tanh"))
    return jax.nn.gelu(x, approximate=approximate == "tanh")


def relu(x):
    return jax.nn.relu(x)


def silu(x):
    return jax.nn.silu(x)


def leaky_relu(x, negative_slope=0.01):
    return jax.nn.leaky_relu(x, negative_slope)


def elu(x, alpha=1.0):
    return jax.nn.elu(x, alpha)


def tanh(x):
    return jnp.tanh(x)


def sigmoid(x):
    return jax.nn.sigmoid(x)


def softmax(x, axis=-1):
    return jax.nn.softmax(x, axis=axis)


def exp(x):
    return jnp.exp(x)


def log(x):
    return jnp.log(x)


def sqrt(x):
    return jnp.sqrt(x)


def abs(x):  # noqa: A001 - the runtime's name for |x|
    return jnp.abs(x)


def _axes(axis):
    return tuple(axis) if isinstance(axis, (list, tuple)) else axis


def mean(x, axis=-1, keepdims=False):
    return jnp.mean(x, axis=_axes(axis), keepdims=keepdims)


def sum(x, axis=-1, keepdims=False):  # noqa: A001 - the runtime's name
    return jnp.sum(x, axis=_axes(axis), keepdims=keepdims)


def matmul(a, b):
    return jnp.matmul(a, b)


def reshape(x, shape, from_input=()):
    return jnp.reshape(x, checks.reshape_target("reshape", x.shape, shape, from_input))


def transpose(x, axes):
    return jnp.transpose(x, checks.check_permutation("transpose", axes, x.ndim))


def swapaxes(x, axis1, axis2):
    return jnp.swapaxes(x, axis1, axis2)


def concat(tensors, axis=-1):
    return jnp.concatenate(list(tensors), axis=axis)


def split(x, sections, axis=-1):
    axis = checks.normalize_axis("split", axis, x.ndim)
    checks.check_divisible("split", f"axis {axis}", x.shape[axis], "sections", sections)
    return list(jnp.split(x, sections, axis=axis))


def flatten(x, start_axis=1):
    start_axis = checks.normalize_axis("flatten", start_axis, x.ndim)
    return jnp.reshape(x, x.shape[:start_axis] + (-1,))


def pad(x, before, after, axis=-1, mode="zeros"):
    checks.check_choice("pad", "mode", mode, ("zeros", "reflect"))
    axis = checks.normalize_axis("pad", axis, x.ndim)
    if mode == "reflect":
        checks.check_reflect_padding("pad", x.shape[axis], before, after)
    widths = [(0, 0)] * x.ndim
    widths[axis] = (before, after)
    return jnp.pad(x, widths, mode="reflect" if mode == "reflect" else "constant")


def sinusoidal(x, dim):
    checks.check_even("sinusoidal", "dim", dim)
    half = dim // 2
    frequencies = jnp.exp(-math.log(10000.0) * jnp.arange(half, dtype=jnp.float32) / half)
    arguments = x[..., None] * frequencies  # integer positions promote to float32
    return jnp.concatenate([jnp.cos(arguments), jnp.sin(arguments)], axis=-1)


def positions(x, axis=1, batched=False):
    """Integer positions (jax's default integer: int32 unless x64 is enabled)."""
    axis = checks.positions_axis("positions", axis, x.ndim, batched)
    counted = jnp.arange(x.shape[axis])
    return jnp.broadcast_to(counted, (x.shape[0], x.shape[axis])) if batched else counted


def _pool(function, x, kernel_size, stride, padding, rank, reduce):
    kernel, stride, padding = checks.pool_arguments(function, kernel_size, stride, padding, rank)
    for axis, (size, window, step, pad_size) in enumerate(
        zip(x.shape[1:-1], kernel, stride, padding), start=1
    ):
        checks.conv_output_length(function, size, window, step, 1, pad_size, pad_size)
    if stride == kernel and not any(padding):  # windows side by side: one reshape, one reduction
        return _tiled_pool(x, kernel, reduce)
    window = (1,) + kernel + (1,)
    strides = (1,) + stride + (1,)
    widths = ((0, 0),) + tuple((size, size) for size in padding) + ((0, 0),)
    if reduce == "max":
        return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, window, strides, widths)
    total = jax.lax.reduce_window(x, 0.0, jax.lax.add, window, strides, widths)
    return total / math.prod(kernel)


def _tiled_pool(x, kernel, reduce):
    """Windows that tile the input (stride = kernel, no padding): one reshape and a reduction
    over the window axes (``checks.pool_tiles``). XLA's CPU gradient of ``reduce_window``
    (select-and-scatter) is slow: the conv benchmark's forward and backward took 28 ms with
    it and 10.5 ms this way."""
    covered, shape, axes = checks.pool_tiles(x.shape, kernel)
    tiles = x[covered].reshape(shape)
    return _first_maximum(tiles, axes) if reduce == "max" else tiles.mean(axis=axes)


@functools.partial(jax.custom_jvp, nondiff_argnums=(1,))
def _first_maximum(tiles, axes):
    """The maximum over ``axes``, differentiated through the first maximum of each window in
    row-major order, or its last NaN, as torch's pools choose (XLA's ``reduce_window`` agrees
    on ties); ``jnp.max``'s own derivative would split among equal values. A JVP rule, so
    forward mode (the mean-flow objectives' ``jax.jvp``) works and JAX transposes it for
    the gradient."""
    return tiles.max(axis=axes)


@_first_maximum.defjvp
def _first_maximum_jvp(axes, primals, tangents):
    (tiles,), (tangent,) = primals, tangents
    result = tiles.max(axis=axes)
    order = jnp.zeros((), jnp.int32)  # each window position's row-major index
    for axis in axes:
        order = order * tiles.shape[axis] + jax.lax.broadcasted_iota(jnp.int32, tiles.shape, axis)
    last = math.prod(tiles.shape[axis] for axis in axes)
    rank = jnp.where(tiles == jnp.expand_dims(result, axes), order, last)  # lowest rank wins
    rank = jnp.where(jnp.isnan(tiles), -1 - order, rank)  # a NaN before any number, the last first
    chosen = rank == jnp.min(rank, axis=axes, keepdims=True)
    return result, jnp.sum(jnp.where(chosen, tangent, 0), axis=axes).astype(result.dtype)


def avg_pool1d(x, kernel_size, stride=None, padding=0):
    return _pool("avg_pool1d", x, kernel_size, stride, padding, 1, "mean")


def max_pool1d(x, kernel_size, stride=None, padding=0):
    return _pool("max_pool1d", x, kernel_size, stride, padding, 1, "max")


def avg_pool2d(x, kernel_size, stride=None, padding=0):
    return _pool("avg_pool2d", x, kernel_size, stride, padding, 2, "mean")


def max_pool2d(x, kernel_size, stride=None, padding=0):
    return _pool("max_pool2d", x, kernel_size, stride, padding, 2, "max")


def attention(query, key, value, num_heads, causal=False, mask=None, dropout=None):
    """``softmax(q k^T / sqrt(d) + mask) v`` per head, written out (matmul, mask, softmax,
    matmul); keys hidden by ``causal`` or the boolean key mask ``[B, Tk]`` get weight 0."""
    batch, query_steps, dim = query.shape
    checks.check_divisible("attention", "dim", dim, "num_heads", num_heads)
    head = dim // num_heads
    allowed = _allowed(query_steps, key.shape[1], causal, mask, batch)

    def heads(tensor):
        return tensor.reshape(batch, tensor.shape[1], num_heads, head).transpose(0, 2, 1, 3)

    scores = jnp.matmul(heads(query), heads(key).transpose(0, 1, 3, 2)) / math.sqrt(head)
    if allowed is not None:
        scores = jnp.where(allowed, scores, jnp.finfo(scores.dtype).min)
    weights = jax.nn.softmax(scores, axis=-1)
    if allowed is not None:
        weights = jnp.where(allowed, weights, 0.0)
    if dropout is not None:  # on the attention weights (after the softmax and the masks)
        weights = dropout(weights)
    mixed = jnp.matmul(weights, heads(value))
    return mixed.transpose(0, 2, 1, 3).reshape(batch, query_steps, dim)


def _allowed(query_steps, key_steps, causal, mask, batch):
    """The causal triangle ``[Tq, Tk]`` and the key mask ``[B, 1, 1, Tk]``, combined."""
    allowed = None
    if causal:
        allowed = jnp.tril(jnp.ones((query_steps, key_steps), dtype=bool))
    if mask is not None:
        checks.check_attention_mask("attention", mask.shape, batch, key_steps)
        keys = mask.astype(bool)[:, None, None, :]
        allowed = keys if allowed is None else allowed & keys
    return allowed


_DTYPES = {"f32": jnp.float32, "i32": jnp.int32, "i64": jnp.int64, "bool": jnp.bool_}


def cast(x, dtype):
    """The same values as ``dtype`` (``f32``, ``i32``, ``i64`` or ``bool``: not 0 is true;
    ``i64`` is jax's default integer: int32 unless x64 is enabled)."""
    checks.check_choice("cast", "dtype", dtype, tuple(_DTYPES))
    return x.astype(jax.dtypes.canonicalize_dtype(_DTYPES[dtype]))


def where(condition, a, b):
    """``a`` where ``condition`` is true, ``b`` elsewhere (tensors or numbers, broadcast)."""
    return jnp.where(condition, a, b)
