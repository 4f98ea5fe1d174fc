"""A block instantiated as a function of given tensor types, outside any model: the graph of
a loss written in the spec (``loss = graph("smooth_l1", arguments = { beta = 0.5 })``,
checked by ``specc.compiler.check.graph_losses``).

``build_function(modules, constants, diagnostics, name, inputs, arguments)`` binds the block's
dimension names from ``inputs`` (E0608 at the given span when a type disagrees), its
hyperparameters from ``arguments`` (plain values: E0602 for an unknown or missing one, E0609
for a wrong type) or their defaults, and lowers its body exactly as a block call inside a
model does (``blocks.instantiate``): every shape error of the body is the usual positioned
E06xx. It returns the block's ``ir.ModuleDef``, or None after a diagnostic.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from specc.compiler import ir
from specc.compiler.graphs.blocks import bind_dims, instantiate
from specc.compiler.graphs.calls import check_value, convert_argument
from specc.compiler.graphs.values import GraphError, describe
from specc.compiler.vocabulary import dimensions
from specc.compiler.vocabulary.shape_rules import TensorInfo
from specc.dsl import ast
from specc.dsl.diagnostics import Diagnostic, Span, did_you_mean

# a hyperparameter's declared type -> the slot type of the graph language (calls.check_value)
_SCALAR_KINDS = {"int": "int", "float": "float", "bool": "bool", "str": "str", "list": "list"}


@dataclass(frozen=True)
class FunctionInput:
    """One tensor the caller supplies: its type (``B`` a run-time axis) and where a wrong
    type is reported (the objective's ``loss``)."""

    type: ir.TensorType
    span: Span


def blocks_of(modules: Sequence[ast.Module]) -> dict[str, ast.Block]:
    """Every block of the program by name (the first of a name: duplicates are reported by
    ``build_models``)."""
    found: dict[str, ast.Block] = {}
    for module in modules:
        for item in module.items if module is not None else ():
            if isinstance(item, ast.Block):
                found.setdefault(item.name, item)
    return found


def build_function(
    modules: Sequence[ast.Module],
    constants: Mapping,
    diagnostics: list[Diagnostic],
    name: str,
    name_span: Span,
    inputs: Sequence[FunctionInput],
    arguments: Mapping[str, object],
    argument_spans: Mapping[str, Span],
    role: str = "a loss takes 2: the model's output and the target",
    draws: bool = False,
) -> tuple[ast.Block, ir.ModuleDef] | None:
    """The block ``name`` and its module definition for ``inputs`` and ``arguments``, or None
    after appending a diagnostic (module docstring). ``role``: what the caller passes, for the
    message of a block taking another number of tensors (E0719). ``draws``: a time sampler,
    whose body may call the random primitives and name the batch ``B`` without an input."""
    from specc.compiler.graphs.build import Program
    from specc.compiler.graphs.externs import collect_externs

    blocks = blocks_of(modules)
    block = blocks.get(name)
    if block is None:
        diagnostics.append(Diagnostic("E0601", f"unknown block `{name}`", name_span,
                                      help=did_you_mean(name, blocks) or "`graph(\"name\")` names a block of the spec"))
        return None
    program = Program(blocks, constants, diagnostics, collect_externs(modules, blocks, constants, []))
    program.draws_allowed = draws
    scope = program.top_scope({})
    before = len(diagnostics)
    try:
        tensors = [parameter for parameter in block.parameters if parameter.tensor is not None]
        if len(tensors) != len(inputs):
            raise GraphError("E0719", f"`{name}` takes {len(tensors)} tensor input{'s' * (len(tensors) != 1)}; {role}",
                             block.name_span)
        hypers = _hyperparameters(scope, block, arguments, argument_spans, name_span)
        infos = [TensorInfo(given.type.dtype, tuple(_dimension(dim) for dim in given.type.shape)) for given in inputs]
        dims = bind_dims(scope, block, hypers, [(info, given.span) for info, given in zip(infos, inputs)], name)
        if draws:  # the sampler's size: the batch, known at run time
            dims = {"B": dimensions.Poly.symbol("B"), **dims}
        built = instantiate(program, block, hypers, dims, infos, name_span)
    except GraphError as error:
        scope.report(error)
        return None
    if built is None or len(diagnostics) != before:
        return None
    return block, program.modules[built.class_name]


def _dimension(dim):
    """An IR dimension (an int, or a run-time axis's text such as ``B``) as a graph dimension."""
    return dim if isinstance(dim, int) else dimensions.Poly.symbol(str(dim))


def _hyperparameters(scope, block: ast.Block, arguments: Mapping, spans: Mapping, name_span: Span) -> dict:
    """The block's hyperparameters: ``arguments`` (plain values) or the defaults, in order."""
    scalars = {parameter.name: parameter for parameter in block.parameters if parameter.tensor is None}
    for key in arguments:
        if key not in scalars:
            raise GraphError("E0602", f"{block.name}: unknown argument `{key}`", spans.get(key, name_span),
                             did_you_mean(key, scalars) or (f"hyperparameters of `{block.name}`: {', '.join(scalars)}"
                                                            if scalars else f"`{block.name}` takes no hyperparameters"))
    hypers: dict = {}
    for parameter in scalars.values():
        if parameter.name in arguments:
            value = arguments[parameter.name]
            value = tuple(value) if isinstance(value, list) else value
            kind = _SCALAR_KINDS.get(parameter.scalar or "", "")
            try:
                hypers[parameter.name] = check_value(kind, value) if kind else value
            except ValueError:
                raise GraphError("E0609", f"{block.name}: argument `{parameter.name}` must be {_wanted(kind)}, got "
                                 f"{describe(value)}", spans.get(parameter.name, name_span)) from None
        elif parameter.default is not None:
            defaults = scope.program.top_scope(hypers)
            hypers[parameter.name] = convert_argument(defaults, block.name, parameter.name, parameter.scalar, parameter.default)
        else:
            raise GraphError("E0602", f"{block.name}: missing argument `{parameter.name}`", name_span,
                             f"give it: arguments = {{ {parameter.name} = ... }}")
    return hypers


def _wanted(kind: str) -> str:
    return {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a word or a string",
            "list": "a list"}.get(kind, "a value")
