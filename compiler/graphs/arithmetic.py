"""Arithmetic in graphs: on tensors (lowered to ``op`` statements) and at compile time
(hyperparameters, constants and dimensions).

Tensor arithmetic: ``+ - * / // % **`` between two tensors, or a tensor and a number, lower
to the ops ``add sub mul truediv floordiv mod pow`` (``-x`` to ``neg``); a number is a literal
operand. Shapes broadcast as in numpy (``shapes.broadcast``); the result is f32 when either
side is f32, a float literal, or the operator is ``/``; arithmetic on bool tensors is refused
(E0617: cast first). Comparisons ``== != < <= > >=`` with a tensor side lower to ``eq ne lt
le gt ge`` and give bool tensors; ``and`` / ``or`` / ``not`` on bool tensors lower to
``logical_and logical_or logical_not``. On compile-time values all of them fold.

Compile-time arithmetic follows Python on ints and floats, and refuses (E0609) what a spec
cannot use: division by zero, ``0 ** -1``, results too large or not real
(``dsl/arithmetic.py``, shared with constant folding); on dimensions that depend
on a run-time axis (``T``) ``+ - *`` are exact and ``//``, ``%`` by an integer give symbolic
sizes (``shapes.Poly``). ``+`` also joins lists (``feats + [h]``).
"""

from __future__ import annotations

import operator

from specc.compiler.vocabulary import layers
from specc.compiler.vocabulary import dimensions
from specc.dsl.diagnostics import did_you_mean
from specc.compiler.vocabulary.shape_rules import TensorInfo
from specc.compiler.graphs.values import (
    MISSING, POISON, GraphError, Several, Tensor, TensorList, describe, expression_text,
)
from specc.compiler.ir import Operand
from specc.dsl import ast
from specc.dsl.arithmetic import ArithmeticProblem, compute

_COMPARE = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_DIMENSION = {"+": dimensions.add, "-": dimensions.subtract, "*": dimensions.multiply, "//": dimensions.floor_divide, "%": dimensions.modulo}


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_word(scope, expr) -> bool:
    return isinstance(expr, ast.Name) and scope.find(expr.name) is MISSING


def binary(scope, expr: ast.BinaryOp, hints):
    """``left op right``. A left-associative chain (``a + b + c + ...``, any length) is
    walked down its left operands and applied back up in a loop, not by recursion."""
    if _compares_words(scope, expr):
        return _compare_words(scope, expr)
    spine = [expr]
    while isinstance(spine[-1].left, ast.BinaryOp) and not _compares_words(scope, spine[-1].left):
        spine.append(spine[-1].left)
    value = scope.evaluate(spine[-1].left)  # not a chain: an operand, or a comparison of words
    for node in reversed(spine):
        value = _binary_step(scope, node, value, hints if node is expr else None)
    return value


def _compares_words(scope, expr: ast.BinaryOp) -> bool:
    return expr.op in ("==", "!=") and (_is_word(scope, expr.left) or _is_word(scope, expr.right))


def _binary_step(scope, expr: ast.BinaryOp, left, hints):
    right = scope.evaluate(expr.right)
    if left is POISON or right is POISON:
        return POISON
    if isinstance(left, Tensor) or isinstance(right, Tensor):
        return _tensor_binary(scope, expr, left, right, hints)
    return constant_binary(expr.op, left, right, expr.span)


def _compare_words(scope, expr: ast.BinaryOp):
    """``mode == relu``: an unbound bare name compared with a string is that word."""
    left, right = scope.word(expr.left), scope.word(expr.right)
    for side, other in ((expr.left, right), (expr.right, left)):
        if _is_word(scope, side) and not isinstance(other, str):
            scope.lookup(side.name, side.span)  # raises: undefined name
    return (left == right) if expr.op == "==" else (left != right)


def _literal_ok(value) -> bool:
    return _number(value) or isinstance(value, bool)


def _tensor_binary(scope, expr, left, right, hints):
    function = _TENSOR_OPERATORS.get(expr.op)
    for value in (left, right):
        if not isinstance(value, Tensor) and not _literal_ok(value):
            raise GraphError("E0609", f"{function}: cannot combine a tensor with {describe(value)}", expr.span)
    left_shape = left.info.shape if isinstance(left, Tensor) else ()
    right_shape = right.info.shape if isinstance(right, Tensor) else ()
    shape = dimensions.broadcast(left_shape, right_shape)
    if shape is None:
        raise GraphError("E0608", f"{function}: shapes {dimensions.format_shape(left_shape)} and {dimensions.format_shape(right_shape)} "
                         "do not broadcast", expr.span)
    info = TensorInfo(_result_dtype(expr, function, left, right), shape)
    return scope.emit("op", function, [_operand(left), _operand(right)], [info], _hints(hints, function), expr.span)[0]


