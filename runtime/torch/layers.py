"""PyTorch runtime layers: torch.nn modules and functions on channels-last tensors.

Same names, signatures, defaults and error text as ``specc.runtime.{jax,mlx}.layers``;
the formulas are in ``specc.runtime.reference.layers`` and docs/runtime.md.
Convolutions permute ``[B, T, C]`` to torch's ``[B, C, T]`` and back internally.
Parameters are built zero-filled from ``specc.runtime.init.layer_parameters`` (no torch
RNG). Attention is PyTorch's fused ``scaled_dot_product_attention``, written out (matmul,
mask, softmax, matmul) where ``torch.func.jvp`` passes through it or attention dropout is
active (``functions.attention``). ``Dropout`` draws from torch's global generator (seeded by
``specc.runtime.torch.state.seed_dropout`` / Lightning's ``seed_everything``).
"""

from __future__ import annotations


import torch
import torch.nn.functional as F
from torch import nn

from specc.runtime import checks
from specc.runtime.init import layer_parameters

from specc.runtime.torch.functions import _carries_tangent, _channels_first, _channels_last
from specc.runtime.torch.functions import (  # noqa: F401 - the graph language's ops, called as layers.<op>
    cast,
    where,
    gelu,
    relu,
    silu,
    leaky_relu,
    elu,
    tanh,
    sigmoid,
    softmax,
    exp,
    log,
    sqrt,
    abs,
    mean,
    sum,
    matmul,
    reshape,
    transpose,
    swapaxes,
    concat,
    split,
    flatten,
    pad,
    sinusoidal,
    positions,
    avg_pool1d,
    max_pool1d,
    avg_pool2d,
    max_pool2d,
    attention,
)

from specc.runtime.torch.statistics import BatchNorm, Buffer, RunningStatistics  # noqa: F401 - layers owning buffers

# ----------------------------------------------------------------------------- modules


class _Parametrised(nn.Module):
    """Creates the zero-filled parameters that ``layer_parameters`` lists."""

    def _create(self, kind, **arguments):
        for parameter in layer_parameters(kind, **arguments):
            setattr(self, parameter.name, nn.Parameter(torch.zeros(parameter.shape)))

    def _weight(self):
        """``weight``, or ``g * v / ||v||`` (norm over all axes but 0) with weight norm."""
        if self.weight_norm:
            axes = tuple(range(1, self.weight_v.ndim))
            return (
                self.weight_g
                * self.weight_v
                / torch.sqrt(torch.sum(self.weight_v**2, dim=axes, keepdim=True))
            )
        return self.weight


class Linear(_Parametrised):
    """``x @ weight^T + bias``: ``[..., in_features] -> [..., out_features]``. ``tied``: the
    layer has no weight of its own; each call passes another layer's (weight tying)."""

    def __init__(self, in_features, out_features, bias=True, init="uniform_fan_in", tied=False):
        super().__init__()
        self.in_features, self.tied = in_features, tied
        self.bias = None
        self._create(
            "Linear",
            in_features=in_features,
            out_features=out_features,
            bias=bias,
            init=init,
            tied=tied,
        )

    def forward(self, x, weight=None):
        checks.check_channels("Linear", tuple(x.shape), self.in_features)
        checks.check_tied_weight("Linear", self.tied, weight is not None)
        return F.linear(x, self.weight if weight is None else weight, self.bias)


_CONVOLUTIONS = {1: F.conv1d, 2: F.conv2d}


class _Convolution(_Parametrised):
    kind = ""
    rank = 0

    def __init__(
        self,
        in_channels,
        out_channels,
        kernel_size,
        stride=1,
        padding=0,
        dilation=1,
        groups=1,
        bias=True,
        padding_mode="zeros",
        weight_norm=False,
        init="uniform_fan_in",
    ):
        super().__init__()
        self.bias = None
        self._create(
            self.kind,
            in_channels=in_channels,
            out_channels=out_channels,
            kernel_size=kernel_size,
            stride=stride,
            padding=padding,
            dilation=dilation,
            groups=groups,
            bias=bias,
            padding_mode=padding_mode,
            weight_norm=weight_norm,
            init=init,
        )
        kernel = checks.normalize_tuple(self.kind, "kernel_size", kernel_size, self.rank)
        self.stride = checks.normalize_tuple(self.kind, "stride", stride, self.rank)
        self.dilation = checks.normalize_tuple(self.kind, "dilation", dilation, self.rank)
        self.padding = checks.conv_padding(self.kind, padding, kernel, self.stride, self.dilation)
        self.kernel, self.in_channels, self.groups = kernel, in_channels, groups
        self.padding_mode, self.weight_norm = padding_mode, weight_norm

    def forward(self, x):
        checks.check_rank(self.kind, "input", tuple(x.shape), self.rank + 2)
        checks.check_channels(self.kind, tuple(x.shape), self.in_channels)
        if self.padding_mode == "reflect":
            for axis, (before, after) in enumerate(self.padding, start=1):
                checks.check_reflect_padding(self.kind, x.shape[axis], before, after)
        for size, window, step, rate, (before, after) in zip(
            x.shape[1:-1], self.kernel, self.stride, self.dilation, self.padding
        ):
            checks.conv_output_length(self.kind, size, window, step, rate, before, after)
        x, padding = self._padded(_channels_first(x))
        convolve = _CONVOLUTIONS[self.rank]
        y = convolve(x, self._weight(), self.bias, self.stride, padding, self.dilation, self.groups)
        return _channels_last(y)

    def _padded(self, x):
        """``x`` and the padding left for the convolution: zero padding equal on both sides is
        the convolution's own (no padded copy, forward or backward); reflect or uneven padding
        (``same`` with an even kernel) is an ``F.pad`` first."""
        if self.padding_mode != "reflect" and all(before == after for before, after in self.padding):
            return x, tuple(before for before, _ in self.padding)
        widths = [size for pair in reversed(self.padding) for size in pair]
        return F.pad(x, widths, mode="reflect" if self.padding_mode == "reflect" else "constant"), 0


