"""JAX runtime layers: flax.nnx modules and functions on channels-last arrays.

Same names, signatures, defaults and error text as ``specc.runtime.{torch,mlx}.layers``;
the formulas are in ``specc.runtime.reference.layers`` and docs/runtime.md.
Parameters are ``nnx.Param`` arrays in the canonical (PyTorch) layout, built zero-filled
from ``specc.runtime.init.layer_parameters``: no framework RNG is used for init.
``Dropout`` and ``GaussianSample`` keep an ``nnx.RngStream`` in the module state (seed it with
``specc.runtime.jax.state.seed_dropout``), so a jitted pure step over ``nnx.split`` state
advances it.
"""

from __future__ import annotations


import jax
import jax.numpy as jnp
from flax import nnx

from specc.runtime import checks
from specc.runtime.init import layer_parameters

_CONV_DIMENSIONS = {1: ("NWC", "OIW", "NWC"), 2: ("NHWC", "OIHW", "NHWC")}

from specc.runtime.jax.functions import (  # noqa: F401 - the graph language's ops, called as layers.<op>
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

from specc.runtime.jax.statistics import BatchNorm, Buffer, RunningStatistics  # noqa: F401 - layers owning buffers

# ----------------------------------------------------------------------------- modules


class _Parametrised(nnx.Module):
    """Creates the zero-filled ``nnx.Param`` arrays that ``layer_parameters`` lists."""

    def _create(self, kind, **arguments):
        for parameter in layer_parameters(kind, **arguments):
            setattr(self, parameter.name, nnx.Param(jnp.zeros(parameter.shape, jnp.float32)))


class Linear(_Parametrised):
    """``x @ weight^T + bias``: ``[..., in_features] -> [..., out_features]``. ``tied``: the
    layer has no weight of its own; each call passes another layer's (weight tying)."""

    def __init__(self, in_features, out_features, bias=True, init="uniform_fan_in", tied=False):
        self.in_features, self.tied = in_features, tied
        self.bias = nnx.data(None)
        self._create(
            "Linear",
            in_features=in_features,
            out_features=out_features,
            bias=bias,
            init=init,
            tied=tied,
        )

    def __call__(self, x, weight=None):
        checks.check_channels("Linear", x.shape, self.in_features)
        checks.check_tied_weight("Linear", self.tied, weight is not None)
        y = jnp.matmul(x, (self.weight if weight is None else weight)[...].T)
        return y if self.bias is None else y + self.bias[...]


def _normalized_weight(module):
    if module.weight_norm:
        weight_v = module.weight_v[...]
        axes = tuple(range(1, weight_v.ndim))
        return (
            module.weight_g[...]
            * weight_v
            / jnp.sqrt(jnp.sum(weight_v**2, axis=axes, keepdims=True))
        )
    return module.weight[...]


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
        self.bias = nnx.data(None)
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

    def __call__(self, x):
        checks.check_rank(self.kind, "input", x.shape, self.rank + 2)
        checks.check_channels(self.kind, x.shape, self.in_channels)
        padding = self.padding
        if self.padding_mode == "reflect":
            for axis, (before, after) in enumerate(padding, start=1):
                checks.check_reflect_padding(self.kind, x.shape[axis], before, after)
        for size, window, step, rate, (before, after) in zip(
            x.shape[1:-1], self.kernel, self.stride, self.dilation, padding
        ):
            checks.conv_output_length(self.kind, size, window, step, rate, before, after)
        if self.padding_mode == "reflect":
            for axis, (before, after) in enumerate(padding, start=1):
                x = pad(x, before, after, axis=axis, mode="reflect")
            padding = ((0, 0),) * self.rank
        x, weight = _promote(x, _normalized_weight(self))
        y = jax.lax.conv_general_dilated(
            x,
            weight,
            self.stride,
            padding,
            rhs_dilation=self.dilation,
            dimension_numbers=_CONV_DIMENSIONS[self.rank],
            feature_group_count=self.groups,
        )
        return y if self.bias is None else y + self.bias[...]


def _promote(x, weight):
    """``lax.conv_general_dilated`` needs one dtype: both operands are promoted to their common
    type, as a matmul would (a bf16 run may feed a float32 activation into a bf16 kernel)."""
    dtype = jnp.result_type(x.dtype, weight.dtype)
    return x.astype(dtype), weight.astype(dtype)


class Conv1d(_Convolution):
    """``[B, T, in] -> [B, T', out]``; weight ``[out, in / groups, k]`` (see reference.conv1d)."""

    kind, rank = "Conv1d", 1


class Conv2d(_Convolution):
    """``[B, H, W, in] -> [B, H', W', out]``; weight ``[out, in / groups, kh, kw]``."""

    kind, rank = "Conv2d", 2


class ConvTranspose1d(_Parametrised):
    """``[B, T, in] -> [B, L, out]``, ``L = (T - 1) s - 2 p + d (k - 1) + output_padding + 1``;
    weight ``[in, out / groups, k]``. Computed as a convolution of the input dilated by the
    stride with the flipped kernel, padded ``d (k - 1) - p`` before and that plus
    ``output_padding`` after."""

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
        self.bias = nnx.data(None)
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
        self.in_channels, self.out_channels, self.kernel, self.stride = (
            in_channels,
            out_channels,
            kernel_size,
            stride,
        )
        self.padding, self.output_padding, self.dilation, self.groups = (
            padding,
            output_padding,
            dilation,
            groups,
        )
        self.weight_norm = weight_norm

    def __call__(self, x):
        checks.check_rank("ConvTranspose1d", "input", x.shape, 3)
        checks.check_channels("ConvTranspose1d", x.shape, self.in_channels)
        weight = _normalized_weight(self)
        groups, kernel = self.groups, self.kernel
        per_group = self.in_channels // groups
        weight = weight.reshape(groups, per_group, self.out_channels // groups, kernel)
        weight = weight.transpose(0, 2, 1, 3).reshape(self.out_channels, per_group, kernel)[
            ..., ::-1
        ]
        edge = self.dilation * (kernel - 1) - self.padding
        length = (
            (x.shape[1] - 1) * self.stride
            - 2 * self.padding
            + self.dilation * (kernel - 1)
            + self.output_padding
            + 1
        )
        if length < 1:
            raise ValueError(
                f"ConvTranspose1d: padding = {self.padding} leaves no output for an input of length {x.shape[1]}"
            )
        x, weight = _promote(x, weight)
        y = jax.lax.conv_general_dilated(
            x,
            weight,
            (1,),
            [(edge, edge + self.output_padding)],
            lhs_dilation=(self.stride,),
            rhs_dilation=(self.dilation,),
            dimension_numbers=_CONV_DIMENSIONS[1],
            feature_group_count=groups,
        )
        return y if self.bias is None else y + self.bias[...]


def _normalize(x, axes, eps):
    centred = x - jnp.mean(x, axis=axes, keepdims=True)
    return centred / jnp.sqrt(jnp.mean(centred**2, axis=axes, keepdims=True) + eps)


class LayerNorm(_Parametrised):
    """``(x - mean) / sqrt(var + eps) * weight + bias`` over the last axis."""

    def __init__(self, dim, eps=1e-5, affine=True, bias=True):
        self.weight, self.bias, self.eps = nnx.data(None), nnx.data(None), eps
        self._create("LayerNorm", dim=dim, eps=eps, affine=affine, bias=bias)

    def __call__(self, x):
        y = _normalize(x, -1, self.eps)
        if self.weight is not None:
            y = y * self.weight[...]
        if self.bias is not None:
            y = y + self.bias[...]
        return y


class GroupNorm(_Parametrised):
    """Channels-last group norm (see reference.group_norm)."""

    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True):
        self.weight, self.bias, self.eps = nnx.data(None), nnx.data(None), eps
        self.num_groups, self.num_channels = num_groups, num_channels
        self._create(
            "GroupNorm",
            num_groups=num_groups,
            num_channels=num_channels,
            eps=eps,
            affine=affine,
        )

    def __call__(self, x):
        checks.check_channels("GroupNorm", x.shape, self.num_channels)
        grouped = x.reshape(x.shape[:-1] + (self.num_groups, self.num_channels // self.num_groups))
        axes = tuple(range(1, x.ndim - 1)) + (x.ndim,)
        y = _normalize(grouped, axes, self.eps).reshape(x.shape)
        if self.weight is not None:
            y = y * self.weight[...] + self.bias[...]
        return y


class RMSNorm(_Parametrised):
    """``x / sqrt(mean(x^2) + eps) * weight`` over the last axis."""

    def __init__(self, dim, eps=1e-6, affine=True):
        self.weight, self.eps = nnx.data(None), eps
        self._create("RMSNorm", dim=dim, eps=eps, affine=affine)

    def __call__(self, x):
        y = x / jnp.sqrt(jnp.mean(x**2, axis=-1, keepdims=True) + self.eps)
        return y if self.weight is None else y * self.weight[...]


class Embedding(_Parametrised):
    """``weight[ids]``: integer ``ids`` of any shape -> ``ids.shape + [dim]``."""

    def __init__(self, num_embeddings, dim):
        self._create("Embedding", num_embeddings=num_embeddings, dim=dim)

    def __call__(self, ids):
        return jnp.take(self.weight[...], ids, axis=0)


class MultiHeadAttention(nnx.Module):
    """``out(attention(query(x), key(c), value(c), num_heads, causal, mask))``,
    ``c = context or x``; ``mask``: boolean ``[B, len(c)]``, True = attend. ``dropout > 0``:
    the attention weights go through a ``Dropout`` of that rate in training."""

    def __init__(self, dim, num_heads, causal=False, bias=True, dropout=0.0):
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

    def __call__(self, x, context=None, mask=None):
        source = x if context is None else context
        mixed = attention(
            self.query(x),
            self.key(source),
            self.value(source),
            self.num_heads,
            self.causal,
            mask,
            self.dropout,
        )
        return self.out(mixed)


class Dropout(nnx.Dropout):
    """Zero each value with probability ``rate`` and scale the rest by ``1 / (1 - rate)`` in
    training mode (``model.train()``); the identity after ``model.eval()``. The mask key comes
    from the module's own ``nnx.RngStream`` (``self.rngs``), seeded by
    ``state.seed_dropout(model, seed)``."""

    def __init__(self, rate):
        layer_parameters("Dropout", rate=rate)
        super().__init__(rate, rngs=nnx.Rngs(dropout=0))


class GaussianSample(nnx.Module):
    """Reparameterised draw ``mean + exp(logvar / 2) * eps``, ``eps ~ N(0, I)``, in training
    mode (``deterministic = False``, the default); ``mean`` after ``model.eval()``. The key
    comes from the module's own ``nnx.RngStream`` (``self.rngs``), as Dropout's, seeded by
    ``state.seed_dropout(model, seed)``: a jitted pure step over ``nnx.split`` state advances
    it."""

    def __init__(self):
        layer_parameters("GaussianSample")
        self.deterministic = False
        self.rngs = nnx.Rngs(sample=0)["sample"].fork()

    def __call__(self, mean, logvar):
        checks.check_same_shape(
            "GaussianSample", "mean", tuple(mean.shape), "logvar", tuple(logvar.shape)
        )
        if self.deterministic:
            return mean
        noise = jax.random.normal(self.rngs(), mean.shape, mean.dtype)
        return mean + jnp.exp(logvar / 2) * noise


class FreeParameter(_Parametrised):
    """A free ``parameter(shape, init)``: one learned ``nnx.Param`` ``weight`` of ``shape``,
    returned as is by a call without arguments."""

    def __init__(self, shape, init="zeros", std=1.0):
        self._create("FreeParameter", shape=shape, init=init, std=std)

    def __call__(self):
        return self.weight[...]


class PositionalEmbedding(_Parametrised):
    """Learned absolute positions: ``x + weight[:T]`` for ``x [B, T, dim]``, ``T <= max_length``
    (checked on the static shape, so it holds under ``jax.jit``)."""

    def __init__(self, max_length, dim):
        self.max_length, self.dim = max_length, dim
        self._create("PositionalEmbedding", max_length=max_length, dim=dim)

    def __call__(self, x):
        checks.check_positional_input("PositionalEmbedding", x.shape, self.max_length, self.dim)
        return x + self.weight[...][: x.shape[1]]