_TENSOR_OPERATORS = {**layers.BINARY_OPERATORS, **layers.COMPARISON_OPERATORS, **layers.LOGICAL_OPERATORS}


def _dtype(value) -> str:
    if isinstance(value, Tensor):
        return value.info.dtype
    return "bool" if isinstance(value, bool) else "f32" if isinstance(value, float) else "int"


def _result_dtype(expr, function: str, left, right) -> str:
    """bool for a comparison; bool operands for ``and`` / ``or``; arithmetic: f32 when
    either side is f32, a float or the operator is ``/``, else the integer dtype (never on
    bool tensors: cast them first)."""
    dtypes = [_dtype(value) for value in (left, right)]
    if function in layers.COMPARISON_OPERATORS.values():
        return "bool"
    if function in layers.LOGICAL_OPERATORS.values():
        if dtypes != ["bool", "bool"]:
            raise GraphError("E0617", f"`{expr.op}` needs bool tensors, got {_dtype_text(left)} and {_dtype_text(right)}",
                             expr.span, "compare first (`x != 0`) or `cast(x, bool)`")
        return "bool"
    if "bool" in dtypes:
        raise GraphError("E0617", f"{function}: arithmetic on a bool tensor ({_dtype_text(left)} `{expr.op}` "
                         f"{_dtype_text(right)}); cast it first: `cast(mask, f32)`", expr.span)
    if "f32" in dtypes or function == "truediv":
        return "f32"
    return max(dtype for dtype in dtypes if dtype != "int")


def _dtype_text(value) -> str:
    if isinstance(value, Tensor):
        return f"{value.info.dtype}{dimensions.format_shape(value.info.shape)}"
    return describe(value)


def _operand(value) -> Operand:
    return Operand(ref=value.ref) if isinstance(value, Tensor) else Operand(literal=value)


def _hints(hints, function: str) -> list[str]:
    return [hints[0]] if hints and len(hints) == 1 else [function]


def unary(scope, expr: ast.UnaryOp, hints):
    operand = scope.evaluate(expr.operand)
    if operand is POISON:
        return POISON
    if isinstance(operand, Tensor):
        if expr.op == "+":
            return operand
        if expr.op == "not":
            if operand.info.dtype != "bool":
                raise GraphError("E0617", f"`not` needs a bool tensor, got {_dtype_text(operand)}", expr.span,
                                 "compare first (`x == 0`) or `cast(x, bool)`")
            return scope.emit("op", "logical_not", [_operand(operand)], [operand.info], _hints(hints, "logical_not"),
                              expr.span)[0]
        if operand.info.dtype == "bool":
            raise GraphError("E0617", f"`-` on a bool tensor ({_dtype_text(operand)}); cast it first: `cast(mask, f32)`",
                             expr.span)
        return scope.emit("op", "neg", [_operand(operand)], [operand.info], _hints(hints, "neg"), expr.span)[0]
    return constant_unary(expr.op, operand, expr.span)


def constant_unary(op: str, operand, span):
    if op == "not":
        if not isinstance(operand, bool):
            raise GraphError("E0609", f"`not` needs a boolean, got {describe(operand)}", span)
        return not operand
    if isinstance(operand, dimensions.Poly):
        return dimensions.negate(operand) if op == "-" else operand
    if not _number(operand):
        raise GraphError("E0609", f"`{op}` needs a number, got {describe(operand)}", span)
    return -operand if op == "-" else operand