class Conv1d(_Convolution):
    """``[B, T, in] -> [B, T', out]``; weight ``[out, in / groups, k]`` (see reference.conv1d)."""

    kind, rank = "Conv1d", 1


class Conv2d(_Convolution):
    """``[B, H, W, in] -> [B, H', W', out]``; weight ``[out, in / groups, kh, kw]``."""

    kind, rank = "Conv2d", 2


class ConvTranspose1d(_Parametrised):
    """``[B, T, in] -> [B, L, out]``, ``L = (T - 1) s - 2 p + d (k - 1) + output_padding + 1``;
    weight ``[in, out / groups, k]`` (torch's own conv_transpose1d)."""

    def __init__(
        self,
        in_channels,
        out_channels,
        kernel_size,
        stride=1,
        padding=0,
        output_padding=0,
        dilation=1,
        groups=1,
        bias=True,
        weight_norm=False,
        init="uniform_fan_in",
    ):
        super().__init__()
        self.bias = None
        self._create(
            "ConvTranspose1d",
            in_channels=in_channels,
            out_channels=out_channels,
            kernel_size=kernel_size,
            stride=stride,
            padding=padding,
            output_padding=output_padding,
            dilation=dilation,
            groups=groups,
            bias=bias,
            weight_norm=weight_norm,
            init=init,
        )
        self.in_channels, self.kernel, self.stride, self.padding = (
            in_channels,
            kernel_size,
            stride,
            padding,
        )
        self.output_padding, self.dilation, self.groups = (
            output_padding,
            dilation,
            groups,
        )
        self.weight_norm = weight_norm

    def forward(self, x):
        checks.check_rank("ConvTranspose1d", "input", tuple(x.shape), 3)
        checks.check_channels("ConvTranspose1d", tuple(x.shape), self.in_channels)
        length = (
            (x.shape[1] - 1) * self.stride
            - 2 * self.padding
            + self.dilation * (self.kernel - 1)
            + self.output_padding
            + 1
        )
        if length < 1:
            raise ValueError(
                f"ConvTranspose1d: padding = {self.padding} leaves no output for an input of length {x.shape[1]}"
            )
        y = F.conv_transpose1d(
            _channels_first(x),
            self._weight(),
            self.bias,
            self.stride,
            self.padding,
            self.output_padding,
            self.groups,
            self.dilation,
        )
        return _channels_last(y)


def _normalize(x, axes, eps):
    centred = x - torch.mean(x, dim=axes, keepdim=True)
    return centred / torch.sqrt(torch.mean(centred**2, dim=axes, keepdim=True) + eps)


class LayerNorm(_Parametrised):
    """``(x - mean) / sqrt(var + eps) * weight + bias`` over the last axis."""

    def __init__(self, dim, eps=1e-5, affine=True, bias=True):
        super().__init__()
        self.weight, self.bias, self.eps = None, None, eps
        self._create("LayerNorm", dim=dim, eps=eps, affine=affine, bias=bias)

    def forward(self, x):
        if not _carries_tangent(x):  # torch's fused kernel, 5x faster on a CPU
            return F.layer_norm(x, x.shape[-1:], self.weight, self.bias, self.eps)
        # written out under forward-mode AD: differentiating through F.layer_norm's tangent
        # gives other gradients than jax and mlx (tests/runtime/test_state_init.py)
        y = _normalize(x, -1, self.eps)
        if self.weight is not None:
            y = y * self.weight
        return y if self.bias is None else y + self.bias


