"""Shape rules of the layer registry that wrap or extend ``graphs_rules``: layer
initialisers (``init = normal(std = 0.02)``, ``bias_init = zeros``), the key mask of attention, integer positions, free
parameters (``parameter([1, 1, C], init = zeros)``) and the reparameterised Gaussian draw;
``reshape``, whose target may carry the input's run-time axes (``[B, T, heads, -1]``).

Same contract as ``graphs_rules``: ``rule(name, tensors, values) -> Outcome`` or a
``LayerError`` (E0608 shapes, E0609 argument values, E0617 dtypes).
"""

from __future__ import annotations

from specc.compiler.vocabulary import dimensions, initializers
from specc.compiler.vocabulary import shape_rules as rules
from specc.compiler.vocabulary.shape_rules import LayerError, Outcome, TensorInfo
from specc.compiler.vocabulary.dimensions import format_shape

DEFAULT_INIT = "uniform_fan_in"
DTYPES = ("f32", "i32", "i64", "bool")  # the dtype words of the language (``cast(x, bool)``)
WEIGHT_NAMES = ("weight", "weight_v")  # what `init` sets; `weight_g` follows weight_v's norm


def _initialised(name: str, parameter, scheme, argument: str):
    try:
        return initializers.apply(scheme, parameter)
    except initializers.InitializerError as error:
        raise LayerError("E0609", f"{name}: {error}", argument) from None


def initialise(name: str, parameters, values: dict) -> tuple:
    """``parameters`` started as ``values`` say: ``init`` for the weights, ``bias_init`` for
    the biases (``auto``: uniform_fan_in with the default ``init``, zeros otherwise: PyTorch's
    nn.Linear, or a constant layer for ``init = zeros``), ``out_init`` for the weights of
    attention's output projection (``auto``: as ``init``). Dotted names (``query.weight``) are
    matched on their last part."""
    init = initializers.of(values["init"])
    bias_init = initializers.of(values.get("bias_init", initializers.AUTO))
    out_init = initializers.of(values.get("out_init", initializers.AUTO))
    if bias_init.word == initializers.AUTO:
        bias_init = initializers.of(DEFAULT_INIT if init.word == DEFAULT_INIT else "zeros")
    if out_init.word == initializers.AUTO:
        out_init = init
    result = []
    for parameter in parameters:
        local = parameter.name.rpartition(".")[2]
        if local == "bias":
            result.append(_initialised(name, parameter, bias_init, "bias_init"))
        elif local in WEIGHT_NAMES:
            outer = parameter.name.startswith("out.")
            scheme, argument = (out_init, "out_init") if outer else (init, "init")
            result.append(_initialised(name, parameter, scheme, argument))
        else:
            result.append(parameter)
    return tuple(result)


def with_init(rule):
    """``rule`` of a linear, convolution or attention layer, extended with its ``init``,
    ``bias_init`` (and ``out_init``) arguments: :func:`initialise` sets the parameters' init
    kinds and standard deviations: the script loads ``specc.runtime.init.initialize``'s arrays
    into zero-filled layers, so the runtime constructor gets ``init`` only for the constant
    weights its own table knows (``zeros``, ``ones``: ``layer_parameters`` agrees).
    Weight normalisation divides by ``||v||`` and cannot start from a constant weight."""
    keys = ("init", "bias_init", "out_init")

    def extended(name, tensors, values) -> Outcome:
        init = initializers.of(values["init"])
        bias_init = initializers.of(values.get("bias_init", initializers.AUTO))
        outcome = rule(name, tensors, {key: value for key, value in values.items() if key not in keys})
        if values.get("weight_norm") and init.word in ("zeros", "ones"):
            raise LayerError("E0609", f"{name}: `init = {init.word}` cannot be combined with `weight_norm = true` "
                             "(the weight is normalised by its norm)", "init")
        if not values.get("bias", True) and bias_init.word != initializers.AUTO:
            raise LayerError("E0609", f"{name}: `bias_init = {bias_init.text()}` needs a bias, and this layer "
                             "has `bias = false`", "bias_init")
        arguments = dict(outcome.arguments)
        if init.word in ("zeros", "ones"):  # constant weights: the runtime's layer_parameters knows them too
            arguments["init"] = init.word
        return Outcome(outcome.outputs, arguments, initialise(name, outcome.parameters, values))

    return extended


