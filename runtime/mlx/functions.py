"""The unparametrised operations of the graph language on mlx (``layers.relu``,
``layers.split``, ``layers.attention``...): pure functions of their inputs, the same names,
signatures and error messages on every backend. ``layers`` re-exports them."""

from __future__ import annotations

import functools
import math

import mlx.core as mx

from specc.runtime import checks


def gelu(x, approximate="none"):
    checks.check_choice("gelu", "approximate", approximate, ("none", "tanh"))
    if approximate == "tanh":
        return 0.5 * x * (1.0 + mx.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))
    return 0.5 * x * (1.0 + mx.erf(x / math.sqrt(2.0)))


def relu(x):
    return mx.maximum(x, 0.0)


def silu(x):
    return x * mx.sigmoid(x)


def leaky_relu(x, negative_slope=0.01):
    return mx.where(x >= 0, x, negative_slope * x)


def elu(x, alpha=1.0):
    """``x`` where ``x > 0``, else ``alpha * (exp(x) - 1)`` (exp of ``min(x, 0)``: no overflow)."""
    return mx.where(x > 0, x, alpha * (mx.exp(mx.minimum(x, 0.0)) - 1.0))


def tanh(x):
    return mx.tanh(x)


def sigmoid(x):
    return mx.sigmoid(x)


def softmax(x, axis=-1):
    return mx.softmax(x, axis=axis)


def exp(x):
    return mx.exp(x)


def log(x):
    return mx.log(x)


def sqrt(x):
    return mx.sqrt(x)


def abs(x):  # noqa: A001 - the runtime's name for |x|
    return mx.abs(x)


def _axes(axis):
    return list(axis) if isinstance(axis, (list, tuple)) else axis


def mean(x, axis=-1, keepdims=False):
    return mx.mean(x, axis=_axes(axis), keepdims=keepdims)


def sum(x, axis=-1, keepdims=False):  # noqa: A001 - the runtime's name
    return mx.sum(x, axis=_axes(axis), keepdims=keepdims)


def matmul(a, b):
    return mx.matmul(a, b)


def reshape(x, shape, from_input=()):
    return mx.reshape(x, checks.reshape_target("reshape", x.shape, shape, from_input))


def transpose(x, axes):
    return mx.transpose(x, checks.check_permutation("transpose", axes, x.ndim))


def swapaxes(x, axis1, axis2):
    return mx.swapaxes(x, axis1, axis2)


def concat(tensors, axis=-1):
    return mx.concatenate(list(tensors), axis=axis)


def split(x, sections, axis=-1):
    """``sections`` equal parts along ``axis``, as a list. Slices, not ``mx.split``: that
    primitive's several outputs crash ``mx.compile`` (``IndexError: _Map_base::at``) in a
    step that updates one model and then differentiates through it (the adversarial step
    with a stereo MS-STFT discriminator, which splits the channels)."""
    axis = checks.normalize_axis("split", axis, x.ndim)
    checks.check_divisible("split", f"axis {axis}", x.shape[axis], "sections", sections)
    size = x.shape[axis] // sections
    before = (slice(None),) * axis
    return [x[before + (slice(start, start + size),)] for start in range(0, x.shape[axis], size)]


def flatten(x, start_axis=1):
    start_axis = checks.normalize_axis("flatten", start_axis, x.ndim)
    return mx.reshape(x, tuple(x.shape[:start_axis]) + (-1,))


def pad(x, before, after, axis=-1, mode="zeros"):
    checks.check_choice("pad", "mode", mode, ("zeros", "reflect"))
    axis = checks.normalize_axis("pad", axis, x.ndim)
    if mode == "reflect":
        checks.check_reflect_padding("pad", x.shape[axis], before, after)
    widths = [(0, 0)] * x.ndim
    widths[axis] = (before, after)
    return mx.pad(x, widths, mode="reflect" if mode == "reflect" else "constant")


def sinusoidal(x, dim):
    checks.check_even("sinusoidal", "dim", dim)
    half = dim // 2
    frequencies = mx.exp(-math.log(10000.0) * mx.arange(half, dtype=mx.float32) / half)
    arguments = x[..., None] * frequencies  # integer positions promote to float32
    return mx.concatenate([mx.cos(arguments), mx.sin(arguments)], axis=-1)


def positions(x, axis=1, batched=False):
    axis = checks.positions_axis("positions", axis, x.ndim, batched)
    counted = mx.arange(x.shape[axis], dtype=mx.int64)
    return mx.broadcast_to(counted, (x.shape[0], x.shape[axis])) if batched else counted