class GroupNorm(_Parametrised):
    """Channels-last group norm (see reference.group_norm)."""

    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True):
        super().__init__()
        self.weight, self.bias, self.eps = None, None, eps
        self.num_groups, self.num_channels = num_groups, num_channels
        self._create(
            "GroupNorm",
            num_groups=num_groups,
            num_channels=num_channels,
            eps=eps,
            affine=affine,
        )

    def forward(self, x):
        checks.check_channels("GroupNorm", tuple(x.shape), self.num_channels)
        grouped = x.reshape(
            tuple(x.shape[:-1]) + (self.num_groups, self.num_channels // self.num_groups)
        )
        axes = tuple(range(1, x.ndim - 1)) + (x.ndim,)
        y = _normalize(grouped, axes, self.eps).reshape(x.shape)
        return y if self.weight is None else y * self.weight + self.bias


class RMSNorm(_Parametrised):
    """``x / sqrt(mean(x^2) + eps) * weight`` over the last axis."""

    def __init__(self, dim, eps=1e-6, affine=True):
        super().__init__()
        self.weight, self.eps = None, eps
        self._create("RMSNorm", dim=dim, eps=eps, affine=affine)

    def forward(self, x):
        y = x / torch.sqrt(torch.mean(x**2, dim=-1, keepdim=True) + self.eps)
        return y if self.weight is None else y * self.weight


class Embedding(_Parametrised):
    """``weight[ids]``: integer ``ids`` of any shape -> ``ids.shape + [dim]``."""

    def __init__(self, num_embeddings, dim):
        super().__init__()
        self._create("Embedding", num_embeddings=num_embeddings, dim=dim)

    def forward(self, ids):
        return F.embedding(ids.long(), self.weight)


class MultiHeadAttention(nn.Module):
    """``out(attention(query(x), key(c), value(c), num_heads, causal, mask))``,
    ``c = context or x``; ``mask``: boolean ``[B, len(c)]``, True = attend. ``dropout > 0``:
    the attention weights go through a ``Dropout`` of that rate in training. The projections
    of one input run as one matmul (``_projections``)."""

    def __init__(self, dim, num_heads, causal=False, bias=True, dropout=0.0):
        super().__init__()
        layer_parameters(
            "MultiHeadAttention",
            dim=dim,
            num_heads=num_heads,
            causal=causal,
            bias=bias,
            dropout=dropout,
        )
        self.num_heads, self.causal = num_heads, causal
        self.query = Linear(dim, dim, bias)
        self.key = Linear(dim, dim, bias)
        self.value = Linear(dim, dim, bias)
        self.out = Linear(dim, dim, bias)
        # on the attention weights in training; a sub-layer, so it is seeded and switched
        # between training and evaluation as every Dropout is
        self.dropout = Dropout(dropout) if dropout > 0.0 else None

    def forward(self, x, context=None, mask=None):
        if context is None:  # self-attention: query, key and value in one matmul (fused qkv)
            query, key, value = _projections(x, (self.query, self.key, self.value))
        else:
            query = self.query(x)
            key, value = _projections(context, (self.key, self.value))
        mixed = attention(query, key, value, self.num_heads, self.causal, mask, self.dropout)
        return self.out(mixed)


def _projections(x, linears):
    """``[linear(x) for linear in linears]`` as one ``F.linear`` over their weights (and
    biases) concatenated at call time: one matmul where nanoGPT has its fused ``qkv``, while
    the parameters keep their names, shapes and initial values."""
    first = linears[0]
    checks.check_channels("Linear", tuple(x.shape), first.in_features)
    weight = torch.cat([linear.weight for linear in linears])
    bias = None if first.bias is None else torch.cat([linear.bias for linear in linears])
    return F.linear(x, weight, bias).split(first.weight.shape[0], dim=-1)


class Dropout(nn.Module):
    """Zero each value with probability ``rate`` and scale the rest by ``1 / (1 - rate)`` in
    training mode (``model.train()``); the identity after ``model.eval()``. Draws from torch's
    global generator."""

    def __init__(self, rate):
        super().__init__()
        layer_parameters("Dropout", rate=rate)
        self.rate = rate

    def forward(self, x):
        return F.dropout(x, self.rate, self.training)


class GaussianSample(nn.Module):
    """Reparameterised draw ``mean + exp(logvar / 2) * eps``, ``eps ~ N(0, I)``, in training
    mode; ``mean`` after ``model.eval()``. Draws from torch's global generator, as Dropout."""

    def __init__(self):
        super().__init__()
        layer_parameters("GaussianSample")

    def forward(self, mean, logvar):
        checks.check_same_shape(
            "GaussianSample", "mean", tuple(mean.shape), "logvar", tuple(logvar.shape)
        )
        if not self.training:
            return mean
        return mean + torch.exp(logvar / 2) * torch.randn_like(mean)


class FreeParameter(_Parametrised):
    """A free ``parameter(shape, init)``: one learned array ``weight`` of ``shape``, returned
    as is by ``forward()``."""

    def __init__(self, shape, init="zeros", std=1.0):
        super().__init__()
        self._create("FreeParameter", shape=shape, init=init, std=std)

    def forward(self):
        return self.weight


class PositionalEmbedding(_Parametrised):
    """Learned absolute positions: ``x + weight[:T]`` for ``x [B, T, dim]``, ``T <= max_length``."""

    def __init__(self, max_length, dim):
        super().__init__()
        self.max_length, self.dim = max_length, dim
        self._create("PositionalEmbedding", max_length=max_length, dim=dim)

    def forward(self, x):
        checks.check_positional_input(
            "PositionalEmbedding", tuple(x.shape), self.max_length, self.dim
        )
        return x + self.weight[: x.shape[1]]
