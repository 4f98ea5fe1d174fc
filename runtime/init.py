"""Parameter initialisation in numpy, the same on every backend, and the parameter table
of every runtime layer class.

``initialize(parameters, seed)`` draws each array from a generator keyed by
``(seed, crc32(full name))``: adding or renaming one parameter never changes the others,
and the result does not depend on PYTHONHASHSEED or on the order of ``parameters``.

``layer_parameters(kind, **arguments)`` is the single source of the local parameter names,
shapes, init kinds and fan-ins of each layer class; the jax, torch and mlx constructors
build their zero-filled parameters from it, and the compiler's registry can call it.
"""

from __future__ import annotations

import math
import zlib

import numpy as np

from specc.runtime.parameters import Parameter
from specc.runtime import checks

INIT_KINDS = (
    "uniform_fan_in", "normal", "truncated_normal", "uniform", "ones", "zeros", "weight_norm_g",
)
TRUNCATION = 2.0  # truncated_normal redraws values beyond this many standard deviations
# What the ``init`` argument of Linear, Conv1d, Conv2d and ConvTranspose1d may choose: the
# weight's init; the bias is uniform_fan_in with the default and zeros otherwise.
LAYER_INITS = ("uniform_fan_in", "zeros", "ones")
# What a free ``parameter(shape, init = ...)`` may start from: the kinds the compiler resolves
# every scheme to (``normal`` draws N(0, std^2), ``uniform`` U(-sqrt(3) std, sqrt(3) std)).
FREE_PARAMETER_INITS = ("zeros", "ones", "normal", "truncated_normal", "uniform")


def parameter_generator(seed: int, name: str) -> np.random.Generator:
    """The generator of one parameter: PCG64 seeded by ``SeedSequence([seed, crc32(name)])``."""
    if int(seed) < 0:
        raise ValueError(f"initialize: seed must not be negative, got {seed}")
    return np.random.default_rng([int(seed), zlib.crc32(name.encode("utf-8"))])


def initialize(parameters, seed: int) -> dict[str, np.ndarray]:
    """``parameters``: iterable of ``(full_name, Parameter)``. Returns float32 arrays by name.

    - ``uniform_fan_in``: U(-1 / sqrt(fan_in), 1 / sqrt(fan_in)) (torch's and MLX's default);
    - ``normal``: N(0, std^2) (``std`` of the Parameter, 1 unless the spec's ``init`` sets it);
    - ``truncated_normal``: N(0, std^2) with every value beyond ``TRUNCATION`` std redrawn
      (torch's ``trunc_normal_(std=s, a=-2s, b=2s)`` in distribution);
    - ``uniform``: U(-sqrt(3) std, sqrt(3) std), the uniform of standard deviation ``std``
      (xavier_uniform and kaiming_uniform, their std computed by the compiler);
    - ``ones``; ``zeros``;
    - ``weight_norm_g``: ``||v||`` over all axes but the first of the sibling ``<prefix>.weight_v``
      (so the initial ``g * v / ||v||`` equals ``v``).
    """
    parameters = list(parameters)
    arrays = {}
    deferred = []
    for name, parameter in parameters:
        checks.check_choice(
            "initialize", f"init of '{name}'", parameter.init, INIT_KINDS
        )
        if parameter.init == "weight_norm_g":
            deferred.append((name, parameter))
        else:
            arrays[name] = _draw(name, parameter, seed)
    for name, parameter in deferred:
        arrays[name] = _weight_norm_g(name, parameter, arrays)
    return {name: arrays[name] for name in sorted(arrays)}


def _draw(name: str, parameter, seed: int) -> np.ndarray:
    shape = tuple(parameter.shape)
    if parameter.init == "ones":
        return np.ones(shape, np.float32)
    if parameter.init == "zeros":
        return np.zeros(shape, np.float32)
    generator = parameter_generator(seed, name)
    if parameter.init == "normal":
        return (parameter.std * generator.standard_normal(shape)).astype(np.float32)
    if parameter.init == "truncated_normal":
        return (parameter.std * _truncated_standard_normal(generator, shape)).astype(np.float32)
    if parameter.init == "uniform":
        checks.check_positive("initialize", f"std of '{name}'", parameter.std)
        bound = math.sqrt(3.0) * parameter.std
        return generator.uniform(-bound, bound, shape).astype(np.float32)
    checks.check_positive("initialize", f"fan_in of '{name}'", parameter.fan_in)
    bound = 1.0 / math.sqrt(parameter.fan_in)
    return generator.uniform(-bound, bound, shape).astype(np.float32)


def _truncated_standard_normal(generator, shape) -> np.ndarray:
    """N(0, 1) draws, each beyond +-TRUNCATION redrawn (in order, from the same generator)."""
    values = generator.standard_normal(shape)
    outside = np.abs(values) > TRUNCATION
    while outside.any():
        values[outside] = generator.standard_normal(int(outside.sum()))
        outside = np.abs(values) > TRUNCATION
    return values


