"""The language's arithmetic on numbers, shared by constant folding (``compiler/check/fold.py``)
and the graphs' compile-time values (``compiler/graphs/arithmetic.py``).

``compute(op, a, b)`` follows Python on ints and floats, except that every result a spec
cannot use is refused with ``ArithmeticProblem`` (its message is the diagnostic's) instead of
raising, hanging or producing a value that is not a finite number:

- ``/ // %`` by zero (int or float);
- ``0 ** -1`` (zero to a negative power);
- an int result larger than ``MAX_INTEGER`` in size, decided before computing a power, so
  ``10 ** 10 ** 10`` is refused at once instead of computing a ten-billion-digit number;
- a float result that overflows to infinity (``1e300 * 1e300``) or an int too large to
  convert to a float (``10 ** 400 / 3``);
- a complex result (``(-8) ** 0.5``).
"""

from __future__ import annotations

import math
import operator

MAX_INTEGER = 2**63
_COMPARE = {
    "==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}
_NUMERIC = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
            "//": operator.floordiv, "%": operator.mod}


class ArithmeticProblem(Exception):
    """An operation whose result a spec cannot use; the message says why."""


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def compute(op: str, a, b):
    """``a op b`` on two numbers (ints or floats, not bools)."""
    if op in _COMPARE:
        return _COMPARE[op](a, b)  # Python compares ints and floats exactly, never fails
    if op in ("/", "//", "%") and b == 0:
        raise ArithmeticProblem(f"division by zero in `{op}`")
    if op == "**":
        return _checked(op, _power(a, b))
    if op not in _NUMERIC:
        raise ArithmeticProblem(f"cannot apply `{op}` to numbers")
    try:
        result = _NUMERIC[op](a, b)
    except OverflowError:
        raise ArithmeticProblem(_too_large_for_float(op)) from None
    return _checked(op, result)


def _power(a, b):
    if a == 0 and b < 0:
        raise ArithmeticProblem("zero cannot be raised to a negative power")
    # an int |a| >= 2 has at least 2 ** (bits - 1) in it, so a ** b has at least
    # (bits - 1) * b + 1 bits: decided before computing, however large b is
    integers = isinstance(a, int) and isinstance(b, int)
    if integers and b > 0 and abs(a) > 1 and (abs(a).bit_length() - 1) * b >= MAX_INTEGER.bit_length():
        raise ArithmeticProblem(_too_large_integer("**"))
    try:
        return a**b
    except OverflowError:
        raise ArithmeticProblem(_too_large_for_float("**")) from None
    except ZeroDivisionError:  # pragma: no cover - zero bases are refused above
        raise ArithmeticProblem("zero cannot be raised to a negative power") from None


def _checked(op: str, result):
    if isinstance(result, complex):
        raise ArithmeticProblem(f"the result of `{op}` is not a real number")
    if isinstance(result, float) and not math.isfinite(result):
        raise ArithmeticProblem(_too_large_for_float(op))
    if isinstance(result, int) and abs(result) > MAX_INTEGER:
        raise ArithmeticProblem(_too_large_integer(op))
    return result


def _too_large_integer(op: str) -> str:
    return f"the result of `{op}` is out of range: integers are at most 2**63 in size"


def _too_large_for_float(op: str) -> str:
    return f"the result of `{op}` is out of range: floats are at most about 1.8e308"