def _pool(function, x, kernel_size, stride, padding, rank, reduce):
    kernel, stride, padding = checks.pool_arguments(function, kernel_size, stride, padding, rank)
    lengths = [
        checks.conv_output_length(function, size, window, step, 1, pad_size, pad_size)
        for size, window, step, pad_size in zip(x.shape[1:-1], kernel, stride, padding)
    ]
    if tuple(stride) == tuple(kernel) and not any(padding):  # windows side by side: one reduction
        return _tiled_pool(x, kernel, reduce)
    if any(padding):
        fill = -math.inf if reduce == "max" else 0.0
        widths = [(0, 0)] + [(size, size) for size in padding] + [(0, 0)]
        x = mx.pad(x, widths, constant_values=fill)
    result = None
    for offsets in _offsets(kernel):
        spatial = tuple(
            slice(offset, offset + step * (length - 1) + 1, step)
            for offset, step, length in zip(offsets, stride, lengths)
        )
        window = x[(slice(None),) + spatial]
        if result is None:
            result = window
        else:
            result = _later_if_greater(result, window) if reduce == "max" else result + window
    return result if reduce == "max" else result / math.prod(kernel)


def _later_if_greater(result, window):
    """``maximum(result, window)`` whose gradient keeps the earlier window on ties and takes a
    later NaN, as torch's pools choose (``mx.maximum``'s gradient goes to the later value)."""
    return mx.where((window > result) | mx.isnan(window), window, result)


def _tiled_pool(x, kernel, reduce):
    """Windows that tile the input (stride = kernel, no padding): one reshape and a reduction
    over the window axes (``checks.pool_tiles``; forward and backward about 2.5x faster than
    a maximum over the strided slices of every offset, same values)."""
    covered, shape, axes = checks.pool_tiles(x.shape, kernel)
    tiles = x[covered].reshape(shape)
    return _first_maximum(axes)(tiles) if reduce == "max" else tiles.mean(axis=axes)


@functools.lru_cache(maxsize=None)
def _first_maximum(axes):
    """The maximum over ``axes``; its gradient goes to the first maximum of each window in
    row-major order, or to its last NaN, as torch's pools give it (``mx.max``'s own gradient
    splits it among equal values: a ReLU's zeros or repeated inputs)."""

    @mx.custom_function
    def maximum(tiles):
        return tiles.max(axis=axes)

    @maximum.vjp
    def maximum_gradient(tiles, cotangent, result):  # one input: the arrays themselves
        order = mx.array(0.0)  # each window position's row-major index, [1, 1, k1, 1, k2, ..., 1]
        for axis in axes:
            shape = [1] * tiles.ndim
            shape[axis] = tiles.shape[axis]
            order = order * tiles.shape[axis] + mx.arange(tiles.shape[axis], dtype=mx.float32).reshape(shape)
        last = math.prod(tiles.shape[axis] for axis in axes)
        # highest rank wins: the first maximum, outranked by any NaN, the last NaN first
        # (products, not mx.where: on the CPU a broadcast where costs several times more)
        rank = (tiles == mx.expand_dims(result, axes)) * (last - order) + mx.isnan(tiles) * (last + 1 + order)
        chosen = rank == rank.max(axis=axes, keepdims=True)
        return (chosen * mx.expand_dims(cotangent, axes)).astype(tiles.dtype)

    return maximum


def _offsets(kernel):
    if not kernel:
        return [()]
    return [(first,) + rest for first in range(kernel[0]) for rest in _offsets(kernel[1:])]


def avg_pool1d(x, kernel_size, stride=None, padding=0):
    return _pool("avg_pool1d", x, kernel_size, stride, padding, 1, "mean")


def max_pool1d(x, kernel_size, stride=None, padding=0):
    return _pool("max_pool1d", x, kernel_size, stride, padding, 1, "max")


def avg_pool2d(x, kernel_size, stride=None, padding=0):
    return _pool("avg_pool2d", x, kernel_size, stride, padding, 2, "mean")


def max_pool2d(x, kernel_size, stride=None, padding=0):
    return _pool("max_pool2d", x, kernel_size, stride, padding, 2, "max")