def _weight_norm_g(name: str, parameter, arrays) -> np.ndarray:
    prefix, _, local = name.rpartition(".")
    sibling = f"{prefix}.weight_v" if prefix else "weight_v"
    if sibling not in arrays:
        raise ValueError(
            f"initialize: '{name}' (weight_norm_g) needs a sibling parameter '{sibling}'"
        )
    weight_v = arrays[sibling].astype(np.float64)
    norm = np.sqrt(np.sum(weight_v**2, axis=tuple(range(1, weight_v.ndim))))
    return norm.reshape(tuple(parameter.shape)).astype(np.float32)


# ----------------------------------------------------------------------------- the table


def _linear(in_features, out_features, bias=True, init="uniform_fan_in", tied=False):
    """``tied``: the weight is another layer's, passed at each call; only the bias is own."""
    parameters = _weight_and_bias(
        (out_features, in_features), out_features, in_features, bias, False, init, "Linear"
    )
    return [parameter for parameter in parameters if parameter.name != "weight"] if tied else parameters


def _convolution(
    kind,
    rank,
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
    kernel = checks.normalize_tuple(kind, "kernel_size", kernel_size, rank)
    stride = checks.normalize_tuple(kind, "stride", stride, rank)
    dilation = checks.normalize_tuple(kind, "dilation", dilation, rank)
    checks.conv_padding(kind, padding, kernel, stride, dilation)
    checks.check_choice(kind, "padding_mode", padding_mode, ("zeros", "reflect"))
    for name, size in (("in_channels", in_channels), ("out_channels", out_channels)):
        checks.check_positive(kind, name, size)
        checks.check_divisible(kind, name, size, "groups", groups)
    shape = (out_channels, in_channels // groups) + kernel
    return _weight_and_bias(
        shape,
        out_channels,
        (in_channels // groups) * math.prod(kernel),
        bias,
        weight_norm,
        init,
        kind,
    )


def _weight_and_bias(shape, bias_size, fan_in, bias, weight_norm, init, kind):
    """``weight`` (or ``weight_g``, ``weight_v``) and ``bias``. ``init``: the weight's init
    (``uniform_fan_in``, ``zeros`` or ``ones``); the bias is ``uniform_fan_in`` with the
    default and ``zeros`` otherwise, so ``init = zeros`` makes the layer output exactly 0."""
    checks.check_choice(kind, "init", init, LAYER_INITS)
    if weight_norm and init != "uniform_fan_in":
        raise ValueError(f"{kind}: init = {init!r} cannot be combined with weight_norm")
    if init != "uniform_fan_in":
        parameters = [Parameter("weight", shape, init, fan_in)]
        if bias:
            parameters.append(Parameter("bias", (bias_size,), "zeros", fan_in))
        return parameters
    if weight_norm:
        gain_shape = (shape[0],) + (1,) * (len(shape) - 1)
        parameters = [
            Parameter("weight_g", gain_shape, "weight_norm_g", fan_in),
            Parameter("weight_v", shape, "uniform_fan_in", fan_in),
        ]
    else:
        parameters = [Parameter("weight", shape, "uniform_fan_in", fan_in)]
    if bias:
        parameters.append(Parameter("bias", (bias_size,), "uniform_fan_in", fan_in))
    return parameters


def _conv1d(*arguments, **keywords):
    return _convolution("Conv1d", 1, *arguments, **keywords)


def _conv2d(*arguments, **keywords):
    return _convolution("Conv2d", 2, *arguments, **keywords)


def _conv_transpose1d(
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
    kind = "ConvTranspose1d"
    for name, size in (("in_channels", in_channels), ("out_channels", out_channels)):
        checks.check_positive(kind, name, size)
        checks.check_divisible(kind, name, size, "groups", groups)
    checks.check_output_padding(kind, output_padding, stride, dilation)
    shape = (in_channels, out_channels // groups, kernel_size)
    # torch's fan-in of a transposed convolution: weight.size(1) * kernel = out / groups * k.
    return _weight_and_bias(
        shape,
        out_channels,
        (out_channels // groups) * kernel_size,
        bias,
        weight_norm,
        init,
        kind,
    )


def _norm(dim, affine, bias):
    if not affine:
        return []
    parameters = [Parameter("weight", (dim,), "ones")]
    if bias:
        parameters.append(Parameter("bias", (dim,), "zeros"))
    return parameters


def _layer_norm(dim, eps=1e-5, affine=True, bias=True):
    return _norm(dim, affine, bias=bias)


def _group_norm(num_groups, num_channels, eps=1e-5, affine=True):
    checks.check_divisible(
        "GroupNorm", "num_channels", num_channels, "num_groups", num_groups
    )
    return _norm(num_channels, affine, bias=True)


def _rms_norm(dim, eps=1e-6, affine=True):
    return _norm(dim, affine, bias=False)


def _embedding(num_embeddings, dim):
    return [Parameter("weight", (num_embeddings, dim), "normal")]


def _multi_head_attention(dim, num_heads, causal=False, bias=True, dropout=0.0):
    checks.check_divisible("MultiHeadAttention", "dim", dim, "num_heads", num_heads)
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"MultiHeadAttention: dropout must be in [0, 1), got {dropout}")
    parameters = []
    for layer in ("query", "key", "value", "out"):
        for parameter in _linear(dim, dim, bias):
            parameters.append(
                Parameter(
                    f"{layer}.{parameter.name}",
                    parameter.shape,
                    parameter.init,
                    parameter.fan_in,
                )
            )
    return parameters


def _positional_embedding(max_length, dim):
    checks.check_positive_int("PositionalEmbedding", "max_length", max_length)
    checks.check_positive_int("PositionalEmbedding", "dim", dim)
    return [Parameter("weight", (max_length, dim), "normal")]


def _free_parameter(shape, init="zeros", std=1.0):
    """One learned array ``weight`` of exactly ``shape`` (no batch axis), stored as given:
    ``zeros``, ``ones``, ``normal``, ``truncated_normal`` or ``uniform`` of standard deviation
    ``std`` (the kinds of ``initialize``). ``std`` other than 1 needs a random kind."""
    shape = tuple(shape)
    checks.check_not_empty("FreeParameter", "shape", shape)
    for size in shape:
        checks.check_positive_int("FreeParameter", "shape", size)
    checks.check_choice("FreeParameter", "init", init, FREE_PARAMETER_INITS)
    checks.check_positive("FreeParameter", "std", std)
    if init in ("zeros", "ones") and std != 1.0:
        raise ValueError(f"FreeParameter: std = {std} needs a random init, got {init!r}")
    return [Parameter("weight", shape, init, 1, float(std))]


def _check_momentum(kind, momentum):
    if not 0.0 < momentum <= 1.0:
        raise ValueError(f"{kind}: momentum must be in (0, 1], got {momentum}")


def _batch_norm(num_features, momentum=0.1, eps=1e-5, affine=True):
    """``weight`` (ones) and ``bias`` (zeros) when affine; the buffers ``running_mean``
    (zeros) and ``running_var`` (ones), as torch's ``BatchNorm``."""
    checks.check_positive_int("BatchNorm", "num_features", num_features)
    _check_momentum("BatchNorm", momentum)
    checks.check_positive("BatchNorm", "eps", eps)
    return _norm(num_features, affine, bias=True) + [
        Parameter("running_mean", (num_features,), "zeros"),
        Parameter("running_var", (num_features,), "ones"),
    ]


def _running_statistics(num_features, momentum=0.01):
    """No parameters; the buffers ``running_mean`` (zeros) and ``running_std`` (ones)."""
    checks.check_positive_int("RunningStatistics", "num_features", num_features)
    _check_momentum("RunningStatistics", momentum)
    return [
        Parameter("running_mean", (num_features,), "zeros"),
        Parameter("running_std", (num_features,), "ones"),
    ]


def _buffer(shape, init="zeros"):
    """A ``buffer(shape, init)`` of the graph language: one buffer ``buffer`` of ``shape``,
    starting at zeros or ones, written by ``update(b, value)`` in training steps."""
    shape = tuple(shape)
    checks.check_not_empty("Buffer", "shape", shape)
    for size in shape:
        checks.check_positive_int("Buffer", "shape", size)
    checks.check_choice("Buffer", "init", init, ("zeros", "ones"))
    return [Parameter("buffer", shape, init)]


def _gaussian_sample():
    """The reparameterised draw ``mean + exp(logvar / 2) * eps`` has no parameters."""
    return []


def _dropout(rate):
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"Dropout: rate must be in [0, 1), got {rate}")
    return []


LAYER_TABLE = {
    "Linear": _linear,
    "Conv1d": _conv1d,
    "Conv2d": _conv2d,
    "ConvTranspose1d": _conv_transpose1d,
    "LayerNorm": _layer_norm,
    "GroupNorm": _group_norm,
    "RMSNorm": _rms_norm,
    "Embedding": _embedding,
    "MultiHeadAttention": _multi_head_attention,
    "Dropout": _dropout,
    "FreeParameter": _free_parameter,
    "GaussianSample": _gaussian_sample,
    "BatchNorm": _batch_norm,
    "RunningStatistics": _running_statistics,
    "Buffer": _buffer,
    "PositionalEmbedding": _positional_embedding,
}


def layer_parameters(kind: str, **arguments) -> tuple[Parameter, ...]:
    """The parameters a runtime layer class creates, in creation order, with local
    (dotted for sub-layers) names: ``layer_parameters("Linear", in_features=3,
    out_features=4)`` -> ``(Parameter("weight", (4, 3), "uniform_fan_in", 3), Parameter("bias",
    (4,), "uniform_fan_in", 3))``. Buffers (``Parameter.buffer``: ``running_mean``...) are
    listed too, after the parameters. Also validates the constructor arguments."""
    checks.check_choice("layer_parameters", "kind", kind, tuple(LAYER_TABLE))
    return tuple(LAYER_TABLE[kind](**arguments))