def with_table_init(rule):
    """``rule`` of an embedding table (``embedding``, ``positional_embedding``) extended with
    its ``init`` (default ``normal``: N(0, 1), PyTorch's nn.Embedding)."""

    def extended(name, tensors, values) -> Outcome:
        outcome = rule(name, tensors, {key: value for key, value in values.items() if key != "init"})
        return Outcome(outcome.outputs, outcome.arguments, initialise(name, outcome.parameters, values))

    return extended


def attention(name, tensors, values) -> Outcome:
    """``graphs_rules.attention`` plus the key mask: ``mask`` must be ``bool[B, S]`` with S the
    length of the attended sequence (``context``'s, else ``x``'s); initialisers (``with_init``)
    and ``dropout`` on the attention weights (a rate in [0, 1))."""
    rate = values.get("dropout", 0.0)
    if not 0.0 <= rate < 1.0:
        raise LayerError("E0609", f"{name}: `dropout` must be in [0, 1), got {rate}", "dropout")
    outcome = with_init(rules.attention)(name, tensors, {key: value for key, value in values.items() if key != "dropout"})
    if rate > 0.0:  # printed only when on: the constructor's default is no dropout
        outcome = Outcome(outcome.outputs, {**outcome.arguments, "dropout": rate}, outcome.parameters)
    mask = tensors.get("mask")
    if mask is None:
        return outcome
    x = tensors["x"]
    source = tensors.get("context") or x
    expected = (x.shape[0], source.shape[1])
    if mask.dtype != "bool":
        raise LayerError("E0617", f"{name}: mask must be bool (True = attend), got {mask.dtype}{format_shape(mask.shape)}",
                         "mask")
    if tuple(mask.shape) != expected:
        keys = "context" if tensors.get("context") else "x"
        raise LayerError("E0608", f"{name}: mask {format_shape(mask.shape)} does not fit the keys: expected "
                         f"{format_shape(expected)} (batch and length of `{keys}`)", "mask")
    return outcome


def positions(name, tensors, values) -> Outcome:
    """``positions(x, axis = 1)``: the integer positions ``0 .. n - 1`` of ``x``'s axis as
    ``i64[n]`` (``batched = false``) or ``i64[B, n]`` repeated over the first axis."""
    x = tensors["x"]
    axis = rules.axis_index(name, x, values["axis"])
    if values["batched"]:
        if axis == 0:
            raise LayerError("E0609", f"{name}: `batched = true` repeats the positions over axis 0, so `axis` "
                             "must name another axis", "axis")
        shape = (x.shape[0], x.shape[axis])
    else:
        shape = (x.shape[axis],)
    return Outcome((TensorInfo("i64", shape),), {"axis": values["axis"], "batched": values["batched"]})

def free_parameter(name, tensors, values) -> Outcome:
    """``parameter(shape, init = zeros)``: one learned f32 array of exactly ``shape`` (every
    size a positive integer known at compile time: no batch axis), broadcast by arithmetic
    like any tensor. ``init`` is any scheme but uniform_fan_in (xavier and kaiming need two
    axes); the runtime constructor gets the resolved kind and std (``normal``, ``std``)."""
    shape = values["shape"]
    if not all(isinstance(size, int) and size >= 1 for size in shape):
        raise LayerError("E0609", f"{name}: every size of `shape` must be a positive integer known at compile "
                         f"time (a parameter has no batch axis), got {format_shape(shape)}", "shape")
    (parameter,) = initialise(name, (rules.parameter("weight", shape, "zeros"),), values)
    arguments = {"shape": tuple(shape), "init": parameter.init,
                 **({} if parameter.init in ("zeros", "ones") else {"std": parameter.std})}
    return Outcome((TensorInfo("f32", tuple(shape)),), arguments, (parameter,))


