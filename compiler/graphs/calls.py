"""Calls in graphs: registry layers and ops, block instances (monomorphised), repeats.

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

from dataclasses import dataclass

from specc.compiler import ir
from specc.compiler.vocabulary import layers
from specc.compiler.vocabulary import dimensions as S
from specc.dsl.diagnostics import did_you_mean
from specc.compiler.graphs.arithmetic import dim_value
from specc.compiler.vocabulary.shape_rules import LayerError
from specc.compiler.graphs.values import (
    MISSING, POISON, RESERVED, GraphError, Several, Tensor, TensorList, assigned_names, camel_case, declared_text, describe,
    expression_text, hashable, ir_type, origin,
)
from specc.dsl import ast

_TYPE_WORDS = {
    "tensor": "a tensor", "optional_tensor": "a tensor", "tensors": "a list of tensors", "int": "an integer", "optional_int": "an integer",
    "ints": "an integer or a list of integers", "float": "a number", "optional_float": "a number",
    "bool": "true or false", "shape": "a list of sizes", "padding": "an integer, a list of integers or `same`",
    "str": "a word or a string", "list": "a list", "enum": "one of the listed words",
    "initializer": "one of the listed words or normal(std)",
}


MAX_REPEAT = 10_000  # repetitions of one repeat (each has its own parameters)


@dataclass(frozen=True)
class Built:
    """One instantiated block or model: its class and what it returns."""

    class_name: str
    structure: tuple  # per returned value: None (a tensor) or n (a list of n tensors)
    outputs: tuple  # flat ((ref, TensorInfo), ...)


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


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_value(kind: str, value, choices=()):
    """``value`` converted to the slot type ``kind``, or raise ValueError."""
    if kind in ("tensor", "optional_tensor") and isinstance(value, Tensor):
        return value
    if kind == "tensors" and (isinstance(value, TensorList) or value == ()):
        return value.items if isinstance(value, TensorList) else ()
    if kind in ("int", "optional_int") and (_is_int(value) or (kind == "optional_int" and value is None)):
        return value
    if kind in ("float", "optional_float") and (_number(value) or (kind == "optional_float" and value is None)):
        return None if value is None else float(value)
    if kind == "bool" and isinstance(value, bool):
        return value
    if kind in ("ints", "padding") and (_is_int(value) or (isinstance(value, tuple) and value and all(map(_is_int, value)))):
        return value
    if kind == "ints" and value is None:
        return value
    if kind == "padding" and value == "same":
        return value
    if kind == "shape" and isinstance(value, tuple) and all(_is_int(v) or isinstance(v, S.Poly) for v in value):
        return value
    if kind in ("enum", "str") and isinstance(value, str) and (not choices or value in choices):
        return value
    if kind == "list" and isinstance(value, tuple):
        return value
    raise ValueError(kind)


def _initializer(scope, function: str, name: str, expr, choices):
    """An ``initializer`` slot: a word of ``choices`` (std 1) or ``normal(std)`` /
    ``normal(std = s)`` with ``std > 0``: ``(word, std)``."""
    if isinstance(expr, ast.Call) and expr.function == "normal":
        given = list(expr.args) + [keyword.value for keyword in expr.kwargs if keyword.name == "std"]
        if len(given) != 1 or len(given) != len(expr.args) + len(expr.kwargs):
            raise GraphError("E0609", f"{function}: `normal` takes one argument, the standard deviation "
                             "(`normal(0.02)`)", expr.span)
        std = scope.evaluate(given[0])
        if std is POISON:
            return POISON
        if not _number(std) or std <= 0:
            raise GraphError("E0609", f"{function}: the standard deviation of `normal` must be a positive number, "
                             f"got {describe(std)}", given[0].span)
        return ("normal", float(std))
    value = scope.word(expr)
    if value is POISON:
        return POISON
    if isinstance(value, str) and value in choices:
        return (value, 1.0)
    help = did_you_mean(value, choices) if isinstance(value, str) else None
    raise GraphError("E0609", f"{function}: argument `{name}` must be one of {', '.join(choices)} or normal(std), "
                     f"got {describe(value)}", expr.span, help)


def _convert(scope, function: str, name: str, kind: str, expr, choices=()):
    if kind == "initializer":
        return _initializer(scope, function, name, expr, choices)
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
        return block_call(scope, program.blocks[expr.function], expr, hints)
    if expr.function in COMPILE_TIME_FUNCTIONS:
        return compile_time_call(scope, expr)
    entry = layers.lookup(expr.function)
    if entry is None:
        candidates = layers.names() + sorted(program.blocks) + sorted(COMPILE_TIME_FUNCTIONS)
        raise GraphError("E0601", f"unknown layer or block `{expr.function}`", expr.function_span,
                         did_you_mean(expr.function, candidates))
    return layer_call(scope, entry, expr, hints)


COMPILE_TIME_FUNCTIONS = {"range": (1, 3), "len": (1, 1), "min": (1, None), "max": (1, None)}


def compile_time_call(scope, expr: ast.Call):
    """``range(n)``, ``range(a, b, step)``, ``len(list)``, ``min(...)``, ``max(...)`` on values
    known at compile time (a list of tensors has a length too)."""
    name = expr.function
    low, high = COMPILE_TIME_FUNCTIONS[name]
    if expr.kwargs or not low <= len(expr.args) <= (high or len(expr.args)):
        count = f"{low} to {high}" if high and high != low else (str(low) if high else f"at least {low}")
        raise GraphError("E0602", f"{name} takes {count} positional argument{'s' * (high != 1)}", expr.span)
    values = [scope.evaluate(argument) for argument in expr.args]
    if any(value is POISON for value in values):
        return POISON
    if name == "len":
        if not isinstance(values[0], (tuple, TensorList)):
            raise GraphError("E0609", f"len: needs a list, got {describe(values[0])}", expr.args[0].span)
        return len(values[0].items if isinstance(values[0], TensorList) else values[0])
    if name in ("min", "max") and len(values) == 1 and isinstance(values[0], tuple):
        values = list(values[0])
    wanted = _is_int if name == "range" else _number
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


def layer_call(scope, entry: layers.Entry, expr: ast.Call, hints):
    bound = bind_arguments(entry.name, [(a.name, a.required) for a in entry.arguments], expr)
    tensors, values = {}, {}
    for argument in entry.arguments:
        if argument.name in bound:
            value = _convert(scope, entry.name, argument.name, argument.type, bound[argument.name], argument.choices)
        else:
            value = argument.default
        target = tensors if argument.type in ("tensor", "optional_tensor", "tensors") else values
        target[argument.name] = value
    if any(value is POISON for value in list(tensors.values()) + list(values.values())):
        return POISON
    infos = {name: (tuple(t.info for t in value) if isinstance(value, tuple) else value and value.info)
             for name, value in tensors.items()}
    try:
        outcome = entry.rule(entry.name, infos, values)
    except LayerError as error:
        span = bound[error.argument].span if error.argument in bound else expr.span
        raise GraphError(error.code, error.message, span) from None
    operands = _tensor_operands(tensors.values())
    names = _output_names(hints, entry.name, len(outcome.outputs))
    arguments = tuple(outcome.arguments.items())
    if entry.kind == "layer":
        attribute = scope.attribute(hints[0] if entry.named_by_target and hints and len(hints) == 1 else entry.name)
        scope.submodules.append(ir.Layer(attribute, entry.runtime, tuple(sorted(arguments)), outcome.parameters))
        results = scope.emit("layer", entry.runtime, operands, outcome.outputs, names, expr.span, attribute=attribute)
    else:
        results = scope.emit("op", entry.runtime, operands, outcome.outputs, names, expr.span, arguments)
    return TensorList(tuple(results)) if entry.returns_list or len(results) != 1 else results[0]


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
        operands.extend(ir.Operand(ref=t.ref) for t in (value if isinstance(value, tuple) else (value,)))
    return operands


def _output_names(hints, base: str, count: int) -> list[str]:
    if hints and len(hints) == count:
        return list(hints)
    if hints and len(hints) == 1:
        base = hints[0]
    return [base] if count == 1 else [f"{base}_{index}" for index in range(count)]


# ----------------------------------------------------------------------------- blocks


def evaluate_hyperparameters(scope, definition, bound: dict, function: str) -> dict:
    """Hyperparameter values: the caller's arguments (evaluated in the caller's scope) or the
    defaults (evaluated with the constants and the earlier hyperparameters)."""
    hypers = {}
    for parameter in definition.parameters:
        if parameter.tensor is not None:
            continue
        if parameter.name in bound:
            value = _convert(scope, function, parameter.name, parameter.scalar, bound[parameter.name])
        elif parameter.default is not None:
            defaults = scope.program.top_scope(hypers)
            value = _convert(defaults, function, parameter.name, parameter.scalar, parameter.default)
        else:
            raise GraphError("E0602", f"{function}: missing argument `{parameter.name}`", definition.name_span)
        hypers[parameter.name] = value
    return hypers


def bind_dims(scope, definition, hypers: dict, tensors: list, function: str) -> dict:
    """Bind the dimension names of ``definition``'s tensor inputs to the shapes of
    ``tensors`` (``(TensorInfo, span)`` per tensor input in order)."""
    parameters = [p for p in definition.parameters if p.tensor is not None]
    dims: dict = {}
    for parameter, (info, _) in zip(parameters, tensors):
        if len(parameter.tensor.dims) == len(info.shape):
            for expr, size in zip(parameter.tensor.dims, info.shape):
                if isinstance(expr, ast.Name) and expr.name not in hypers and expr.name not in dims:
                    dims[expr.name] = size  # shadows a constant of the same name
    env = {**dims, **hypers}
    for parameter, (info, span) in zip(parameters, tensors):
        declared = parameter.tensor
        if declared.dtype is not None and declared.dtype not in ("f32", "i32", "i64", "bool"):
            raise GraphError("E0617", f"unknown dtype `{declared.dtype}`", declared.span)
        text = f"`{parameter.name}: {declared_text(declared)}`"
        if declared.dtype and declared.dtype != info.dtype:
            raise GraphError("E0617", f"{function}: argument `{parameter.name}` is {info.dtype}{S.format_shape(info.shape)}, "
                             f"expected {declared.dtype} ({text})", span)
        if len(declared.dims) != len(info.shape):
            raise GraphError("E0608", f"{function}: argument `{parameter.name}` has shape {S.format_shape(info.shape)}, "
                             f"expected {len(declared.dims)} axes ({text})", span)
        for expr in declared.dims:
            _check_inferable(scope, expr, env)
        expected = tuple(dim_value(scope, expr, env, symbols=False) for expr in declared.dims)
        if expected != tuple(info.shape):
            raise GraphError("E0608", f"{function}: argument `{parameter.name}` has shape {S.format_shape(info.shape)}, "
                             f"expected {S.format_shape(expected)} ({text})", span)
    return dims


def _check_inferable(scope, expr, env: dict) -> None:
    """A name used only inside a compound dimension (``2 * D``) cannot be inferred."""
    if isinstance(expr, (ast.BinaryOp, ast.UnaryOp)):
        for name in _names(expr):
            if name.name not in env and name.name not in scope.program.constants:
                raise GraphError("E0603", f"cannot infer `{name.name}` from `{expression_text(expr)}`", name.span,
                                 f"write `{name.name}` alone in some input type, or make it a hyperparameter")


def _names(expr):
    if isinstance(expr, ast.Name):
        yield expr
    elif isinstance(expr, ast.BinaryOp):
        yield from _names(expr.left)
        yield from _names(expr.right)
    elif isinstance(expr, ast.UnaryOp):
        yield from _names(expr.operand)


def block_call(scope, block: ast.Block, expr: ast.Call, hints):
    parameters = [(p.name, p.default is None) for p in block.parameters]
    bound = bind_arguments(block.name, parameters, expr)
    tensors = []
    for parameter in block.parameters:
        if parameter.tensor is not None:
            value = _convert(scope, block.name, parameter.name, "tensor", bound[parameter.name]) \
                if parameter.name in bound else POISON
            tensors.append(value)
    hypers = evaluate_hyperparameters(scope, block, bound, block.name)
    if any(value is POISON for value in tensors + list(hypers.values())):
        return POISON
    tensor_parameters = [p for p in block.parameters if p.tensor is not None]
    spans = [bound[p.name].span for p in tensor_parameters]
    dims = bind_dims(scope, block, hypers, [(t.info, span) for t, span in zip(tensors, spans)], block.name)
    built = instantiate(scope.program, block, hypers, dims, [t.info for t in tensors], expr.span)
    if built is None:
        scope.mark_failed()
        return POISON
    attribute = scope.attribute(block.name)
    scope.submodules.append(ir.Instance(attribute, built.class_name))
    names = _block_output_names(hints, built)
    operands = [ir.Operand(ref=t.ref) for t in tensors]
    results = scope.emit("layer", built.class_name, operands, [info for _, info in built.outputs], names, expr.span,
                         attribute=attribute)
    values, position = [], 0
    for shape in built.structure:
        if shape is None:
            values.append(results[position])
            position += 1
        else:
            values.append(TensorList(tuple(results[position:position + shape])))
            position += shape
    return values[0] if len(values) == 1 else Several(tuple(values))


def _block_output_names(hints, built: Built) -> list[str]:
    names, position = [], 0
    for index, shape in enumerate(built.structure):
        own = built.outputs[position][0] if built.outputs[position:] else "output"
        base = hints[index] if hints and len(hints) == len(built.structure) else own
        names.extend([base] if shape is None else [f"{base}_{item}" for item in range(shape)])
        position += 1 if shape is None else shape
    return names


def instantiate(program, definition, hypers: dict, dims: dict, infos: list, span) -> Built | None:
    """The ModuleDef of ``definition`` with these hyperparameters and input types (made once
    and cached); None when its body has errors (already reported)."""
    key = (type(definition).__name__, definition.name, tuple((k, hashable(v)) for k, v in sorted(hypers.items())),
           tuple((info.dtype, tuple(S.render(d) for d in info.shape)) for info in infos))
    if definition.name in program.stack:
        chain = " -> ".join(program.stack[program.stack.index(definition.name):] + [definition.name])
        raise GraphError("E0607", f"recursive block `{definition.name}`: {chain}", span,
                         "blocks cannot call themselves, directly or through other blocks")
    if key in program.instances:
        return program.instances[key]
    class_name = program.class_name(camel_case(definition.name))
    program.stack.append(definition.name)
    try:
        body = program.scope_type(program, class_name, definition.name)
        built = _lower_definition(body, definition, hypers, dims, infos)
    finally:
        program.stack.pop()
    program.instances[key] = built
    return built


def _lower_definition(body, definition, hypers: dict, dims: dict, infos: list) -> Built | None:
    for name, value in dims.items():
        body.env[name], body.roles[name] = value, "dim"
    for name, value in hypers.items():
        body.env[name], body.roles[name] = value, "hyper"
    tensor_parameters = [p for p in definition.parameters if p.tensor is not None]
    for parameter, info in zip(tensor_parameters, infos):
        if parameter.name in RESERVED:
            body.report(GraphError("E0605", f"`{parameter.name}` is reserved in generated code; rename this input",
                                   parameter.span))
        body.add_input(parameter.name, info)
    body.all_assigned = set(assigned_names(definition.body))
    body.lower(definition.body)
    if body.returns is None and not body.failed:
        body.report(GraphError("E0613", f"`{definition.name}` has no `return`", definition.name_span))
    structure, outputs = (), ()
    if body.returns is not None and not body.failed:
        try:
            structure, outputs = _check_outputs(body, definition, {**dims, **hypers})
        except GraphError as error:
            body.report(error)
    if body.failed:
        return None
    module = ir.ModuleDef(
        name=body.class_name, source=definition.name,
        inputs=tuple((ref, ir_type(info)) for ref, info in body.inputs),
        outputs=tuple((ref, ir_type(info)) for ref, info in outputs),
        submodules=tuple(body.submodules), body=tuple(body.body), origin=origin(definition.span))
    body.program.add_module(module)
    return Built(body.class_name, structure, outputs)


def _check_outputs(body, definition, env: dict):
    declared, returns, env = definition.outputs, body.returns, dict(env)
    if len(declared) != len(returns):
        raise GraphError("E0614", f"`{definition.name}` declares {len(declared)} output{'s' * (len(declared) != 1)} "
                         f"but returns {len(returns)} value{'s' * (len(returns) != 1)}", returns[0][1].span)
    structure, outputs = [], []
    for (value, expr), output in zip(returns, declared):
        text = expression_text(expr)
        if isinstance(output, ast.TensorList):
            if not isinstance(value, TensorList) or not value.items:
                raise GraphError("E0614", f"return: `{text}` is {describe(value)}, but `{definition.name}` declares a "
                                 "non-empty list of tensors (`list`)", expr.span)
            structure.append(len(value.items))
            outputs.extend((item.ref, item.info) for item in value.items)
            continue
        if not isinstance(value, Tensor):
            raise GraphError("E0614", f"return: `{text}` is {describe(value)}, but `{definition.name}` declares a tensor "
                             f"`{declared_text(output)}`", expr.span)
        if len(output.dims) == len(value.info.shape):  # a name bound nowhere else is bound by the output
            for dim, size in zip(output.dims, value.info.shape):
                if isinstance(dim, ast.Name) and dim.name not in env and dim.name not in body.program.constants:
                    env[dim.name] = size
        expected = tuple(dim_value(body, dim, env, symbols=True) for dim in output.dims)
        dtype = output.dtype or value.info.dtype
        if expected != value.info.shape or dtype != value.info.dtype:
            raise GraphError("E0614", f"return: `{text}` is {value.info.dtype}{S.format_shape(value.info.shape)}, but "
                             f"`{definition.name}` declares {dtype}{S.format_shape(expected)} (`{declared_text(output)}`)",
                             expr.span)
        structure.append(None)
        outputs.append((value.ref, value.info))
    return tuple(structure), tuple(outputs)


# ----------------------------------------------------------------------------- repeat


def lower_repeat(scope, statement: ast.Repeat) -> None:
    count = scope.evaluate(statement.count)
    updated_names = assigned_names(statement.body)
    if count is POISON:
        raise _Silent()
    if not _is_int(count) or count < 1:
        raise GraphError("E0611", f"`repeat` needs a positive integer known at compile time, got {describe(count)}",
                         statement.count.span)
    if count > MAX_REPEAT:
        raise GraphError("E0611", f"`repeat` count {count} is larger than the limit of {MAX_REPEAT}", statement.count.span)
    updated = [name for name in updated_names if isinstance(scope.find(name), Tensor)]
    for name in updated_names:
        value = scope.find(name)
        if value is not MISSING and not isinstance(value, Tensor) and scope.role(name) not in ("hyper", "dim", "loop"):
            raise GraphError("E0616", f"repeat: the body assigns `{name}`, which is {describe(value)}; a repeat body "
                             "can only carry tensors from one repetition to the next", statement.span,
                             "build lists and compile-time values outside the repeat, or use `for`")
    attribute = scope.attribute("repeat")
    program = scope.program
    body = program.scope_type(program, program.class_name(scope.class_name + camel_case(attribute)), scope.source, scope)
    entry = {name: body.find(name) for name in updated}
    body.lower(statement.body)
    if body.failed:
        raise _Silent()
    finals = []
    for name in updated:
        final = body.env.get(name)
        if not isinstance(final, Tensor) or final.info != entry[name].info:
            after = S.format_shape(final.info.shape) if isinstance(final, Tensor) else describe(final)
            raise GraphError("E0616", f"repeat: the body changes `{name}` from {S.format_shape(entry[name].info.shape)} "
                             f"to {after}; each repetition must give back the shapes it receives", statement.span)
        finals.append(final)
    module = ir.ModuleDef(
        name=body.class_name, source=scope.source,
        inputs=tuple((ref, ir_type(info)) for ref, info in body.inputs),
        outputs=tuple((final.ref, ir_type(final.info)) for final in finals),
        submodules=tuple(body.submodules), body=tuple(body.body), origin=origin(statement.span))
    program.add_module(module)
    scope.submodules.append(ir.ModuleList(attribute, body.class_name, count))
    operands = [ir.Operand(ref=outer.ref) for _, outer in body.captures]
    results = scope.emit("repeat", body.class_name, operands, [f.info for f in finals], updated, statement.span,
                         attribute=attribute)
    for name, tensor in zip(updated, results):
        scope.env[name] = tensor


class _Silent(GraphError):
    """A statement that fails because of an error already reported."""

    def __init__(self):
        Exception.__init__(self, "already reported")
        self.diagnostic = None
