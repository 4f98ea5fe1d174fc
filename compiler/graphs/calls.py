"""Calls in graphs: registry layers and ops, and the dispatch to block instances and
repeats (``blocks.py``).

Arguments bind like Python: positional in declaration order, then keywords; an unknown
keyword, a duplicate or a missing argument is E0602. Each argument is converted to the type
its slot declares (``layers.Argument.type`` for layers, the scalar type for a block's
hyperparameters); a mismatch is E0609 at the argument.

A block call binds the block's dimension names from the shapes of its tensor arguments
(the first bare occurrence of a name binds it, every other occurrence must agree; E0608 at
the argument otherwise), then instantiates the block once per distinct (block,
hyperparameters, input types): that instance is one ``ir.ModuleDef``.
"""

from __future__ import annotations

from specc.compiler import ir
from specc.compiler.vocabulary import layers
from specc.compiler.vocabulary import dimensions
from specc.compiler.vocabulary.dimensions import format_shape
from specc.compiler.vocabulary import initializers
from specc.dsl.diagnostics import did_you_mean
from specc.compiler.vocabulary.shape_rules import LayerError, ParameterReference, TensorInfo
from specc.compiler.graphs.values import (
    POISON, GraphError, Tensor, TensorList, describe,
)
from specc.dsl import ast

_TYPE_WORDS = {
    "tensor": "a tensor", "optional_tensor": "a tensor", "tensors": "a list of tensors", "int": "an integer", "optional_int": "an integer",
    "ints": "an integer or a list of integers", "float": "a number", "optional_float": "a number",
    "bool": "true or false", "shape": "a list of sizes", "padding": "an integer, a list of integers or `same`",
    "str": "a word or a string", "list": "a list", "enum": "one of the listed words",
    "initializer": "an initialisation scheme", "operand": "a tensor or a number",
}
_TENSOR_KINDS = ("tensor", "optional_tensor", "tensors", "operand")


MAX_REPEAT = 10_000  # repetitions of one repeat (each has its own parameters)


# ----------------------------------------------------------------------------- arguments


def bind_arguments(function: str, parameters, expr: ast.Call) -> dict:
    """Map parameter names to argument expressions. ``parameters``: (name, required)."""
    names = [name for name, _ in parameters]
    if len(expr.args) > len(names):
        listed = ", ".join(names)
        raise GraphError("E0602", f"{function} takes at most {len(names)} arguments ({listed}), got {len(expr.args)}",
                         expr.args[len(names)].span)
    bound = dict(zip(names, expr.args))
    for keyword in expr.kwargs:
        if keyword.name not in names:
            raise GraphError("E0602", f"{function} has no argument `{keyword.name}`", keyword.span,
                             did_you_mean(keyword.name, names) or f"its arguments are {', '.join(names)}")
        if keyword.name in bound:
            raise GraphError("E0602", f"{function}: argument `{keyword.name}` is given twice", keyword.span)
        bound[keyword.name] = keyword.value
    missing = [name for name, required in parameters if required and name not in bound]
    if missing:
        listed = ", ".join(f"`{name}`" for name in missing)
        raise GraphError("E0602", f"{function}: missing argument{'s' if len(missing) > 1 else ''} {listed}", expr.span)
    return bound