def gaussian_sample(name, tensors, values) -> Outcome:
    """``gaussian_sample(mean, logvar)``: ``mean + exp(logvar / 2) * eps``, eps ~ N(0, I), in
    training; ``mean`` in evaluation. Both f32 of one shape; the output has that shape."""
    mean, logvar = tensors["mean"], tensors["logvar"]
    for argument, tensor in (("mean", mean), ("logvar", logvar)):
        rules.f32_input(name, tensor, argument)
    if tuple(logvar.shape) != tuple(mean.shape):
        raise LayerError("E0608", f"{name}: logvar {format_shape(logvar.shape)} must have the shape of mean "
                         f"{format_shape(mean.shape)} (one log-variance per mean)", "logvar")
    return Outcome((mean,), {})


def reshape(name, tensors, values) -> Outcome:
    x, target = tensors["x"], values["shape"]
    unknown = [index for index, size in enumerate(target) if not isinstance(size, int) or size == -1]
    if any(isinstance(size, int) and size < -1 for size in target):
        raise LayerError("E0609", f"{name}: negative size in the target shape {format_shape(target)}", "shape")
    if len(unknown) > 1:
        return _reshape_carrying_axes(name, x, target)
    total = dimensions.product(x.shape)
    shape = list(target)
    if unknown and target[unknown[0]] == -1:
        known = dimensions.product(size for size in target if size != -1)
        missing = dimensions.divide_exactly(total, known)
        if missing is None or missing == 0:
            raise LayerError("E0608", f"{name}: cannot reshape {format_shape(x.shape)} to {format_shape(target)}")
        shape[unknown[0]] = missing
    if dimensions.product(shape) != total:
        raise LayerError("E0608", f"{name}: cannot reshape {format_shape(x.shape)} to {format_shape(target)}: the number of values differs")
    runtime = tuple(size if isinstance(size, int) else -1 for size in target)
    return Outcome((TensorInfo(x.dtype, tuple(shape)),), {"shape": runtime})


def _reshape_carrying_axes(name, x: TensorInfo, target) -> Outcome:
    """A target with several sizes unknown until run time: each symbolic size must be one of
    the input's own axes (``B``, ``T`` carried through; the generated code reads it from the
    input as ``from_input = ((position, axis), ...)``), at most one size is ``-1``, and the
    number of values must be provably the input's."""
    if sum(size == -1 for size in target) > 1:
        raise LayerError("E0609", f"{name}: the target shape {format_shape(target)} may hold at most one -1", "shape")
    used: set[int] = set()
    carried = []
    for position, size in enumerate(target):
        if isinstance(size, int):
            continue
        axis = next((axis for axis, dim in enumerate(x.shape) if dim == size and axis not in used), None)
        if axis is None:
            raise LayerError(
                "E0609", f"{name}: size {dimensions.render(size)} of the target shape {format_shape(target)} is not an "
                f"axis of the input {format_shape(x.shape)}; with more than one size unknown until run time, each "
                "must be an axis of the input", "shape")
        used.add(axis)
        carried.append((position, axis))
    total = dimensions.product(x.shape)
    shape = list(target)
    if -1 in target:
        known = dimensions.product(size for size in target if size != -1)
        missing = dimensions.divide_exactly(total, known)
        if missing is None or missing == 0:
            raise LayerError("E0609", f"{name}: cannot prove that the target shape {format_shape(target)} holds as many "
                             f"values as the input {format_shape(x.shape)}: {dimensions.render(total)} is not a multiple "
                             f"of {dimensions.render(known)}", "shape")
        shape[target.index(-1)] = missing
    if dimensions.product(shape) != total:
        raise LayerError("E0609", _unproven(name, x.shape, target, total, dimensions.product(shape)), "shape")
    runtime = tuple(size if isinstance(size, int) else -1 for size in target)
    return Outcome((TensorInfo(x.dtype, tuple(shape)),), {"shape": runtime, "from_input": tuple(carried)})


