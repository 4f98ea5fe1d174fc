"""Constant folding of spec expressions (``let`` values and section values).

``+ - * / // % **`` on numbers (``/`` gives a float, the others keep ints), comparisons
and ``and`` / ``or`` / ``not`` on bools, ``+`` and ``==`` on strings; ``w * loss`` and
``a + b`` on components build a weighted sum of loss terms (``Terms``). Anything else, a
division by zero or a result that is not a usable number (``dsl/arithmetic.py``: too large,
infinite, complex, ``0 ** -1``) raises ``FoldError`` with the message of the E0305
diagnostic.
"""

from __future__ import annotations

from specc.compiler.check.values import ComponentCall, RValue, Terms, Word, type_name
from specc.dsl.arithmetic import ArithmeticProblem, compute


MAX_STRING = 1_000_000  # characters in a folded string (`let b = a + a` doubles)
MAX_TERMS = 1_000  # terms in a weighted sum of losses


class FoldError(Exception):
    pass


def _a(noun: str) -> str:
    return ("an " if noun[:1] in "aeiou" else "a ") + noun


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def unary(op: str, operand: RValue):
    value = operand.value
    if op in ("-", "+") and is_number(value):
        return -value if op == "-" else value
    if op == "not" and isinstance(value, bool):
        return not value
    raise FoldError(f"cannot apply `{op}` to {_a(type_name(operand))}")


def binary(op: str, left: RValue, right: RValue):
    a, b = left.value, right.value
    if is_number(a) and is_number(b):
        return numbers(op, a, b)
    if isinstance(a, str) and isinstance(b, str) and op in ("+", "==", "!="):
        if op == "+" and len(a) + len(b) > MAX_STRING:
            raise FoldError(f"the result of `+` is out of range: strings are at most {MAX_STRING:,} characters")
        return a + b if op == "+" else (a == b) == (op == "==")
    if isinstance(a, bool) and isinstance(b, bool) and op in ("and", "or", "==", "!="):
        return {"and": a and b, "or": a or b, "==": a == b, "!=": a != b}[op]
    terms = loss_terms(left, right, op)
    if terms is not None:
        return terms
    raise FoldError(f"cannot apply `{op}` to {_a(type_name(left))} and {_a(type_name(right))}")


def numbers(op: str, a, b):
    if op in ("/", "//", "%") and b == 0:
        raise FoldError("division by zero in a constant expression")
    try:
        return compute(op, a, b)
    except ArithmeticProblem as problem:
        raise FoldError(str(problem)) from None


def _term_list(value: RValue):
    if isinstance(value.value, Terms):
        return list(value.value.terms)
    if isinstance(value.value, (Word, ComponentCall)):
        return [(1.0, value)]
    return None


def loss_terms(left: RValue, right: RValue, op: str) -> Terms | None:
    """Loss algebra: ``w * term``, ``term * w``, ``a + b``."""
    if op == "*":
        for weight, term in ((left, right), (right, left)):
            terms = _term_list(term)
            if is_number(weight.value) and terms is not None:
                return Terms(tuple((numbers("*", weight.value, w), t) for w, t in terms))
        return None
    if op == "+":
        a, b = _term_list(left), _term_list(right)
        if a is not None and b is not None:
            if len(a) + len(b) > MAX_TERMS:
                raise FoldError(f"the result of `+` is out of range: a loss is a sum of at most {MAX_TERMS:,} terms")
            return Terms(tuple(a + b))
    return None