def attention(query, key, value, num_heads, causal=False, mask=None, dropout=None):
    """``softmax(q k^T / sqrt(d) + mask) v`` per head; keys hidden by ``causal`` or the
    boolean key mask ``[B, Tk]`` get weight 0, a query with no key to attend outputs 0.
    ``mx.fast.scaled_dot_product_attention`` unless ``dropout`` is active (a callable on the
    weights, except a ``Dropout`` in evaluation), then written out (matmul, mask, softmax,
    dropout, matmul) so that the dropout's draws stay on the weights. The fused call has
    MLX's JVP and VJP (its fallback ops, which are what runs on a CPU), so ``mx.jvp`` (the
    mean-flow objectives) passes through it."""
    batch, query_steps, dim = query.shape
    checks.check_divisible("attention", "dim", dim, "num_heads", num_heads)
    head = dim // num_heads

    def heads(tensor):
        return tensor.reshape(batch, tensor.shape[1], num_heads, head).transpose(0, 2, 1, 3)

    queries, keys, values = heads(query), heads(key), heads(value)
    if _dropout_active(dropout):
        allowed = _allowed(query_steps, key.shape[1], causal, mask, batch)
        mixed = _written_out_attention(queries, keys, values, allowed, dropout)
    else:
        mixed = _fused_attention(queries, keys, values, causal, mask)
    return mixed.transpose(0, 2, 1, 3).reshape(batch, query_steps, dim)


def _dropout_active(dropout):
    """A callable on the weights, except a layer (``Dropout``) in evaluation mode."""
    return dropout is not None and getattr(dropout, "training", True)


def _fused_attention(query, key, value, causal, mask):
    """``mx.fast.scaled_dot_product_attention`` over ``[B, heads, T, d]``. Causal alone with
    as many queries as keys is the kernel's own ``"causal"`` (its triangle is aligned
    bottom-right, ours top-left: the same when the lengths agree); otherwise a boolean mask
    in which a query with no key attends every key, and its output is set to 0 afterwards
    (zero gradients through it, whatever the kernel does with an empty row)."""
    batch, _, query_steps, head = query.shape
    key_steps = key.shape[2]
    scale = 1.0 / math.sqrt(head)
    if mask is None and (not causal or query_steps == key_steps):
        kernel_mask = "causal" if causal else None
        return mx.fast.scaled_dot_product_attention(query, key, value, scale=scale, mask=kernel_mask)
    allowed = _allowed(query_steps, key_steps, causal, mask, batch)
    has_key = mx.any(allowed, axis=-1, keepdims=True)
    if mask is None:  # the causal triangle alone: every query sees key 0
        return mx.fast.scaled_dot_product_attention(query, key, value, scale=scale, mask=allowed)
    opened = mx.logical_or(allowed, mx.logical_not(has_key))
    mixed = mx.fast.scaled_dot_product_attention(query, key, value, scale=scale, mask=opened)
    return mx.where(has_key, mixed, 0.0)


def _written_out_attention(query, key, value, allowed, dropout):
    """Matmul, mask, softmax, mask, dropout, matmul over ``[B, heads, T, d]``."""
    scores = mx.matmul(query, key.transpose(0, 1, 3, 2)) / math.sqrt(query.shape[-1])
    if allowed is not None:
        scores = mx.where(allowed, scores, mx.finfo(scores.dtype).min)
    weights = mx.softmax(scores, axis=-1)
    if allowed is not None:
        weights = mx.where(allowed, weights, 0.0)
    weights = dropout(weights)  # on the attention weights (after the softmax and the masks)
    return mx.matmul(weights, value)


def _allowed(query_steps, key_steps, causal, mask, batch):
    """The causal triangle ``[Tq, Tk]`` and the key mask ``[B, 1, 1, Tk]``, combined."""
    allowed = None
    if causal:
        allowed = mx.tril(mx.ones((query_steps, key_steps), dtype=mx.bool_))
    if mask is not None:
        checks.check_attention_mask("attention", mask.shape, batch, key_steps)
        keys = mask.astype(mx.bool_)[:, None, None, :]
        allowed = keys if allowed is None else mx.logical_and(allowed, keys)
    return allowed


_DTYPES = {"f32": mx.float32, "i32": mx.int32, "i64": mx.int64, "bool": mx.bool_}


def cast(x, dtype):
    """The same values as ``dtype`` (``f32``, ``i32``, ``i64`` or ``bool``: not 0 is true)."""
    checks.check_choice("cast", "dtype", dtype, tuple(_DTYPES))
    if dtype == "bool":
        return x != 0
    return x.astype(_DTYPES[dtype])


def where(condition, a, b):
    """``a`` where ``condition`` is true, ``b`` elsewhere (tensors or numbers, broadcast)."""
    return mx.where(condition, a, b)