def constant_binary(op: str, left, right, span):
    """``left op right`` on compile-time values, with the error a user reads."""
    if isinstance(left, (Tensor, TensorList, Several)) or isinstance(right, (Tensor, TensorList, Several)):
        if op == "+" and isinstance(left, (TensorList, tuple)) and isinstance(right, (TensorList, tuple)):
            return _join(left, right, span)
        raise GraphError("E0609", f"cannot apply `{op}` to {describe(left)} and {describe(right)}", span)
    if op in ("and", "or"):
        if not isinstance(left, bool) or not isinstance(right, bool):
            raise GraphError("E0609", f"`{op}` needs booleans, got {describe(left)} and {describe(right)}", span)
        return (left and right) if op == "and" else (left or right)
    if op in ("==", "!="):
        return _COMPARE[op](left, right)
    if isinstance(left, dimensions.Poly) or isinstance(right, dimensions.Poly):
        return _dimension(op, left, right, span)
    if op == "+" and isinstance(left, tuple) and isinstance(right, tuple):
        return left + right
    if op == "+" and isinstance(left, str) and isinstance(right, str):
        return left + right
    if not (_number(left) and _number(right)):
        raise GraphError("E0609", f"cannot apply `{op}` to {describe(left)} and {describe(right)}", span)
    try:
        return compute(op, left, right)
    except ArithmeticProblem as problem:
        raise GraphError("E0609", str(problem), span) from None


def _dimension(op: str, left, right, span):
    for value in (left, right):
        if not isinstance(value, dimensions.Poly) and (not isinstance(value, int) or isinstance(value, bool)):
            raise GraphError("E0609", f"cannot apply `{op}` to {describe(left)} and {describe(right)}", span)
    if op not in _DIMENSION:
        raise GraphError("E0609", f"`{op}` cannot be applied to a size known only at run time "
                         f"({describe(left)}, {describe(right)})", span)
    if op in ("//", "%") and right == 0:
        raise GraphError("E0609", f"division by zero in `{op}`", span)
    return _DIMENSION[op](left, right)


def _join(left, right, span):
    items = []
    for side in (left, right):
        values = side.items if isinstance(side, TensorList) else side
        if not all(isinstance(item, Tensor) for item in values):
            raise GraphError("E0609", "a list holds either tensors or values known at compile time, not both", span)
        items.extend(values)
    return TensorList(tuple(items))


def dim_value(scope, expr, env: dict, symbols: bool):
    """A dimension written in a type, evaluated with ``env`` (hyperparameters, bound
    dimensions) and the constants. With ``symbols``, an unknown name starting with an
    upper-case letter is a run-time axis (``B``, ``T``). Every part must be an integer (or
    a run-time size); the whole must be positive. Operators are walked with an explicit
    stack, so a long sum (``1 + 1 + ...``) does not recurse once per operator."""
    results: list = []
    work = [(expr, False)]
    while work:
        node, operands_done = work.pop()
        if not isinstance(node, (ast.UnaryOp, ast.BinaryOp)):
            results.append(_dimension_integer(node, _dimension_operand(scope, node, env, symbols)))
        elif not operands_done:
            work.append((node, True))
            operands = (node.operand,) if isinstance(node, ast.UnaryOp) else (node.left, node.right)
            work.extend((operand, False) for operand in reversed(operands))
        elif isinstance(node, ast.UnaryOp):
            results.append(_dimension_integer(node, constant_unary(node.op, results.pop(), node.span)))
        else:
            right = results.pop()
            results.append(_dimension_integer(node, constant_binary(node.op, results.pop(), right, node.span)))
    value = results[0]
    if isinstance(value, int) and value < 1:
        raise GraphError("E0609", f"dimension `{expression_text(expr)}` is {value}; sizes must be positive", expr.span)
    return value


def _dimension_operand(scope, expr, env: dict, symbols: bool):
    constants = scope.program.constants
    if isinstance(expr, ast.Name):
        if expr.name in env:
            return env[expr.name]
        if expr.name in constants:
            return constants[expr.name]
        if symbols and expr.name[:1].isupper():
            return dimensions.Poly.symbol(expr.name)
        raise GraphError("E0603", f"undefined dimension `{expr.name}`", expr.span,
                         did_you_mean(expr.name, list(env) + [n for n in constants if "." not in n]),
                         ("names of run-time axes start with an upper-case letter (`B`, `T`)",))
    if isinstance(expr, ast.Number):
        return expr.value
    if isinstance(expr, ast.Attribute):
        return scope.reference(expr)
    raise GraphError("E0609", "a dimension must be an integer expression", expr.span)


def _dimension_integer(expr, value):
    if isinstance(value, bool) or not isinstance(value, (int, dimensions.Poly)):
        raise GraphError("E0609", f"dimension `{expression_text(expr)}` is {describe(value)}, not an integer", expr.span)
    return value
