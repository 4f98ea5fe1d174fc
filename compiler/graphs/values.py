"""Values of the graph language while a graph is lowered, and small shared helpers.

A name in a graph is bound to one of:

- a ``Tensor``: a run-time value with a static type (the IR value name ``ref`` and its
  ``TensorInfo``);
- a ``TensorList``: a compile-time list of tensors (``feats = feats + [h]``, ``split``);
- a compile-time scalar: ``int``, ``float``, ``bool``, ``str``, a ``tuple`` (a list) or a
  ``shapes.Poly`` (a dimension that depends on a run-time axis such as ``T``);
- ``POISON``: the value of an expression that already produced a diagnostic; every use of it
  silently yields ``POISON`` again, so one mistake gives one diagnostic.
"""

from __future__ import annotations

from dataclasses import dataclass

from specc.compiler import ir
from specc.compiler.vocabulary import dimensions
from specc.dsl.diagnostics import Diagnostic, Span
from specc.compiler.vocabulary.shape_rules import TensorInfo
from specc.dsl import ast


@dataclass(frozen=True)
class Tensor:
    ref: str
    info: TensorInfo


@dataclass(frozen=True)
class TensorList:
    items: tuple[Tensor, ...]


@dataclass(frozen=True)
class Several:
    """The values of a block call returning more than one value: must be unpacked."""

    values: tuple


class _Poison:
    def __repr__(self) -> str:
        return "POISON"


POISON = _Poison()

# Names the generated code itself uses: never given to a value.
RESERVED = frozenset({"self", "F", "nn", "jnp", "jax", "torch", "mx", "np", "math"})
MISSING = object()  # "no such name" from a lookup that does not raise


@dataclass(frozen=True)
class Unavailable:
    """A dotted constant the spec may name but whose value is not known at compile time, and
    why (``data.vocab_size`` left to a metadata file that cannot be read here)."""

    reason: str


class GraphError(Exception):
    """Stops lowering the current statement; carries its diagnostic."""

    def __init__(self, code: str, message: str, span: Span, help: str | None = None, notes=()):
        super().__init__(message)
        self.diagnostic = Diagnostic(code, message, span, help=help, notes=tuple(notes))


def origin(span: Span) -> str:
    return f"{span.file}:{span.line}:{span.column}"


def ir_type(info: TensorInfo) -> ir.TensorType:
    return ir.TensorType(info.dtype, tuple(dimensions.to_ir(dim) for dim in info.shape))


def type_text(info: TensorInfo) -> str:
    return dimensions.format_shape(info.shape)


def describe(value) -> str:
    """A value as a user reads it in a message: ``a tensor [B, 512]``, ``the integer 3``."""
    if isinstance(value, Tensor):
        return f"a tensor {type_text(value.info)}"
    if isinstance(value, TensorList):
        count = len(value.items)
        return f"a list of {count} tensor{'s' * (count != 1)}"
    if isinstance(value, Several):
        return f"{len(value.values)} values"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int):
        return f"the integer {value}"
    if isinstance(value, float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the word `{value}`"
    if isinstance(value, dimensions.Poly):
        return f"the run-time size `{dimensions.render(value)}`"
    if isinstance(value, tuple):
        return f"the list {literal_text(value)}"
    return "nothing"


def literal_text(value) -> str:
    if isinstance(value, (Tensor, TensorList)):
        return describe(value)
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple):
        return "[" + ", ".join(literal_text(item) for item in value) + "]"
    if isinstance(value, dimensions.Poly):
        return dimensions.render(value)
    return str(value)


_PRECEDENCE = {"or": 1, "and": 2, "==": 4, "!=": 4, "<": 4, "<=": 4, ">": 4, ">=": 4,
               "+": 5, "-": 5, "*": 6, "/": 6, "//": 6, "%": 6, "**": 8}


def expression_text(expr, parent: int = 0) -> str:
    """Source-like text of an expression, for messages (``2 * D``). Written with an explicit
    stack of pieces, so a long sum (``1 + 1 + ...``) does not recurse once per operator."""
    parts: list[str] = []
    work: list = [(expr, parent)]
    while work:
        item = work.pop()
        if isinstance(item, str):
            parts.append(item)
        else:
            work.extend(reversed(_text_pieces(*item)))
    return "".join(parts)


def _text_pieces(expr, parent: int) -> list:
    """The text of ``expr`` as strings and (subexpression, binding strength) pairs."""
    if isinstance(expr, ast.Number):
        return [expr.text]
    if isinstance(expr, ast.String):
        return [f'"{expr.value}"']
    if isinstance(expr, ast.Bool):
        return [str(expr.value).lower()]
    if isinstance(expr, ast.Name):
        return [expr.name]
    if isinstance(expr, ast.Attribute):
        return [(expr.base, 9), f".{expr.name}"]
    if isinstance(expr, ast.Index):
        return [(expr.base, 9), "[", (expr.index, 0), "]"]
    if isinstance(expr, ast.BinaryOp):
        own = _PRECEDENCE.get(expr.op, 3)
        pieces = [(expr.left, own), f" {expr.op} ", (expr.right, own + 1)]
        return ["(", *pieces, ")"] if own < parent else pieces
    if isinstance(expr, ast.UnaryOp):
        return [expr.op + (" " if expr.op == "not" else ""), (expr.operand, 7)]
    if isinstance(expr, ast.Call):
        arguments = [[(argument, 0)] for argument in expr.args]
        arguments += [[f"{keyword.name} = ", (keyword.value, 0)] for keyword in expr.kwargs]
        return [f"{expr.function}(", *_joined(arguments), ")"]
    if isinstance(expr, ast.List):
        return ["[", *_joined([[(item, 0)] for item in expr.items]), "]"]
    return ["{...}"]


def _joined(groups: list[list]) -> list:
    pieces: list = []
    for index, group in enumerate(groups):
        pieces += ([", "] if index else []) + group
    return pieces


def declared_text(tensor_type) -> str:
    if isinstance(tensor_type, ast.TensorList):
        return "list"
    dims = ", ".join(expression_text(dim) for dim in tensor_type.dims)
    return f"{tensor_type.dtype or ''}[{dims}]"


def camel_case(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_") if part) or "Module"


def assigned_names(statements) -> list[str]:
    """Every name assigned in ``statements`` (nested bodies included), in source order."""
    names: list[str] = []
    for statement in statements:
        if isinstance(statement, ast.Assign):
            names.extend(target for target in statement.targets if target not in names)
        elif isinstance(statement, (ast.Repeat, ast.For)):
            names.extend(name for name in assigned_names(statement.body) if name not in names)
        elif isinstance(statement, ast.If):
            nested = assigned_names(statement.body) + assigned_names(statement.orelse)
            names.extend(name for name in nested if name not in names)
    return names


def hashable(value):
    """A cache key for a compile-time value (floats and ints kept apart)."""
    if isinstance(value, tuple):
        return ("list",) + tuple(hashable(item) for item in value)
    return (type(value).__name__, value if not isinstance(value, dimensions.Poly) else dimensions.render(value))
