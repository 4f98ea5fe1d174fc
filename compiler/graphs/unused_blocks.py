"""Checks of blocks that no model instantiates (a library such as ``specs/std``).

Shapes are only known once a block is instantiated, so an unused block gets the checks that
need no shapes: every call names a registry layer or a visible block (E0601) and binds its
arguments (E0602).
"""

from __future__ import annotations

from specc.compiler.vocabulary import layers
from specc.dsl.diagnostics import did_you_mean
from specc.compiler.graphs.calls import COMPILE_TIME_FUNCTIONS, bind_arguments
from specc.compiler.graphs.values import GraphError
from specc.dsl import ast


def check_unused_blocks(program) -> None:
    used = {key[1] for key in program.instances if key[0] == "Block"}
    for name, block in program.blocks.items():
        if name not in used:
            for call in _calls(block.body):
                try:
                    _check_call(program, call)
                except GraphError as error:
                    program.diagnostics.append(error.diagnostic)


def _check_call(program, call: ast.Call) -> None:
    block = program.blocks.get(call.function) or program.externs.get(call.function)
    if block is not None:
        bind_arguments(block.name, [(p.name, p.default is None) for p in block.parameters], call)
        return
    if call.function in COMPILE_TIME_FUNCTIONS:  # range, len, min, max, zip: checked when instantiated
        return
    entry = layers.lookup(call.function)
    if entry is None:
        raise GraphError("E0601", f"unknown layer or block `{call.function}`", call.function_span,
                         did_you_mean(call.function, layers.names() + sorted(program.blocks) + sorted(program.externs)
                                     + sorted(COMPILE_TIME_FUNCTIONS)))
    bind_arguments(entry.name, [(a.name, a.required) for a in entry.arguments], call)


def _calls(statements):
    for statement in statements:
        if isinstance(statement, ast.Assign):
            yield from _expression_calls(statement.value)
        elif isinstance(statement, ast.Return):
            for value in statement.values:
                yield from _expression_calls(value)
        elif isinstance(statement, ast.Repeat):
            yield from _expression_calls(statement.count)
            yield from _calls(statement.body)
        elif isinstance(statement, ast.For):
            yield from _expression_calls(statement.iterable)
            yield from _calls(statement.body)
        elif isinstance(statement, ast.If):
            yield from _expression_calls(statement.condition)
            yield from _calls(statement.body)
            yield from _calls(statement.orelse)


def _initializer_slots(call: ast.Call) -> tuple[set, set]:
    """Positions and keywords of ``call`` that take an ``initializer`` (``init = normal(0.02)``
    is a value there, not a call of a layer named ``normal``)."""
    entry = layers.lookup(call.function)
    arguments = entry.arguments if entry is not None else ()
    slots = [(index, argument.name) for index, argument in enumerate(arguments) if argument.type == "initializer"]
    return {index for index, _ in slots}, {name for _, name in slots}


def _expression_calls(expr):
    """The calls in an expression, arguments before the call that takes them (a loop over an
    explicit stack, so a long sum of calls does not recurse once per operator)."""
    work = [(expr, False)]
    while work:
        node, arguments_done = work.pop()
        if arguments_done:
            yield node
        elif isinstance(node, ast.Call):
            positions, keywords = _initializer_slots(node)
            inner = [argument for index, argument in enumerate(node.args) if index not in positions]
            inner += [keyword.value for keyword in node.kwargs if keyword.name not in keywords]
            work.append((node, True))
            work.extend((item, False) for item in reversed(inner))
        elif isinstance(node, ast.BinaryOp):
            work += [(node.right, False), (node.left, False)]
        elif isinstance(node, ast.UnaryOp):
            work.append((node.operand, False))
        elif isinstance(node, ast.List):
            work.extend((item, False) for item in reversed(node.items))
        elif isinstance(node, ast.Index):
            work += [(node.index, False), (node.base, False)]