def _unproven(name, source, target, total, values) -> str:
    return (f"{name}: cannot prove that the target shape {format_shape(target)} holds as many values as the input "
            f"{format_shape(source)}: {dimensions.render(values)} against {dimensions.render(total)}")


def cast(name, tensors, values) -> Outcome:
    """``cast(x, dtype)``: the shape of ``x``, the named dtype."""
    return Outcome((TensorInfo(values["dtype"], tensors["x"].shape),), dict(values))


def where(name, tensors, values) -> Outcome:
    """``where(condition, a, b)``: a bool condition; ``a`` and ``b`` tensors or numbers (a
    number is a scalar: ``f32`` for a float, ``bool`` for true / false, ``int`` for an
    integer); the three shapes broadcast; the result is f32 when either side is f32, bool
    when both are bool, else the integer dtype of the tensor side (i64 for two integers)."""
    condition, a, b = tensors["condition"], tensors["a"], tensors["b"]
    if condition.dtype != "bool":
        raise LayerError("E0617", f"{name}: condition must be bool, got {condition.dtype}{format_shape(condition.shape)} "
                         "(compare first: `x != 0`, or `cast(x, bool)`)", "condition")
    shape = dimensions.broadcast(condition.shape, a.shape)
    shape = None if shape is None else dimensions.broadcast(shape, b.shape)
    if shape is None:
        listed = ", ".join(format_shape(info.shape) for info in (condition, a, b))
        raise LayerError("E0608", f"{name}: shapes {listed} do not broadcast")
    if (a.dtype == "bool") != (b.dtype == "bool"):
        raise LayerError("E0617", f"{name}: cannot choose between {a.dtype} and {b.dtype} values; "
                         "cast one of them (`cast(x, f32)`)", "b")
    dtypes = {a.dtype, b.dtype}
    if "f32" in dtypes:
        dtype = "f32"
    else:  # an integer number ("int", weakly typed) takes the other side's integer dtype
        dtype = max(dtypes - {"int"}, default="i64")
    return Outcome((TensorInfo(dtype, shape),), dict(values))


# the bounds of the random primitives' numbers: (argument, test, what it must be)
_DRAW_BOUNDS = {
    "normal": (("std", lambda value: value >= 0, ">= 0"),),
    "beta": (("alpha", lambda value: value > 0, "> 0"), ("beta", lambda value: value > 0, "> 0")),
    "logit_normal": (("std", lambda value: value > 0, "> 0"),),
}


def draw(name, tensors, values) -> Outcome:
    """``uniform([B])``, ``beta([B, 1], 2.0, 5.0)``...: f32 of the given shape, whose sizes are
    numbers or the batch ``B`` (the sampler's size at run time); the numbers in their ranges."""
    shape = values["shape"]
    for size in shape:
        if isinstance(size, int) and size < 1:
            raise LayerError("E0609", f"{name}: the shape {format_shape(shape)} has a size below 1", "shape")
        if not isinstance(size, int) and dimensions.render(size) != "B":
            raise LayerError("E0609", f"{name}: size {dimensions.render(size)} of the shape {format_shape(shape)} is "
                             "neither a number nor the batch B", "shape")
    if name == "uniform" and not values["high"] > values["low"]:
        raise LayerError("E0609", f"{name}: high ({values['high']}) must be greater than low ({values['low']})", "high")
    for argument, test, wanted in _DRAW_BOUNDS.get(name, ()):
        if not test(values[argument]):
            raise LayerError("E0609", f"{name}: `{argument}` must be {wanted}, got {values[argument]}", argument)
    runtime_shape = tuple(size if isinstance(size, int) else "B" for size in shape)
    return Outcome((TensorInfo("f32", tuple(shape)),), {**values, "shape": runtime_shape})
