"""The unparametrised operations of the graph language on torch (``layers.relu``,
``layers.split``, ``layers.attention``...): pure functions of their inputs, the same names,
signatures and error messages on every backend. ``layers`` re-exports them.

Attention runs PyTorch's fused ``F.scaled_dot_product_attention`` (SDPA: the flash kernel on
CPU, flash / memory-efficient on CUDA) unless forward-mode AD passes through it or a dropout
on the attention weights is active; then it is written out (matmul, mask, softmax, matmul).
Measured with torch 2.13.0+cpu (see tests/runtime/test_torch_fused_attention.py):

- SDPA has no forward-mode rule on CPU: under ``torch.func.jvp`` and under
  ``torch.autograd.forward_ad`` it raises ``NotImplementedError: Trying to use forward AD
  with _scaled_dot_product_flash_attention_for_cpu`` in fp32 and bf16, without a mask, with
  ``is_causal=True``, with a boolean or an additive float mask alike. Only the unfused math
  kernel (``torch.nn.attention.sdpa_kernel(SDPBackend.MATH)``) passes a jvp; it is the
  written-out path inside torch, so the written-out path here is kept instead.
- The public ``torch.autograd.forward_ad.unpack_dual(t).tangent`` is not None for a tensor
  that carries a tangent at the innermost forward level, both under ``torch.func.jvp``
  (functorch wrappers) and inside ``forward_ad.dual_level()``; it costs about half a
  microsecond and ``torch.compile`` traces it without a graph break. ``attention`` checks
  query, key and value with it and writes attention out when one carries a tangent: the
  mean-flow objectives' ``jvp`` therefore gets the written-out path, every other call SDPA,
  chosen at run time without a flag. A tangent that only an OUTER level of nested jvps
  carries is invisible to ``unpack_dual``; SDPA then raises ``NotImplementedError`` before
  computing anything and ``attention`` falls back to the written-out path.
- Inputs without a tangent inside a jvp (keys of a context that does not depend on the
  differentiated inputs, with a query that does not either) run SDPA fine.
- A query whose keys are all masked: torch 2.13's CPU kernels already return 0 there with
  finite (zero) gradients, but CUDA kernels and other torch versions were not checked here
  (a -inf mask gives NaN), so such rows attend every key inside SDPA and their output is
  then set to 0: exactly the written-out result (weights set to 0 after the softmax), with
  zero gradients through those rows.
- ``is_causal=True`` is the top-left triangle ``j <= i`` also when ``Tq != Tk``, as here.
- Dropout on the attention weights (``MultiHeadAttention(dropout=p)`` in training, or any
  callable passed as ``dropout``) keeps the written-out path: the callable applies to the
  weights exactly as the reference does and the ``Dropout`` layer's draws stay what they
  were (seeded by ``state.seed_dropout``). SDPA's own ``dropout_p`` would draw other masks
  and on CPU it made SDPA 2x slower (causal, B=16, T=128, 4 heads of 64: 12 -> 22 ms per
  forward + backward), so nothing is gained here. A ``Dropout`` layer in evaluation mode is
  the identity and attention then runs SDPA.
- Results: fp32 SDPA equals the written-out path within 1e-5 relative; in bf16 SDPA
  accumulates in fp32 and so differs from the bf16 written-out path by bf16 rounding.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch.autograd import forward_ad

from specc.runtime import checks


def gelu(x, approximate="none"):
    checks.check_choice("gelu", "approximate", approximate, ("none", "tanh"))
    return F.gelu(x, approximate=approximate)


def relu(x):
    return torch.relu(x)


def silu(x):
    return F.silu(x)


def leaky_relu(x, negative_slope=0.01):
    return F.leaky_relu(x, negative_slope)


def elu(x, alpha=1.0):
    return F.elu(x, alpha)


def tanh(x):
    return torch.tanh(x)


def sigmoid(x):
    return torch.sigmoid(x)


def softmax(x, axis=-1):
    return torch.softmax(x, dim=axis)


def exp(x):
    return torch.exp(x)


def log(x):
    return torch.log(x)


def sqrt(x):
    return torch.sqrt(x)


def abs(x):  # noqa: A001 - the runtime's name for |x|
    return torch.abs(x)


def _axes(axis):
    return tuple(axis) if isinstance(axis, (list, tuple)) else axis


def mean(x, axis=-1, keepdims=False):
    return torch.mean(x, dim=_axes(axis), keepdim=keepdims)


def sum(x, axis=-1, keepdims=False):  # noqa: A001 - the runtime's name
    return torch.sum(x, dim=_axes(axis), keepdim=keepdims)


def matmul(a, b):
    return torch.matmul(a, b)


def reshape(x, shape, from_input=()):
    return torch.reshape(x, checks.reshape_target("reshape", tuple(x.shape), shape, from_input))


def transpose(x, axes):
    return torch.permute(x, checks.check_permutation("transpose", axes, x.ndim))


def swapaxes(x, axis1, axis2):
    return torch.swapaxes(x, axis1, axis2)


def concat(tensors, axis=-1):
    return torch.cat(list(tensors), dim=axis)


def split(x, sections, axis=-1):
    axis = checks.normalize_axis("split", axis, x.ndim)
    checks.check_divisible("split", f"axis {axis}", x.shape[axis], "sections", sections)
    return list(torch.split(x, x.shape[axis] // sections, dim=axis))


def flatten(x, start_axis=1):
    start_axis = checks.normalize_axis("flatten", start_axis, x.ndim)
    return torch.flatten(x, start_dim=start_axis)


def pad(x, before, after, axis=-1, mode="zeros"):
    checks.check_choice("pad", "mode", mode, ("zeros", "reflect"))
    axis = checks.normalize_axis("pad", axis, x.ndim)
    if mode == "zeros":
        widths = [0, 0] * (x.ndim - 1 - axis) + [before, after]
        return F.pad(x, widths)
    checks.check_reflect_padding("pad", x.shape[axis], before, after)
    moved = torch.movedim(x, axis, -1)
    shape = moved.shape
    flat = F.pad(moved.reshape(-1, 1, shape[-1]), [before, after], mode="reflect")
    return torch.movedim(flat.reshape(shape[:-1] + (flat.shape[-1],)), -1, axis)


def sinusoidal(x, dim):
    checks.check_even("sinusoidal", "dim", dim)
    half = dim // 2
    if not torch.is_floating_point(x):
        x = x.to(torch.float32)  # integer positions
    frequencies = torch.exp(
        -math.log(10000.0) * torch.arange(half, dtype=x.dtype, device=x.device) / half
    )
    arguments = x[..., None] * frequencies
    return torch.cat([torch.cos(arguments), torch.sin(arguments)], dim=-1)


def positions(x, axis=1, batched=False):
    axis = checks.positions_axis("positions", axis, x.ndim, batched)
    counted = torch.arange(x.shape[axis], dtype=torch.int64, device=x.device)
    return counted.expand(x.shape[0], -1) if batched else counted


def _channels_first(x):
    return torch.movedim(x, -1, 1)


def _channels_last(x):
    return torch.movedim(x, 1, -1)


_POOLS = {
    "avg_pool1d": (1, F.avg_pool1d),
    "max_pool1d": (1, F.max_pool1d),
    "avg_pool2d": (2, F.avg_pool2d),
    "max_pool2d": (2, F.max_pool2d),
}


def _pool(function, x, kernel_size, stride, padding):
    rank, pool = _POOLS[function]
    kernel, stride, padding = checks.pool_arguments(function, kernel_size, stride, padding, rank)
    for size, window, step, pad_size in zip(x.shape[1:-1], kernel, stride, padding):
        checks.conv_output_length(function, size, window, step, 1, pad_size, pad_size)
    return _channels_last(pool(_channels_first(x), kernel, stride, padding))


def avg_pool1d(x, kernel_size, stride=None, padding=0):
    return _pool("avg_pool1d", x, kernel_size, stride, padding)


def max_pool1d(x, kernel_size, stride=None, padding=0):
    return _pool("max_pool1d", x, kernel_size, stride, padding)


def avg_pool2d(x, kernel_size, stride=None, padding=0):
    return _pool("avg_pool2d", x, kernel_size, stride, padding)


def max_pool2d(x, kernel_size, stride=None, padding=0):
    return _pool("max_pool2d", x, kernel_size, stride, padding)


def attention(query, key, value, num_heads, causal=False, mask=None, dropout=None):
    """``softmax(q k^T / sqrt(d) + mask) v`` per head; keys hidden by ``causal`` or the
    boolean key mask ``[B, Tk]`` get weight 0 (see reference.attention). Fused SDPA unless a
    tangent passes through or ``dropout`` is active, then written out (module docstring)."""
    batch, query_steps, dim = query.shape
    checks.check_divisible("attention", "dim", dim, "num_heads", num_heads)
    head = dim // num_heads

    def heads(tensor):
        return tensor.reshape(batch, tensor.shape[1], num_heads, head).transpose(1, 2)

    queries, keys, values = heads(query), heads(key), heads(value)
    mixed = None
    if not _dropout_active(dropout) and not _carries_tangent(query, key, value):
        mixed = _fused_attention(queries, keys, values, causal, mask)
    if mixed is None:
        allowed = _allowed(query_steps, key.shape[1], causal, mask, batch, query.device)
        mixed = _written_out_attention(queries, keys, values, allowed, dropout)
    return mixed.transpose(1, 2).reshape(batch, query_steps, dim)


def _carries_tangent(*tensors):
    """Whether forward-mode AD (``torch.func.jvp``, ``forward_ad``) passes through."""
    return any(forward_ad.unpack_dual(tensor).tangent is not None for tensor in tensors)


def _dropout_active(dropout):
    """A callable on the weights, except a layer (``Dropout``) in evaluation mode."""
    return dropout is not None and getattr(dropout, "training", True)


def _fused_attention(query, key, value, causal, mask):
    """SDPA over ``[B, heads, T, d]``, a query with no key to attend giving 0; None when
    SDPA has no rule for its inputs (a tangent of an outer jvp level)."""
    batch, _, query_steps, _ = query.shape
    try:
        if mask is None:
            return F.scaled_dot_product_attention(query, key, value, is_causal=causal)
        allowed = _allowed(query_steps, key.shape[2], causal, mask, batch, query.device)
        has_key = allowed.any(dim=-1, keepdim=True)
        mixed = F.scaled_dot_product_attention(query, key, value, attn_mask=allowed | ~has_key)
    except NotImplementedError:
        return None
    return mixed.masked_fill(~has_key, 0.0)


def _written_out_attention(query, key, value, allowed, dropout):
    """Matmul, mask, softmax, mask, dropout, matmul over ``[B, heads, T, d]``."""
    scores = torch.matmul(query, key.transpose(-1, -2)) / math.sqrt(query.shape[-1])
    if allowed is not None:
        scores = scores.masked_fill(~allowed, torch.finfo(scores.dtype).min)
    weights = torch.softmax(scores, dim=-1)
    if allowed is not None:
        weights = weights.masked_fill(~allowed, 0.0)
    if dropout is not None:  # on the attention weights (after the softmax and the masks)
        weights = dropout(weights)
    return torch.matmul(weights, value)


def _allowed(query_steps, key_steps, causal, mask, batch, device):
    """The causal triangle ``[Tq, Tk]`` and the key mask ``[B, 1, 1, Tk]``, combined."""
    allowed = None
    if causal:
        allowed = torch.ones(query_steps, key_steps, dtype=torch.bool, device=device).tril()
    if mask is not None:
        checks.check_attention_mask("attention", tuple(mask.shape), batch, key_steps)
        keys = mask.to(torch.bool)[:, None, None, :]
        allowed = keys if allowed is None else allowed & keys
    return allowed


_DTYPES = {"f32": torch.float32, "i32": torch.int32, "i64": torch.int64, "bool": torch.bool}


def cast(x, dtype):
    """The same values as ``dtype`` (``f32``, ``i32``, ``i64`` or ``bool``: not 0 is true)."""
    checks.check_choice("cast", "dtype", dtype, tuple(_DTYPES))
    return x.to(_DTYPES[dtype])


def where(condition, a, b):
    """``a`` where ``condition`` is true, ``b`` elsewhere (tensors or numbers, broadcast)."""
    if not isinstance(a, torch.Tensor) and not isinstance(b, torch.Tensor):
        a = torch.tensor(a, device=condition.device)
        b = torch.tensor(b, device=condition.device)
        a, b = (a.to(torch.float32), b.to(torch.float32)) if a.is_floating_point() or b.is_floating_point() else (a, b)
    return torch.where(condition, a, b)
