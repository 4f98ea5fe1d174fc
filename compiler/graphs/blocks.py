"""Block instances and repeats: a block call binds the block's dimension names from the
shapes of its tensor arguments (the first bare occurrence of a name binds it, every other
occurrence must agree; E0608 at the argument otherwise), then instantiates the block once per
distinct (block, hyperparameters, input types): that instance is one ``ir.ModuleDef``. A
``repeat n { }`` lowers its body once, as a class instantiated n times (E0611, E0616).
"""

from __future__ import annotations

from dataclasses import dataclass

from specc.compiler import ir
from specc.compiler.graphs.arithmetic import dim_value
from specc.compiler.graphs.calls import MAX_REPEAT, bind_arguments, convert_argument, is_integer
from specc.compiler.graphs.values import (
    MISSING, POISON, RESERVED, GraphError, Several, Tensor, TensorList, assigned_names, camel_case, declared_text, describe,
    expression_text, hashable, ir_type, origin,
)
from specc.compiler.vocabulary import dimensions
from specc.dsl import ast


@dataclass(frozen=True)
class Built:
    """One instantiated block or model: its class and what it returns."""

    class_name: str
    structure: tuple  # per returned value: None (a tensor) or n (a list of n tensors)
    outputs: tuple  # flat ((ref, TensorInfo), ...)



def evaluate_hyperparameters(scope, definition, bound: dict, function: str) -> dict:
    """Hyperparameter values: the caller's arguments (evaluated in the caller's scope) or the
    defaults (evaluated with the constants and the earlier hyperparameters)."""
    hypers = {}
    for parameter in definition.parameters:
        if parameter.tensor is not None:
            continue
        if parameter.name in bound:
            value = convert_argument(scope, function, parameter.name, parameter.scalar, bound[parameter.name])
        elif parameter.default is not None:
            defaults = scope.program.top_scope(hypers)
            value = convert_argument(defaults, function, parameter.name, parameter.scalar, parameter.default)
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
            raise GraphError("E0617", f"{function}: argument `{parameter.name}` is {info.dtype}{dimensions.format_shape(info.shape)}, "
                             f"expected {declared.dtype} ({text})", span)
        if len(declared.dims) != len(info.shape):
            raise GraphError("E0608", f"{function}: argument `{parameter.name}` has shape {dimensions.format_shape(info.shape)}, "
                             f"expected {len(declared.dims)} axes ({text})", span)
        for expr in declared.dims:
            _check_inferable(scope, expr, env)
        expected = tuple(dim_value(scope, expr, env, symbols=False) for expr in declared.dims)
        if expected != tuple(info.shape):
            raise GraphError("E0608", f"{function}: argument `{parameter.name}` has shape {dimensions.format_shape(info.shape)}, "
                             f"expected {dimensions.format_shape(expected)} ({text})", span)
    return dims


def _check_inferable(scope, expr, env: dict) -> None:
    """A name used only inside a compound dimension (``2 * D``) cannot be inferred."""
    if isinstance(expr, (ast.BinaryOp, ast.UnaryOp)):
        for name in dimension_names([expr]):
            if name.name not in env and name.name not in scope.program.constants:
                raise GraphError("E0603", f"cannot infer `{name.name}` from `{expression_text(expr)}`", name.span,
                                 f"write `{name.name}` alone in some input type, or make it a hyperparameter")


def dimension_names(expressions):
    """The names in arithmetic expressions (dimensions), left to right (a loop, not a recursion)."""
    work = list(reversed(list(expressions)))
    while work:
        node = work.pop()
        if isinstance(node, ast.Name):
            yield node
        elif isinstance(node, ast.BinaryOp):
            work += [node.right, node.left]
        elif isinstance(node, ast.UnaryOp):
            work.append(node.operand)


def block_call(scope, block: ast.Block, expr: ast.Call, hints):
    parameters = [(p.name, p.default is None) for p in block.parameters]
    bound = bind_arguments(block.name, parameters, expr)
    tensors = []
    for parameter in block.parameters:
        if parameter.tensor is not None:
            value = convert_argument(scope, block.name, parameter.name, "tensor", bound[parameter.name]) \
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
    names = _block_output_names(hints, built, block)
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


def _block_output_names(hints, built: Built, block: ast.Block) -> list[str]:
    """The assigned names, else the names the block's return gives its values, except that
    one value returned as an expression is named after the block (``x + mlp``, not ``x +
    dropout``)."""
    if not hints and tuple(built.structure) == (None,) and not _returns_names(block.body):
        return [block.name]
    names, position = [], 0
    for index, shape in enumerate(built.structure):
        own = built.outputs[position][0] if built.outputs[position:] else "output"
        base = hints[index] if hints and len(hints) == len(built.structure) else own
        names.extend([base] if shape is None else [f"{base}_{item}" for item in range(shape)])
        position += 1 if shape is None else shape
    return names


def _returns_names(statements) -> bool:
    """Every ``return`` among ``statements`` (and inside their ifs) returns bare names."""
    for statement in statements:
        if isinstance(statement, ast.Return) and not all(isinstance(value, ast.Name) for value in statement.values):
            return False
        if isinstance(statement, ast.If) and not (_returns_names(statement.body) and _returns_names(statement.orelse)):
            return False
    return True


MAX_BLOCK_NESTING = 50  # blocks instantiated inside each other (each level is a few Python frames)


def instantiate(program, definition, hypers: dict, dims: dict, infos: list, span) -> Built | None:
    """The ModuleDef of ``definition`` with these hyperparameters and input types (made once
    and cached); None when its body has errors (already reported)."""
    key = (type(definition).__name__, definition.name, tuple((k, hashable(v)) for k, v in sorted(hypers.items())),
           tuple((info.dtype, tuple(dimensions.render(d) for d in info.shape)) for info in infos))
    if definition.name in program.stack:
        chain = " -> ".join(program.stack[program.stack.index(definition.name):] + [definition.name])
        raise GraphError("E0607", f"recursive block `{definition.name}`: {chain}", span,
                         "blocks cannot call themselves, directly or through other blocks")
    if len(program.stack) >= MAX_BLOCK_NESTING:
        chain = " -> ".join(program.stack[:2] + ["..."] + program.stack[-2:] + [definition.name])
        raise GraphError("E0607", f"blocks nested more than {MAX_BLOCK_NESTING} deep: {chain}", span,
                         "call fewer blocks inside each other (a `repeat` or a `for` can chain them)")
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
            raise GraphError("E0614", f"return: `{text}` is {value.info.dtype}{dimensions.format_shape(value.info.shape)}, but "
                             f"`{definition.name}` declares {dtype}{dimensions.format_shape(expected)} (`{declared_text(output)}`)",
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
    if not is_integer(count) or count < 1:
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
    if not updated:  # nothing to return from one repetition to the next: no effect (and no valid code)
        raise GraphError("E0616", "repeat: the body carries no tensor from one repetition to the next, so it has "
                         "no effect", statement.span, "assign a tensor that exists before the repeat: `h = layer(h)`")
    finals = []
    for name in updated:
        final = body.env.get(name)
        if not isinstance(final, Tensor) or final.info != entry[name].info:
            after = dimensions.format_shape(final.info.shape) if isinstance(final, Tensor) else describe(final)
            raise GraphError("E0616", f"repeat: the body changes `{name}` from {dimensions.format_shape(entry[name].info.shape)} "
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
