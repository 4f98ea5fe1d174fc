"""MLX runtime layers: mlx.nn modules and functions on channels-last arrays.

Same names, signatures, defaults and error text as ``specc.runtime.{jax,torch}.layers``;
the formulas are in ``specc.runtime.reference.layers`` and docs/runtime.md.
Parameters are stored in the canonical (PyTorch) layout, built zero-filled from
``specc.runtime.init.layer_parameters`` (no MLX RNG); convolutions move the kernel's input
axis last (MLX's ``[out, *kernel, in]``) at call time.

MLX has no JVP rule for convolution, so every convolution goes through ``_convolution``,
an ``mx.custom_function`` whose JVP is ``conv(dx, w) + conv(x, dw)`` (a convolution is
bilinear in input and weight): ``mx.jvp`` passes through Conv1d, Conv2d and
ConvTranspose1d with tangents on inputs and weights. Norms are written out because
``mx.fast.layer_norm`` returns zero tangents under ``mx.jvp``.
"""

from __future__ import annotations

import functools

import mlx.core as mx
from mlx import nn

from specc.runtime import checks
from specc.runtime.init import layer_parameters
from specc.runtime.mlx import products

from specc.runtime.mlx.functions import (  # noqa: F401 - the graph language's ops, called as layers.<op>
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

# ----------------------------------------------------------------------------- convolution


@functools.lru_cache(maxsize=None)
def _convolution(stride, before, after, dilation, input_dilation, groups, flip):
    """``mx.conv_general`` with these settings as a custom function with a JVP rule.
    Arguments: input ``[B, *spatial, in]``, weight ``[out, *kernel, in / groups]``.

    MLX still walks the primitives inside a custom function when it computes a JVP, so the
    forward runs on ``stop_gradient`` copies of the inputs, and the VJP is given
    explicitly as the convolution's own VJP."""

    def convolve(x, weight):
        return mx.conv_general(
            x,
            weight,
            stride=list(stride),
            padding=(list(before), list(after)),
            kernel_dilation=list(dilation),
            input_dilation=list(input_dilation),
            groups=groups,
            flip=flip,
        )

    @mx.custom_function
    def function(x, weight):
        return convolve(mx.stop_gradient(x), mx.stop_gradient(weight))

    @function.jvp
    def convolve_jvp(primals, tangents):
        """``conv(dx, w) + conv(x, dw)``: a convolution is bilinear in input and weight."""
        return products.bilinear_tangent(convolve, primals, tangents)

    @function.vjp
    def convolve_vjp(primals, cotangent, output):
        return mx.vjp(convolve, list(primals), [cotangent])[1]

    return function


def _native(weight):
    """Canonical ``[out, in / groups, *kernel]`` -> MLX's ``[out, *kernel, in / groups]``."""
    return mx.moveaxis(weight, 1, -1)


from specc.runtime.mlx.statistics import BatchNorm, Buffer, RunningStatistics  # noqa: F401 - layers owning buffers

# ----------------------------------------------------------------------------- modules


class _Parametrised(nn.Module):
    """Creates the zero-filled arrays that ``layer_parameters`` lists."""

    def _create(self, kind, **arguments):
        for parameter in layer_parameters(kind, **arguments):
            setattr(self, parameter.name, mx.zeros(parameter.shape, dtype=mx.float32))

    def _weight(self):
        """``weight``, or ``g * v / ||v||`` (norm over all axes but 0) with weight norm."""
        if self.weight_norm:
            axes = list(range(1, self.weight_v.ndim))
            return (
                self.weight_g
                * self.weight_v
                / mx.sqrt(mx.sum(self.weight_v**2, axis=axes, keepdims=True))
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

    def __call__(self, x, weight=None):
        checks.check_channels("Linear", x.shape, self.in_features)
        checks.check_tied_weight("Linear", self.tied, weight is not None)
        y = products.transposed_product(x, self.weight if weight is None else weight)
        return y if self.bias is None else y + self.bias


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
        before, after = tuple(pair[0] for pair in padding), tuple(pair[1] for pair in padding)
        weight = _native(self._weight())
        if self.groups == 1 and products.patches_are_faster():
            y = products.convolution_by_patches(x, weight, self.stride, before, after, self.dilation)
        else:
            convolve = _convolution(self.stride, before, after, self.dilation, (1,) * self.rank, self.groups, False)
            y = convolve(x, weight)
        return y if self.bias is None else y + self.bias


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
    ``output_padding`` after (a negative padding crops the result)."""

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
        groups, kernel = self.groups, self.kernel
        per_group = self.in_channels // groups
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
        weight = self._weight().reshape(groups, per_group, self.out_channels // groups, kernel)
        weight = weight.transpose(0, 2, 3, 1).reshape(self.out_channels, kernel, per_group)
        edge = self.dilation * (kernel - 1) - self.padding
        before, after = edge, edge + self.output_padding
        convolve = _convolution(
            (1,),
            (max(before, 0),),
            (max(after, 0),),
            (self.dilation,),
            (self.stride,),
            groups,
            True,
        )
        y = convolve(x, weight)
        y = y[:, max(-before, 0) : max(-before, 0) + length]
        return y if self.bias is None else y + self.bias


def _normalize(x, axes, eps):
    centred = x - mx.mean(x, axis=axes, keepdims=True)
    return centred / mx.sqrt(mx.mean(centred**2, axis=axes, keepdims=True) + eps)


class LayerNorm(_Parametrised):
    """``(x - mean) / sqrt(var + eps) * weight + bias`` over the last axis."""

    def __init__(self, dim, eps=1e-5, affine=True, bias=True):
        super().__init__()
        self.weight, self.bias, self.eps = None, None, eps
        self._create("LayerNorm", dim=dim, eps=eps, affine=affine, bias=bias)

    def __call__(self, x):
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

    def __call__(self, x):
        checks.check_channels("GroupNorm", x.shape, self.num_channels)
        grouped = x.reshape(
            tuple(x.shape[:-1]) + (self.num_groups, self.num_channels // self.num_groups)
        )
        axes = list(range(1, x.ndim - 1)) + [x.ndim]
        y = _normalize(grouped, axes, self.eps).reshape(x.shape)
        return y if self.weight is None else y * self.weight + self.bias


class RMSNorm(_Parametrised):
    """``x / sqrt(mean(x^2) + eps) * weight`` over the last axis."""

    def __init__(self, dim, eps=1e-6, affine=True):
        super().__init__()
        self.weight, self.eps = None, eps
        self._create("RMSNorm", dim=dim, eps=eps, affine=affine)

    def __call__(self, x):
        y = x / mx.sqrt(mx.mean(x**2, axis=-1, keepdims=True) + self.eps)
        return y if self.weight is None else y * self.weight


class Embedding(_Parametrised):
    """``weight[ids]``: integer ``ids`` of any shape -> ``ids.shape + [dim]``."""

    def __init__(self, num_embeddings, dim):
        super().__init__()
        self._create("Embedding", num_embeddings=num_embeddings, dim=dim)

    def __call__(self, ids):
        return self.weight[ids]


class MultiHeadAttention(nn.Module):
    """``out(attention(query(x), key(c), value(c), num_heads, causal, mask))``,
    ``c = context or x``; ``mask``: boolean ``[B, len(c)]``, True = attend. ``dropout > 0``:
    the attention weights go through a ``Dropout`` of that rate in training."""

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


class Dropout(nn.Module):
    """Zero each value with probability ``rate`` and scale the rest by ``1 / (1 - rate)`` in
    training mode (``model.train()``); the identity after ``model.eval()``. Draws from MLX's
    global generator (``mx.random.seed``; under ``mx.compile`` pass ``mx.random.state`` as
    compile inputs and outputs)."""

    def __init__(self, rate):
        super().__init__()
        layer_parameters("Dropout", rate=rate)
        self.rate = rate

    def __call__(self, x):
        if not self.training or self.rate == 0.0:
            return x
        keep = mx.random.bernoulli(1.0 - self.rate, x.shape)
        return mx.where(keep, x / (1.0 - self.rate), mx.zeros_like(x))


class GaussianSample(nn.Module):
    """Reparameterised draw ``mean + exp(logvar / 2) * eps``, ``eps ~ N(0, I)``, in training
    mode; ``mean`` after ``model.eval()``. Draws from MLX's global generator, as Dropout."""

    def __init__(self):
        super().__init__()
        layer_parameters("GaussianSample")

    def __call__(self, mean, logvar):
        checks.check_same_shape(
            "GaussianSample", "mean", tuple(mean.shape), "logvar", tuple(logvar.shape)
        )
        if not self.training:
            return mean
        noise = mx.random.normal(mean.shape, dtype=mean.dtype)
        return mean + mx.exp(logvar / 2) * noise


class FreeParameter(_Parametrised):
    """A free ``parameter(shape, init)``: one learned array ``weight`` of ``shape``, returned
    as is by a call without arguments."""

    def __init__(self, shape, init="zeros", std=1.0):
        super().__init__()
        self._create("FreeParameter", shape=shape, init=init, std=std)

    def __call__(self):
        return self.weight


class PositionalEmbedding(_Parametrised):
    """Learned absolute positions: ``x + weight[:T]`` for ``x [B, T, dim]``, ``T <= max_length``
    (shapes are concrete under ``mx.compile``, so the check runs when tracing)."""

    def __init__(self, max_length, dim):
        super().__init__()
        self.max_length, self.dim = max_length, dim
        self._create("PositionalEmbedding", max_length=max_length, dim=dim)

    def __call__(self, x):
        checks.check_positional_input("PositionalEmbedding", x.shape, self.max_length, self.dim)
        return x + self.weight[: x.shape[1]]