def is_integer(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_value(kind: str, value, choices=()):
    """``value`` converted to the slot type ``kind``, or raise ValueError."""
    if kind in ("tensor", "optional_tensor") and isinstance(value, Tensor):
        return value
    if kind == "operand" and isinstance(value, (Tensor, int, float)):
        return value
    if kind == "tensors" and (isinstance(value, TensorList) or value == ()):
        return value.items if isinstance(value, TensorList) else ()
    if kind in ("int", "optional_int") and (is_integer(value) or (kind == "optional_int" and value is None)):
        return value
    if kind in ("float", "optional_float") and (_number(value) or (kind == "optional_float" and value is None)):
        return None if value is None else float(value)
    if kind == "bool" and isinstance(value, bool):
        return value
    if kind in ("ints", "padding") and (is_integer(value) or (isinstance(value, tuple) and value and all(map(is_integer, value)))):
        return value
    if kind == "ints" and value is None:
        return value
    if kind == "padding" and value == "same":
        return value
    if kind == "shape" and isinstance(value, tuple) and all(is_integer(v) or isinstance(v, dimensions.Poly) for v in value):
        return value
    if kind in ("enum", "str") and isinstance(value, str) and (not choices or value in choices):
        return value
    if kind == "list" and isinstance(value, tuple):
        return value
    raise ValueError(kind)


def _initializer(scope, function: str, name: str, expr, choices):
    """An ``initializer`` slot: a scheme of ``choices`` written as a word (its defaults) or
    called with its arguments (``normal(std = 0.02)``, ``kaiming_normal(mode = fan_out)``),
    each argument an expression of lets: an ``initializers.Initializer``."""
    if isinstance(expr, ast.Call):
        word, span = expr.function, expr.function_span
    else:
        word, span = scope.word(expr), expr.span
        if word is POISON:
            return POISON
    if not isinstance(word, str) or word not in choices:
        return _unknown_scheme(function, name, word, span, choices)
    if not isinstance(expr, ast.Call):
        return initializers.of(word)
    declared = initializers.SCHEMES.get(word, ())
    if not declared:
        raise GraphError("E0609", f"{function}: `{word}` takes no arguments (write `{name} = {word}`)", expr.span)
    if len(expr.args) > len(declared):
        names = ", ".join(key for key, _ in declared)
        count = "one argument" if len(declared) == 1 else f"{len(declared)} arguments"
        raise GraphError("E0609", f"{function}: `{word}` takes at most {count} ({names}), got {len(expr.args)}",
                         expr.args[len(declared)].span)
    bound = bind_arguments(f"{function}: `{word}`", [(key, False) for key, _ in declared], expr)
    arguments = []
    for key, default in declared:
        value = default if key not in bound else _scheme_argument(scope, function, word, key, bound[key])
        if value is POISON:
            return POISON
        arguments.append((key, value))
    return initializers.Initializer(word, tuple(arguments))


def _unknown_scheme(function, name, word, span, choices):
    listed = ", ".join(choice for choice in choices)
    synonym = initializers.SYNONYMS.get(word) if isinstance(word, str) else None
    if synonym in choices:
        help = f"`{word}` is called `{synonym}` here"
    else:
        help = did_you_mean(word, choices) if isinstance(word, str) else None
    raise GraphError("E0609", f"{function}: argument `{name}` must be one of {listed}, got {describe(word)}",
                     span, help)


def _scheme_argument(scope, function: str, word: str, key: str, expr):
    """``std`` and ``gain`` are positive numbers; ``mode`` is fan_in or fan_out."""
    if key == "mode":
        value = scope.word(expr)
        if value is POISON or value in initializers.MODES:
            return value
        raise GraphError("E0609", f"{function}: `mode` of `{word}` must be one of {', '.join(initializers.MODES)}, "
                         f"got {describe(value)}", expr.span,
                         did_you_mean(value, initializers.MODES) if isinstance(value, str) else None)
    value = scope.evaluate(expr)
    if value is POISON:
        return value
    if not _number(value) or not 0 < value < float("inf"):
        raise GraphError("E0609", f"{function}: `{key}` of `{word}` must be a positive number, got {describe(value)}",
                         expr.span)
    return float(value)


def convert_argument(scope, function: str, name: str, kind: str, expr, choices=()):
    if kind == "initializer":
        return _initializer(scope, function, name, expr, choices)
    if kind == "parameter":
        return scope.parameter_reference(expr, function, name)
    value = scope.word(expr) if kind in ("enum", "padding", "str") else scope.evaluate(expr)
    if value is POISON or kind not in _TYPE_WORDS:  # an unknown type is the parser's diagnostic
        return value
    try:
        return check_value(kind, value, choices)
    except ValueError:
        if choices:
            wanted = "one of " + ", ".join(choices)
            help = did_you_mean(value, choices) if isinstance(value, str) else None
        else:
            wanted, help = _TYPE_WORDS[kind], None
        raise GraphError("E0609", f"{function}: argument `{name}` must be {wanted}, got {describe(value)}",
                         expr.span, help) from None


# ----------------------------------------------------------------------------- calls


def call(scope, expr: ast.Call, hints):
    program = scope.program
    if expr.function in program.blocks:
        from specc.compiler.graphs.blocks import block_call  # blocks bind their arguments here

        return block_call(scope, program.blocks[expr.function], expr, hints)
    if expr.function in program.externs:
        from specc.compiler.graphs.externs import extern_call  # the user's functions

        return extern_call(scope, program.externs[expr.function], expr, hints)
    if expr.function in COMPILE_TIME_FUNCTIONS:
        return compile_time_call(scope, expr)
    if expr.function == "update":
        return update_call(scope, expr, hints)
    entry = layers.lookup(expr.function)
    if entry is None:
        candidates = layers.names() + sorted(program.blocks) + sorted(program.externs) + sorted(COMPILE_TIME_FUNCTIONS) + ["update"]
        raise GraphError("E0601", f"unknown layer or block `{expr.function}`", expr.function_span,
                         did_you_mean(expr.function, candidates))
    return layer_call(scope, entry, expr, hints)


COMPILE_TIME_FUNCTIONS = {"range": (1, 3), "len": (1, 1), "min": (1, None), "max": (1, None), "zip": (2, None)}


def update_call(scope, expr: ast.Call, hints):
    """``update(b, value)``: the ``buffer`` layer that returned ``b`` stores ``value`` in training
    steps (``self.<b>_0(value)``) and returns it; in evaluation it returns the stored value.
    ``b`` must be a buffer's value (E0609), ``value`` an f32 tensor of its shape (E0617, E0608)."""
    if expr.kwargs or len(expr.args) != 2:
        raise GraphError("E0602", "update takes 2 positional arguments (a buffer's value, its new value)", expr.span)
    target, value = (scope.evaluate(argument) for argument in expr.args)
    if target is POISON or value is POISON:
        return POISON
    produced = scope.layer_outputs.get(target.ref) if isinstance(target, Tensor) else None
    if produced is None or produced[1] != "buffer":
        raise GraphError("E0609", f"update: the first argument must be the value of a `buffer(...)`, got {describe(target)}",
                         expr.args[0].span, "declare it first: `count = buffer([1])`, then `count = update(count, count + 1)`")
    if not isinstance(value, Tensor):
        raise GraphError("E0609", f"update: the new value must be a tensor, got {describe(value)}", expr.args[1].span)
    if value.info.dtype != "f32":
        raise GraphError("E0617", f"update: the new value must be f32, got {value.info.dtype}{format_shape(value.info.shape)}",
                         expr.args[1].span)
    if tuple(value.info.shape) != tuple(target.info.shape):
        raise GraphError("E0608", f"update: the new value {format_shape(value.info.shape)} must have the buffer's shape "
                         f"{format_shape(target.info.shape)}", expr.args[1].span)
    (result,) = scope.emit("layer", "Buffer", _tensor_operands([value]), (target.info,), _output_names(hints, "update", 1),
                           expr.span, attribute=produced[0])
    scope.layer_outputs[result.ref] = produced  # updated again later: still the buffer's value
    return result


def compile_time_call(scope, expr: ast.Call):
    """``range(n)``, ``range(a, b, step)``, ``len(list)``, ``min(...)``, ``max(...)``, ``zip(a, b, ...)``
    on values known at compile time (a list of tensors has a length too)."""
    name = expr.function
    low, high = COMPILE_TIME_FUNCTIONS[name]
    if expr.kwargs or not low <= len(expr.args) <= (high or len(expr.args)):
        count = f"{low} to {high}" if high and high != low else (str(low) if high else f"at least {low}")
        raise GraphError("E0602", f"{name} takes {count} positional argument{'s' * (high != 1)}", expr.span)
    values = [scope.evaluate(argument) for argument in expr.args]
    if any(value is POISON for value in values):
        return POISON
    if name == "zip":
        return _zip(values, expr)
    if name == "len":
        if not isinstance(values[0], (tuple, TensorList)):
            raise GraphError("E0609", f"len: needs a list, got {describe(values[0])}", expr.args[0].span)
        return len(values[0].items if isinstance(values[0], TensorList) else values[0])
    if name in ("min", "max") and len(values) == 1 and isinstance(values[0], tuple):
        values = list(values[0])
    wanted = is_integer if name == "range" else _number
    for value, argument in zip(values, expr.args if len(values) == len(expr.args) else [expr] * len(values)):
        if not wanted(value):
            word = "an integer" if name == "range" else "a number"
            raise GraphError("E0609", f"{name}: needs {word}, got {describe(value)}", argument.span)
    if name == "range":
        if len(values) == 3 and values[2] == 0:
            raise GraphError("E0609", "range: the step must not be 0", expr.args[2].span)
        result = range(*values)
        if len(result) > MAX_REPEAT:
            raise GraphError("E0609", f"range: {len(result)} elements is more than the limit of {MAX_REPEAT}", expr.span)
        return tuple(result)
    if not values:
        raise GraphError("E0609", f"{name}: needs at least one value", expr.span)
    return min(values) if name == "min" else max(values)


def _zip(values, expr: ast.Call) -> tuple:
    """``zip(channels, strides)``: the lists' elements paired by position (a pair of tensors
    is a list of tensors); the lists must have the same length."""
    lists = []
    for value, argument in zip(values, expr.args):
        if not isinstance(value, (tuple, TensorList)):
            raise GraphError("E0609", f"zip: needs lists, got {describe(value)}", argument.span)
        lists.append(value.items if isinstance(value, TensorList) else value)
    lengths = [len(items) for items in lists]
    if len(set(lengths)) > 1:
        listed = ", ".join(str(length) for length in lengths)
        raise GraphError("E0609", f"zip: the lists have different lengths ({listed})", expr.span,
                         "zip pairs elements by position: give every list as many elements")
    pairs = []
    for group in zip(*lists):
        pairs.append(TensorList(group) if all(isinstance(item, Tensor) for item in group) else tuple(group))
    return tuple(pairs)


def layer_call(scope, entry: layers.Entry, expr: ast.Call, hints):
    if entry.draws and not scope.program.draws_allowed:
        raise GraphError("E0720", f"`{entry.name}` draws random numbers, which only a time sampler does "
                         "(`time = graph(\"block\")` of a flow objective)", expr.function_span,
                         "a model draws its randomness with layers (dropout, gaussian_sample); losses, paths and "
                         "metrics are functions of their inputs")
    bound = bind_arguments(entry.name, [(a.name, a.required) for a in entry.arguments], expr)
    tensors, values = {}, {}
    for argument in entry.arguments:
        if argument.name in bound:
            value = convert_argument(scope, entry.name, argument.name, argument.type, bound[argument.name], argument.choices)
        else:
            value = argument.default
        target = tensors if argument.type in _TENSOR_KINDS else values
        target[argument.name] = value
    if any(value is POISON for value in list(tensors.values()) + list(values.values())):
        return POISON
    tied = [value for value in values.values() if isinstance(value, ParameterReference)]
    if tied and "init" in bound:  # the weight is another layer's, started by that layer's init
        raise GraphError("E0609", f"{entry.name}: `init` has no effect with `weight = {tied[0].text}`: the weight is "
                         "that layer's, and its own `init` starts it", bound["init"].span)
    infos = {name: _info(value) for name, value in tensors.items()}
    trainable = values.pop("trainable", True)  # every layer's (layers._TRAINABLE), not its rule's
    try:
        outcome = entry.rule(entry.name, infos, values)
    except LayerError as error:
        span = bound[error.argument].span if error.argument in bound else expr.span
        raise GraphError(error.code, error.message, span) from None
    if entry.identity_at and values.get(entry.identity_at[0]) == entry.identity_at[1]:
        return next(iter(tensors.values()))  # the identity (``dropout(x, 0.0)``): no layer at all
    operands = _tensor_operands(tensors.values()) + [ir.Operand(parameter=value.path) for value in tied]
    names = _output_names(hints, entry.name, len(outcome.outputs))
    arguments = tuple(outcome.arguments.items())
    if entry.kind == "layer":
        if not trainable and all(parameter.buffer for parameter in outcome.parameters):  # buffers are never trained
            raise GraphError("E0609", f"{entry.name}: `trainable = false` has no effect: this layer has no parameters "
                             "of its own", bound["trainable"].span)
        attribute = scope.attribute(hints[0] if entry.named_by_target and hints and len(hints) == 1 else entry.name)
        scope.submodules.append(ir.Layer(attribute, entry.runtime, tuple(sorted(arguments)), outcome.parameters,
                                         trainable=bool(trainable)))
        results = scope.emit("layer", entry.runtime, operands, outcome.outputs, names, expr.span, attribute=attribute)
        parameters = {parameter.name: parameter.shape for parameter in outcome.parameters if not parameter.buffer}
        scope.layer_outputs.update((result.ref, (attribute, entry.name, parameters)) for result in results)
    else:
        results = scope.emit("op", entry.runtime, operands, outcome.outputs, names, expr.span, arguments)
    return TensorList(tuple(results)) if entry.returns_list or len(results) != 1 else results[0]


def _info(value):
    """The type a rule sees: a tensor's, the tensors' of a list, or a number's as a scalar
    (``int`` for an integer: it takes the dtype of the tensor it meets)."""
    if isinstance(value, tuple):
        return tuple(tensor.info for tensor in value)
    if isinstance(value, Tensor) or value is None:
        return value and value.info
    dtype = "bool" if isinstance(value, bool) else "f32" if isinstance(value, float) else "int"
    return TensorInfo(dtype, ())


def _tensor_operands(values) -> list:
    """Positional inputs of a layer or op call, in the entry's argument order. Trailing omitted
    optional tensors are left out; one omitted before a given one is a literal ``None``
    (``attention(x, mask = m)`` calls ``self.attention_0(x, None, m)``)."""
    operands, pending = [], 0
    for value in values:
        if value is None:
            pending += 1
            continue
        operands.extend([ir.Operand(literal=None)] * pending)
        pending = 0
        if not isinstance(value, (Tensor, tuple)):  # a number in an ``operand`` slot
            operands.append(ir.Operand(literal=value))
            continue
        operands.extend(ir.Operand(ref=t.ref) for t in (value if isinstance(value, tuple) else (value,)))
    return operands


def _output_names(hints, base: str, count: int) -> list[str]:
    if hints and len(hints) == count:
        return list(hints)
    if hints and len(hints) == 1:
        base = hints[0]
    return [base] if count == 1 else [f"{base}_{index}" for index in range(count)]


# ----------------------------------------------------------------------------- blocks
