"""Extern functions: the user's Python called inside graphs.

``extern gelu(x: f32[B, D]) -> f32[B, D] = python("functions.py", "gelu")`` declares a
function of the user's with a block's signature: tensor inputs with dimension names, scalar
hyperparameters (with defaults), tensor outputs. A call binds the dimension names from the
shapes of its tensor arguments exactly as a block call does (E0608 at the argument), checks
the hyperparameters (E0609), and gives the declared outputs with the dimensions substituted;
the statement it emits (``call == "extern"``) makes the script call the user's function with
the backend's array operations first: ``gelu(ops, x)``.

Declarations are checked once (:func:`collect_externs`): the value is ``python("file.py",
"name")`` (E0619), the outputs are tensors whose dimensions the inputs, hyperparameters or
constants decide (E0619, E0603), the name is not a layer's or a block's (E0606). What the
Python file defines is the checker's (``compiler/check/extensions.py``, role ``extern``).
"""

from __future__ import annotations

from specc.compiler import ir
from specc.compiler.graphs.arithmetic import dim_value
from specc.compiler.graphs.blocks import bind_dims, dimension_names, evaluate_hyperparameters
from specc.compiler.graphs.calls import _output_names, bind_arguments, convert_argument
from specc.compiler.graphs.values import POISON, Several, expression_text, origin
from specc.compiler.vocabulary import layers
from specc.compiler.vocabulary.shape_rules import TensorInfo
from specc.dsl import ast
from specc.dsl.diagnostics import Diagnostic, did_you_mean

DTYPES = ("f32", "i32", "i64", "bool")
FORM = 'an extern is a function of a Python file beside the spec: `= python("functions.py", "name")`'


def python_target(extern: ast.Extern) -> tuple[str, str] | None:
    """``(file, name)`` of ``python("file", "name")``, or None for any other value."""
    value = extern.value
    if (
        isinstance(value, ast.Call)
        and value.function == "python"
        and not value.kwargs
        and len(value.args) == 2
        and all(isinstance(argument, ast.String) for argument in value.args)
    ):
        return value.args[0].value, value.args[1].value
    return None


def collect_externs(modules, blocks: dict, constants, diagnostics: list) -> dict[str, ast.Extern]:
    """The program's externs by name; E0606, E0619, E0603 for declarations that cannot be
    called (those are left out, so their calls say nothing more)."""
    externs: dict[str, ast.Extern] = {}
    for module in modules:
        for item in module.items if module is not None else ():
            if not isinstance(item, ast.Extern):
                continue
            problems = _declaration_problems(item, blocks, externs, constants)
            diagnostics.extend(problems)
            if not problems:
                externs[item.name] = item
    return externs


def _declaration_problems(item: ast.Extern, blocks: dict, externs: dict, constants) -> list[Diagnostic]:
    if layers.lookup(item.name) is not None:
        return [Diagnostic("E0606", f"extern `{item.name}` has the name of a built-in layer", item.name_span,
                           help="rename the extern")]
    earlier = blocks.get(item.name) or externs.get(item.name)
    if earlier is not None:
        return [Diagnostic("E0606", f"`{item.name}` is defined twice", item.name_span,
                           notes=(f"first defined at {origin(earlier.name_span)}",))]
    if python_target(item) is None:
        return [Diagnostic("E0619", f"extern `{item.name}` must name a Python function, not `{expression_text(item.value)}`",
                           item.value.span, help=FORM)]
    problems = _parameter_problems(item)
    bound = {parameter.name for parameter in item.parameters if parameter.tensor is None} | set(constants)
    for parameter in item.parameters:
        if parameter.tensor is not None:
            bound |= {dim.name for dim in parameter.tensor.dims if isinstance(dim, ast.Name)}
    for output in item.outputs:
        if not isinstance(output, ast.TensorType):
            problems.append(Diagnostic("E0619", f"extern `{item.name}`: an extern returns tensors with declared shapes, "
                                       "not `list`", output.span, help="declare each returned tensor: `-> (f32[B, D], f32[B])`"))
            continue
        if output.dtype is not None and output.dtype not in DTYPES:
            problems.append(Diagnostic("E0617", f"unknown dtype `{output.dtype}`", output.span,
                                       help=did_you_mean(output.dtype, DTYPES) or f"dtypes: {', '.join(DTYPES)}"))
        for name in dimension_names(output.dims):
            if name.name not in bound:
                problems.append(Diagnostic(
                    "E0603", f"extern `{item.name}`: the output dimension `{name.name}` is bound by no input", name.span,
                    help="an extern's outputs are sized by its inputs' dimension names, its hyperparameters and constants",
                    notes=(f"the inputs bind: {', '.join(sorted(bound - set(constants))) or 'nothing'}",)))
    return problems


def _parameter_problems(item: ast.Extern) -> list[Diagnostic]:
    seen: set[str] = set()
    problems = []
    for parameter in item.parameters:
        if parameter.name in seen:
            problems.append(Diagnostic("E0606", f"parameter `{parameter.name}` of `{item.name}` is declared twice",
                                       parameter.span))
        seen.add(parameter.name)
    return problems


def extern_call(scope, extern: ast.Extern, expr: ast.Call, hints):
    """A call of the user's function: the declared outputs, after the arguments are bound and
    checked as a block call's are."""
    bound = bind_arguments(extern.name, [(p.name, p.default is None) for p in extern.parameters], expr)
    inputs = [p for p in extern.parameters if p.tensor is not None]
    tensors = [convert_argument(scope, extern.name, p.name, "tensor", bound[p.name]) if p.name in bound else POISON
               for p in inputs]
    hypers = evaluate_hyperparameters(scope, extern, bound, extern.name)
    if any(value is POISON for value in tensors + list(hypers.values())):
        return POISON
    spans = [bound[p.name].span for p in inputs]
    dims = bind_dims(scope, extern, hypers, [(t.info, span) for t, span in zip(tensors, spans)], extern.name)
    env = {**dims, **hypers}
    infos = [TensorInfo(output.dtype or "f32", tuple(dim_value(scope, dim, env, symbols=True) for dim in output.dims))
             for output in extern.outputs]
    operands = [ir.Operand(ref=tensor.ref) for tensor in tensors]
    names = _output_names(hints, extern.name, len(infos))
    results = scope.emit("extern", extern.name, operands, infos, names, expr.span, tuple(hypers.items()))
    return results[0] if len(results) == 1 else Several(tuple(results))


def graph_externs(externs: dict, modules) -> tuple[ir.Extern, ...]:
    """The ``ir.Extern`` of every user function the statements of ``modules`` call, by name;
    ``file`` as written (the checker makes it absolute: ``compiler/check/extensions.py``)."""
    called = sorted({s.function for module in modules for s in module.body if s.call == "extern"})
    found = []
    for name in called:
        item = externs[name]
        file, function = python_target(item)
        declared_inputs = tuple(tuple(expression_text(dim) for dim in p.tensor.dims) for p in item.parameters
                                if p.tensor is not None)
        declared_outputs = tuple(tuple(expression_text(dim) for dim in output.dims) for output in item.outputs)
        found.append(ir.Extern(name, file, function, declared_inputs, declared_outputs, origin(item.span)))
    return tuple(found)
