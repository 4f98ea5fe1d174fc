"""Symbolic tensor dimensions and the shape arithmetic of the graph language.

A dimension is a Python ``int`` (a size known at compile time) or a ``Poly``: an integer
polynomial over run-time axes (``B``, ``T``) such as ``2 * T + 1`` or ``B * T``. Sums,
differences and products of polynomials are exact; ``//`` and ``%`` by an integer are exact
when every coefficient divides, and otherwise become an opaque atom (``(T - 1) // 2``) that
compares equal only to the same expression. A ``Poly`` whose value is a constant is always
normalised back to an ``int``, so ``T - T + 3`` is ``3``.

Broadcasting (arithmetic between tensors) follows numpy: shapes are aligned on the right,
two dimensions are compatible when they are equal or one of them is the integer ``1``, and
the result takes the other one; a missing leading dimension counts as ``1``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

Monomial = tuple[str, ...]  # sorted atom names; () is the constant term


@dataclass(frozen=True)
class Poly:
    """``sum(coefficient * prod(atoms))`` with atoms the names of run-time axes."""

    terms: tuple[tuple[Monomial, int], ...]  # sorted by monomial, no zero coefficients

    @staticmethod
    def symbol(name: str) -> "Poly":
        return Poly((((name,), 1),))

    @staticmethod
    def make(mapping: dict) -> "Dim":
        terms = tuple(sorted((monomial, coefficient) for monomial, coefficient in mapping.items() if coefficient))
        if not terms:
            return 0
        if len(terms) == 1 and terms[0][0] == ():
            return terms[0][1]
        return Poly(terms)

    def mapping(self) -> dict:
        return dict(self.terms)

    def __str__(self) -> str:
        return render(self)


Dim = Union[int, Poly]


def _mapping(dim: Dim) -> dict:
    return dim.mapping() if isinstance(dim, Poly) else ({(): dim} if dim else {})


def add(left: Dim, right: Dim) -> Dim:
    if isinstance(left, int) and isinstance(right, int):
        return left + right
    result = _mapping(left)
    for monomial, coefficient in _mapping(right).items():
        result[monomial] = result.get(monomial, 0) + coefficient
    return Poly.make(result)


def negate(dim: Dim) -> Dim:
    if isinstance(dim, int):
        return -dim
    return Poly.make({monomial: -coefficient for monomial, coefficient in dim.terms})


def subtract(left: Dim, right: Dim) -> Dim:
    return add(left, negate(right))


def multiply(left: Dim, right: Dim) -> Dim:
    if isinstance(left, int) and isinstance(right, int):
        return left * right
    result: dict = {}
    for first, a in _mapping(left).items():
        for second, b in _mapping(right).items():
            monomial = tuple(sorted(first + second))
            result[monomial] = result.get(monomial, 0) + a * b
    return Poly.make(result)


def floor_divide(left: Dim, right: Dim) -> Dim:
    """``left // right``; exact when ``right`` is an int dividing every coefficient."""
    if isinstance(left, int) and isinstance(right, int):
        return left // right
    if isinstance(right, int) and right != 0 and all(c % right == 0 for _, c in left.terms):
        return Poly.make({monomial: c // right for monomial, c in left.terms})
    return Poly.symbol(f"{_operand(left)} // {_operand(right)}")


def modulo(left: Dim, right: Dim) -> Dim:
    if isinstance(left, int) and isinstance(right, int):
        return left % right
    if isinstance(right, int) and right != 0 and all(c % right == 0 for _, c in left.terms):
        return 0
    return Poly.symbol(f"{_operand(left)} % {_operand(right)}")


def divide_exactly(left: Dim, right: Dim) -> Dim | None:
    """``left / right`` when ``right`` is a single term dividing every term of ``left``
    exactly (``B * T * 8 / (B * 4) = 2 * T``), else None."""
    if isinstance(right, int):
        if right == 0:
            return None
        right_mapping = {(): right}
    else:
        right_mapping = right.mapping()
    if len(right_mapping) != 1:
        return left if left == right else None
    (divisor_monomial, divisor), = right_mapping.items()
    result = {}
    for monomial, coefficient in _mapping(left).items():
        remaining = list(monomial)
        for atom in divisor_monomial:
            if atom not in remaining:
                return None
            remaining.remove(atom)
        if coefficient % divisor:
            return None
        result[tuple(remaining)] = coefficient // divisor
    return Poly.make(result)


def product(dims) -> Dim:
    result: Dim = 1
    for dim in dims:
        result = multiply(result, dim)
    return result


def _atom(name: str) -> str:
    return f"({name})" if " " in name else name


def _operand(dim: Dim) -> str:
    text = render(dim)
    return f"({text})" if " " in text else text


def render(dim: Dim) -> str:
    """Canonical text: highest degree first, constant last (``B * T``, ``2 * T - 1``)."""
    if isinstance(dim, int):
        return str(dim)
    ordered = sorted(dim.terms, key=lambda term: (-len(term[0]), term[0]))
    text = ""
    for monomial, coefficient in ordered:
        magnitude = abs(coefficient)
        # a lone atom binds tighter than + and -, but not than a leading unary minus
        alone = len(monomial) == 1 and magnitude == 1 and (coefficient > 0 or bool(text))
        factors = list(monomial) if alone else [_atom(atom) for atom in monomial]
        if magnitude != 1 or not monomial:
            factors.insert(0, str(magnitude))
        body = " * ".join(factors)
        if not text:
            text = f"-{body}" if coefficient < 0 else body
        else:
            text += f" - {body}" if coefficient < 0 else f" + {body}"
    return text


def format_shape(shape) -> str:
    return "[" + ", ".join(render(dim) for dim in shape) + "]"


def to_ir(dim: Dim):
    """The IR's ``Dim``: an int or the canonical text of the polynomial."""
    return dim if isinstance(dim, int) else render(dim)


def is_concrete(dim: Dim) -> bool:
    return isinstance(dim, int)


def broadcast(left: tuple, right: tuple) -> tuple | None:
    """The numpy broadcast of two shapes, or None when they do not broadcast."""
    result = []
    for index in range(1, max(len(left), len(right)) + 1):
        a = left[-index] if index <= len(left) else 1
        b = right[-index] if index <= len(right) else 1
        if a == b or b == 1:
            result.append(a)
        elif a == 1:
            result.append(b)
        else:
            return None
    return tuple(reversed(result))


def conv_length(size: Dim, kernel: int, stride: int, dilation: int, padding_total: int) -> Dim:
    """``(size + padding_total - dilation * (kernel - 1) - 1) // stride + 1``."""
    span = dilation * (kernel - 1) + 1
    return add(floor_divide(subtract(add(size, padding_total), span), stride), 1)


def conv_transpose_length(size: Dim, kernel: int, stride: int, dilation: int, padding: int, output_padding: int) -> Dim:
    """``(size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1``."""
    grown = multiply(subtract(size, 1), stride)
    return add(grown, dilation * (kernel - 1) + output_padding + 1 - 2 * padding)
