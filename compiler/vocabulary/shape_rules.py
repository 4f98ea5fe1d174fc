"""Shape rules of the layer registry (``specc.compiler.vocabulary.layers``).

A rule is ``rule(name, tensors, values) -> Outcome``: ``tensors`` maps the entry's tensor
arguments to ``TensorInfo`` (or lists of them), ``values`` its other arguments, already
type-checked. It returns the output types, the runtime keyword arguments and the parameters
in canonical (PyTorch) layout, or raises ``LayerError`` with a diagnostic code:
E0608 shapes, E0609 argument values, E0610 divisibility, E0617 dtypes, E0618 a sequence
longer than a positional table.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from specc.compiler import ir
from specc.compiler.vocabulary import dimensions
from specc.compiler.vocabulary.dimensions import format_shape


MAX_SECTIONS = 1024  # parts of one split: each is a value of the graph


@dataclass(frozen=True)
class TensorInfo:
    dtype: str
    shape: tuple  # of shapes.Dim


@dataclass(frozen=True)
class ParameterReference:
    """``wte.weight`` as a layer argument: the parameter ``name`` (``weight``) of the layer
    held at ``attribute`` (``embedding_0``) that produced the value ``text`` names."""

    attribute: str
    name: str
    shape: tuple
    text: str

    @property
    def path(self) -> str:
        return f"{self.attribute}.{self.name}"


@dataclass(frozen=True)
class Outcome:
    outputs: tuple[TensorInfo, ...]
    arguments: dict
    parameters: tuple[ir.Parameter, ...] = field(default_factory=tuple)


class LayerError(Exception):
    """A user mistake found by a rule; ``argument`` names the offending argument (the
    diagnostic then points at it) or is None (the whole call)."""

    def __init__(self, code: str, message: str, argument: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.argument = argument


def parameter(name: str, shape, init: str, fan_in: int = 1) -> ir.Parameter:
    return ir.Parameter(name, tuple(int(size) for size in shape), init, int(fan_in))


# ----------------------------------------------------------------------------- checks


def rank(name: str, tensor: TensorInfo, expected: int, layout: str) -> None:
    if len(tensor.shape) != expected:
        raise LayerError("E0608", f"{name}: expected an input {layout}, got {format_shape(tensor.shape)}")


def min_rank(name: str, tensor: TensorInfo, expected: int) -> None:
    if len(tensor.shape) < expected:
        raise LayerError("E0608", f"{name}: expected an input with at least {expected} axes, got {format_shape(tensor.shape)}")


def f32_input(name: str, tensor: TensorInfo, argument: str = "x") -> None:
    """E0617 unless ``tensor`` (the layer's argument ``argument``) holds f32 values."""
    if tensor.dtype != "f32":
        raise LayerError("E0617", f"{name}: {argument} must be f32, got {tensor.dtype}{format_shape(tensor.shape)}",
                         argument)


def concrete(name: str, tensor: TensorInfo, axis: int, what: str) -> int:
    size = tensor.shape[axis]
    if not isinstance(size, int):
        raise LayerError(
            "E0609", f"{name}: the {what} axis must have a size known at compile time to size the layer, "
            f"got {format_shape(tensor.shape)}")
    return size


def positive(name: str, values: dict, key: str, minimum: int = 1) -> int:
    value = values[key]
    items = value if isinstance(value, tuple) else (value,)
    if any(item < minimum for item in items):
        bound = "positive" if minimum == 1 else "non-negative"
        raise LayerError("E0609", f"{name}: `{key}` must be {bound}, got {_text(value)}", key)
    return value


def divisible(name: str, what: str, size: int, divisor_name: str, divisor: int) -> None:
    if size % divisor:
        raise LayerError("E0610", f"{name}: {what} ({size}) is not divisible by {divisor_name} ({divisor})")


def axis_index(name: str, tensor: TensorInfo, axis: int, key: str = "axis") -> int:
    count = len(tensor.shape)
    if not -count <= axis < count:
        raise LayerError("E0609", f"{name}: axis {axis} is out of range for an input {format_shape(tensor.shape)}", key)
    return axis % count


def pairs(name: str, values: dict, key: str, count: int) -> tuple[int, ...]:
    value = values[key]
    if isinstance(value, tuple):
        if len(value) != count:
            raise LayerError("E0609", f"{name}: `{key}` must be an int or {count} ints, got {_text(value)}", key)
        return value
    return (value,) * count


def _text(value) -> str:
    return "[" + ", ".join(map(str, value)) + "]" if isinstance(value, tuple) else str(value)


def _float(dtype: str) -> str:
    return dtype if dtype == "f32" else "f32"


# ----------------------------------------------------------------------------- layers


def linear(name, tensors, values) -> Outcome:
    x = tensors["x"]
    min_rank(name, x, 1)
    features = concrete(name, x, -1, "last")
    out = positive(name, values, "out")
    tied = values.get("weight")
    parameters = [] if tied else [parameter("weight", (out, features), "uniform_fan_in", features)]
    if values["bias"]:
        parameters.append(parameter("bias", (out,), "uniform_fan_in", features))
    arguments = {"in_features": features, "out_features": out, "bias": values["bias"]}
    if tied:
        if tuple(tied.shape) != (out, features):
            raise LayerError("E0608", f"{name}: `weight = {tied.text}` is {format_shape(tied.shape)}, but a layer from "
                             f"{features} features to {out} needs a weight [{out}, {features}]", "weight")
        arguments["tied"] = True
    return Outcome((TensorInfo(_float(x.dtype), x.shape[:-1] + (out,)),), arguments, tuple(parameters))


def _convolution(name, tensors, values, spatial: int) -> Outcome:
    x = tensors["x"]
    rank(name, x, spatial + 2, "[B, T, C]" if spatial == 1 else "[B, H, W, C]")
    channels_in = concrete(name, x, -1, "channel (last)")
    channels = positive(name, values, "channels")
    kernel = pairs(name, values, "kernel", spatial)
    stride = pairs(name, values, "stride", spatial)
    dilation = pairs(name, values, "dilation", spatial)
    for key in ("kernel", "stride", "dilation", "groups"):
        positive(name, values, key)
    groups = values["groups"]
    divisible(name, "input channels", channels_in, "groups", groups)
    divisible(name, "output channels", channels, "groups", groups)
    padding = values["padding"]
    if padding == "same":
        if any(step != 1 for step in stride):
            raise LayerError("E0609", f"{name}: padding = same needs stride 1, got stride {_text(values['stride'])}", "padding")
        totals = tuple(rate * (size - 1) for size, rate in zip(kernel, dilation))
    else:
        padding = pairs(name, values, "padding", spatial)
        positive(name, {"padding": padding}, "padding", 0)
        totals = tuple(2 * size for size in padding)
    lengths = []
    for axis, (size, total) in enumerate(zip(x.shape[1:-1], totals)):
        span = dilation[axis] * (kernel[axis] - 1) + 1
        if isinstance(size, int) and size + total < span:
            raise LayerError("E0608", f"{name}: input {format_shape(x.shape)} is shorter than the dilated kernel ({span}) on axis {axis + 1}")
        if values["padding_mode"] == "reflect" and isinstance(size, int) and padding != "same" and padding[axis] >= size:
            raise LayerError("E0608", f"{name}: reflect padding of {padding[axis]} needs an axis longer than that, got {format_shape(x.shape)}")
        lengths.append(dimensions.conv_length(size, kernel[axis], stride[axis], dilation[axis], total))
    shape = (channels, channels_in // groups, *kernel)
    fan_in = channels_in // groups * _product(kernel)
    parameters = _conv_weights(shape, fan_in, values["weight_norm"])
    if values["bias"]:
        parameters.append(parameter("bias", (channels,), "uniform_fan_in", fan_in))
    simplify = (lambda item: item[0]) if spatial == 1 else (lambda item: item)
    arguments = {
        "in_channels": channels_in, "out_channels": channels, "kernel_size": simplify(kernel),
        "stride": simplify(stride), "padding": padding if padding == "same" else simplify(padding),
        "dilation": simplify(dilation), "groups": groups, "bias": values["bias"],
        "padding_mode": values["padding_mode"], "weight_norm": values["weight_norm"],
    }
    output = TensorInfo(_float(x.dtype), (x.shape[0], *lengths, channels))
    return Outcome((output,), arguments, tuple(parameters))


def _conv_weights(shape, fan_in, weight_norm) -> list:
    if not weight_norm:
        return [parameter("weight", shape, "uniform_fan_in", fan_in)]
    norm_shape = (shape[0],) + (1,) * (len(shape) - 1)
    return [parameter("weight_g", norm_shape, "weight_norm_g", fan_in), parameter("weight_v", shape, "uniform_fan_in", fan_in)]


def _product(sizes) -> int:
    result = 1
    for size in sizes:
        result *= size
    return result


def conv1d(name, tensors, values) -> Outcome:
    return _convolution(name, tensors, values, 1)


def conv2d(name, tensors, values) -> Outcome:
    return _convolution(name, tensors, values, 2)


def conv_transpose1d(name, tensors, values) -> Outcome:
    x = tensors["x"]
    rank(name, x, 3, "[B, T, C]")
    channels_in = concrete(name, x, -1, "channel (last)")
    for key in ("channels", "kernel", "stride", "dilation", "groups"):
        positive(name, values, key)
    positive(name, values, "padding", 0)
    positive(name, values, "output_padding", 0)
    channels, kernel, stride, groups = values["channels"], values["kernel"], values["stride"], values["groups"]
    divisible(name, "input channels", channels_in, "groups", groups)
    divisible(name, "output channels", channels, "groups", groups)
    if values["output_padding"] >= max(stride, values["dilation"]):
        raise LayerError("E0609", f"{name}: output_padding must be smaller than stride or dilation, got {values['output_padding']}", "output_padding")
    length = dimensions.conv_transpose_length(x.shape[1], kernel, stride, values["dilation"], values["padding"], values["output_padding"])
    if isinstance(length, int) and length < 1:
        raise LayerError("E0608", f"{name}: output length would be {length} for input {format_shape(x.shape)}")
    fan_in = channels // groups * kernel
    parameters = _conv_weights((channels_in, channels // groups, kernel), fan_in, values["weight_norm"])
    if values["bias"]:
        parameters.append(parameter("bias", (channels,), "uniform_fan_in", fan_in))
    arguments = {
        "in_channels": channels_in, "out_channels": channels, "kernel_size": kernel, "stride": stride,
        "padding": values["padding"], "output_padding": values["output_padding"],
        "dilation": values["dilation"], "groups": groups, "bias": values["bias"], "weight_norm": values["weight_norm"],
    }
    return Outcome((TensorInfo(_float(x.dtype), (x.shape[0], length, channels)),), arguments, tuple(parameters))


def _norm_parameters(dim: int, affine: bool, bias: bool = True) -> tuple:
    if not affine:
        return ()
    weights = [parameter("weight", (dim,), "ones")]
    if bias:
        weights.append(parameter("bias", (dim,), "zeros"))
    return tuple(weights)


def _positive_eps(name, values) -> float:
    if values["eps"] <= 0:
        raise LayerError("E0609", f"{name}: `eps` must be positive, got {values['eps']}", "eps")
    return values["eps"]


def layernorm(name, tensors, values) -> Outcome:
    x = tensors["x"]
    min_rank(name, x, 1)
    dim = concrete(name, x, -1, "last")
    arguments = {"dim": dim, "eps": _positive_eps(name, values), "affine": values["affine"]}
    if not values["bias"]:  # printed only when off: the constructor's default is a bias
        arguments["bias"] = False
    return Outcome((x,), arguments, _norm_parameters(dim, values["affine"], values["bias"]))


def rmsnorm(name, tensors, values) -> Outcome:
    x = tensors["x"]
    min_rank(name, x, 1)
    dim = concrete(name, x, -1, "last")
    arguments = {"dim": dim, "eps": _positive_eps(name, values), "affine": values["affine"]}
    return Outcome((x,), arguments, _norm_parameters(dim, values["affine"], bias=False))


def groupnorm(name, tensors, values) -> Outcome:
    x = tensors["x"]
    min_rank(name, x, 2)
    channels = concrete(name, x, -1, "channel (last)")
    groups = positive(name, values, "groups")
    divisible(name, "channels", channels, "groups", groups)
    arguments = {"num_groups": groups, "num_channels": channels, "eps": _positive_eps(name, values), "affine": values["affine"]}
    return Outcome((x,), arguments, _norm_parameters(channels, values["affine"]))


def embedding(name, tensors, values) -> Outcome:
    ids = tensors["ids"]
    if ids.dtype not in ("i32", "i64"):
        raise LayerError("E0617", f"{name}: ids must be integers (i32 or i64), got {ids.dtype}{format_shape(ids.shape)}", "ids")
    num, dim = positive(name, values, "num"), positive(name, values, "dim")
    arguments = {"num_embeddings": num, "dim": dim}
    return Outcome((TensorInfo("f32", ids.shape + (dim,)),), arguments, (parameter("weight", (num, dim), "normal"),))


def attention(name, tensors, values) -> Outcome:
    x = tensors["x"]
    rank(name, x, 3, "[B, T, D]")
    dim = concrete(name, x, -1, "last")
    heads = positive(name, values, "heads")
    divisible(name, "model dimension", dim, "heads", heads)
    context = tensors.get("context")
    if context is not None and (len(context.shape) != 3 or context.shape[0] != x.shape[0] or context.shape[2] != dim):
        raise LayerError("E0608", f"{name}: context {format_shape(context.shape)} does not fit the input "
                         f"{format_shape(x.shape)}: expected [{dimensions.render(x.shape[0])}, S, {dim}]", "context")
    parameters = []
    for projection in ("query", "key", "value", "out"):  # the runtime's creation order
        parameters.append(parameter(f"{projection}.weight", (dim, dim), "uniform_fan_in", dim))
        if values["bias"]:
            parameters.append(parameter(f"{projection}.bias", (dim,), "uniform_fan_in", dim))
    arguments = {"dim": dim, "num_heads": heads, "causal": values["causal"], "bias": values["bias"]}
    return Outcome((x,), arguments, tuple(parameters))


def dropout(name, tensors, values) -> Outcome:
    """f32 ``x`` (zeroing and rescaling need float values) and ``0 <= rate < 1``."""
    f32_input(name, tensors["x"])
    if not 0.0 <= values["rate"] < 1.0:
        raise LayerError("E0609", f"{name}: `rate` must be in [0, 1), got {values['rate']}", "rate")
    return Outcome((tensors["x"],), {"rate": values["rate"]})


# ----------------------------------------------------------------------------- ops


def same_shape(name, tensors, values) -> Outcome:
    return Outcome((tensors["x"],), dict(values))


def softmax(name, tensors, values) -> Outcome:
    axis_index(name, tensors["x"], values["axis"])
    return Outcome((tensors["x"],), dict(values))


def reduce(name, tensors, values) -> Outcome:
    x = tensors["x"]
    axes = values["axis"] if isinstance(values["axis"], tuple) else (values["axis"],)
    indices = {axis_index(name, x, axis) for axis in axes}
    if len(indices) != len(axes):
        raise LayerError("E0609", f"{name}: axis {_text(values['axis'])} names an axis twice", "axis")
    if values["keepdims"]:
        shape = tuple(1 if index in indices else size for index, size in enumerate(x.shape))
    else:
        shape = tuple(size for index, size in enumerate(x.shape) if index not in indices)
    return Outcome((TensorInfo(x.dtype, shape),), dict(values))


def matmul(name, tensors, values) -> Outcome:
    a, b = tensors["a"], tensors["b"]
    if len(a.shape) < 2 or len(b.shape) < 2 or a.shape[-1] != b.shape[-2]:
        raise LayerError("E0608", f"{name}: shapes {format_shape(a.shape)} and {format_shape(b.shape)} cannot be multiplied")
    batch = dimensions.broadcast(a.shape[:-2], b.shape[:-2])
    if batch is None:
        raise LayerError("E0608", f"{name}: leading axes of {format_shape(a.shape)} and {format_shape(b.shape)} do not broadcast")
    return Outcome((TensorInfo(a.dtype, batch + (a.shape[-2], b.shape[-1])),), {})


def transpose(name, tensors, values) -> Outcome:
    x = tensors["x"]
    axes = values["axes"] if isinstance(values["axes"], tuple) else (values["axes"],)
    if sorted(axes) != list(range(len(x.shape))):
        raise LayerError("E0609", f"{name}: axes {_text(axes)} are not a permutation of the axes of {format_shape(x.shape)}", "axes")
    return Outcome((TensorInfo(x.dtype, tuple(x.shape[axis] for axis in axes)),), {"axes": axes})


def swapaxes(name, tensors, values) -> Outcome:
    x = tensors["x"]
    first = axis_index(name, x, values["axis1"], "axis1")
    second = axis_index(name, x, values["axis2"], "axis2")
    shape = list(x.shape)
    shape[first], shape[second] = shape[second], shape[first]
    return Outcome((TensorInfo(x.dtype, tuple(shape)),), dict(values))


def concat(name, tensors, values) -> Outcome:
    items = tensors["tensors"]
    if not items:
        raise LayerError("E0609", f"{name}: needs at least one tensor", "tensors")
    first = items[0]
    axis = axis_index(name, first, values["axis"])
    size = 0
    for item in items:
        same_rank = len(item.shape) == len(first.shape)
        if not same_rank or any(a != b for index, (a, b) in enumerate(zip(item.shape, first.shape)) if index != axis):
            raise LayerError(
                "E0608", f"{name}: shapes {format_shape(first.shape)} and {format_shape(item.shape)} differ "
                f"outside the joined axis {values['axis']}")
        size = dimensions.add(size, item.shape[axis])
    shape = first.shape[:axis] + (size,) + first.shape[axis + 1:]
    return Outcome((TensorInfo(first.dtype, shape),), dict(values))


def split(name, tensors, values) -> Outcome:
    x = tensors["x"]
    axis = axis_index(name, x, values["axis"])
    sections = positive(name, values, "sections")
    if sections > MAX_SECTIONS:
        raise LayerError("E0609", f"{name}: `sections` must be at most {MAX_SECTIONS}, got {sections}", "sections")
    part = dimensions.divide_exactly(x.shape[axis], sections)
    if part is None:
        raise LayerError("E0610", f"{name}: axis {values['axis']} of {format_shape(x.shape)} is not divisible into {sections} equal parts")
    shape = x.shape[:axis] + (part,) + x.shape[axis + 1:]
    return Outcome(tuple(TensorInfo(x.dtype, shape) for _ in range(sections)), dict(values))


def pad(name, tensors, values) -> Outcome:
    x = tensors["x"]
    axis = axis_index(name, x, values["axis"])
    before, after = positive(name, values, "before", 0), positive(name, values, "after", 0)
    size = x.shape[axis]
    if values["mode"] == "reflect" and isinstance(size, int) and max(before, after) >= size:
        raise LayerError("E0608", f"{name}: reflect padding of {max(before, after)} needs an axis longer than that, got {format_shape(x.shape)}")
    shape = x.shape[:axis] + (dimensions.add(size, before + after),) + x.shape[axis + 1:]
    return Outcome((TensorInfo(x.dtype, shape),), dict(values))


def _pool(name, tensors, values, spatial: int) -> Outcome:
    x = tensors["x"]
    rank(name, x, spatial + 2, "[B, T, C]" if spatial == 1 else "[B, H, W, C]")
    kernel = pairs(name, values, "kernel", spatial)
    positive(name, values, "kernel")
    stride = kernel if values["stride"] is None else pairs(name, values, "stride", spatial)
    positive(name, {"stride": stride}, "stride")
    padding = pairs(name, values, "padding", spatial)
    if any(not 0 <= size <= window // 2 for size, window in zip(padding, kernel)):
        raise LayerError("E0609", f"{name}: `padding` must be between 0 and half the kernel, got {_text(values['padding'])}", "padding")
    lengths = []
    for size, window, step, pad_size in zip(x.shape[1:-1], kernel, stride, padding):
        if isinstance(size, int) and size + 2 * pad_size < window:
            raise LayerError("E0608", f"{name}: input {format_shape(x.shape)} is shorter than the window {window}")
        lengths.append(dimensions.conv_length(size, window, step, 1, 2 * pad_size))
    simplify = (lambda item: item[0]) if spatial == 1 else (lambda item: item)
    arguments = {"kernel_size": simplify(kernel), "stride": simplify(stride), "padding": simplify(padding)}
    return Outcome((TensorInfo(x.dtype, (x.shape[0], *lengths, x.shape[-1])),), arguments)


def pool1d(name, tensors, values) -> Outcome:
    return _pool(name, tensors, values, 1)


def pool2d(name, tensors, values) -> Outcome:
    return _pool(name, tensors, values, 2)


def flatten(name, tensors, values) -> Outcome:
    x = tensors["x"]
    start = axis_index(name, x, values["start_axis"], "start_axis")
    shape = x.shape[:start] + (dimensions.product(x.shape[start:]),)
    return Outcome((TensorInfo(x.dtype, shape),), dict(values))


def sinusoidal(name, tensors, values) -> Outcome:
    dim = positive(name, values, "dim")
    if dim % 2:
        raise LayerError("E0610", f"{name}: `dim` must be even, got {dim}", "dim")
    x = tensors["x"]
    return Outcome((TensorInfo(_float(x.dtype), x.shape + (dim,)),), dict(values))


# ----------------------------------------------------------------------------- layers (appended)


def positional_embedding(name, tensors, values) -> Outcome:
    """``x [B, T, D] -> x + weight[:T]``, weight ``[max_length, D]`` (normal). A symbolic ``T``
    is checked at run time; a concrete ``T > max_length`` is E0618 here."""
    x = tensors["x"]
    rank(name, x, 3, "[B, T, D]")
    if x.dtype != "f32":
        raise LayerError("E0617", f"{name}: x must be f32 (embed integer ids with `embedding` first), "
                         f"got {x.dtype}{format_shape(x.shape)}", "x")
    dim = concrete(name, x, -1, "last")
    max_length = positive(name, values, "max_length")
    steps = x.shape[1]
    if isinstance(steps, int) and steps > max_length:
        raise LayerError("E0618", f"{name}: the input {format_shape(x.shape)} has {steps} positions "
                         f"but `max_length` is {max_length}", "max_length")
    arguments = {"max_length": max_length, "dim": dim}
    return Outcome((x,), arguments, (parameter("weight", (max_length, dim), "normal"),))
