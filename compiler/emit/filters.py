"""The only ways a spec value reaches generated code: a Python literal, a checked
identifier, or sanitised comment text.

Every filter raises :class:`EmitError` on a value it cannot render safely, so a spec can
never inject code: strings become ``repr`` literals, names must match
``[A-Za-z_][A-Za-z0-9_]*`` (ASCII only: no unicode look-alikes), must not be Python keywords
and must not start with ``__``.
"""

from __future__ import annotations

import keyword
import math
import re

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
DOTTED_PART = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z|[0-9]+\Z")
COMMENT_SAFE = re.compile(r"[A-Za-z0-9_ .,:;/@=+()\[\]{}<>*%!?&|^~$-]")


class EmitError(ValueError):
    """A value that cannot be rendered into code safely (a compiler bug or a hostile IR)."""


def identifier(name) -> str:
    """``name`` unchanged when it is a safe Python identifier; ``EmitError`` otherwise."""
    if not isinstance(name, str) or not IDENTIFIER.match(name):
        raise EmitError(f"not a valid identifier: {name!r}")
    if keyword.iskeyword(name):
        raise EmitError(f"identifier is a Python keyword: {name!r}")
    if name.startswith("__"):
        raise EmitError(f"identifier must not start with '__': {name!r}")
    return name


def dotted_name(name) -> str:
    """A dotted parameter path (``blocks.3.linear_1.weight``) checked part by part."""
    if not isinstance(name, str) or not name:
        raise EmitError(f"not a valid dotted name: {name!r}")
    for part in name.split("."):
        if not DOTTED_PART.match(part) or part.startswith("__") or keyword.iskeyword(part):
            raise EmitError(f"not a valid dotted name: {name!r}")
    return name


def literal(value) -> str:
    """A Python expression that evaluates to ``value``.

    Accepts None, bool, int, finite or infinite float, str, tuple, list and dict with string
    keys (rendered with sorted keys). Tuples stay tuples (``(1,)``). Nothing else.
    """
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, int):
        return repr(int(value))
    if isinstance(value, float):
        if math.isnan(value):
            return 'float("nan")'
        if math.isinf(value):
            return 'float("inf")' if value > 0 else '-float("inf")'
        return repr(float(value))
    if isinstance(value, str):
        return repr(str(value))
    if isinstance(value, tuple):
        items = [literal(item) for item in value]
        return "(" + items[0] + ",)" if len(items) == 1 else "(" + ", ".join(items) + ")"
    if isinstance(value, list):
        return "[" + ", ".join(literal(item) for item in value) + "]"
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise EmitError(f"dict keys must be strings, got {key!r}")
        items = [f"{literal(key)}: {literal(value[key])}" for key in sorted(value)]
        return "{" + ", ".join(items) + "}"
    raise EmitError(f"cannot render a value of type {type(value).__name__} as a Python literal")


def operand_literal(value) -> str:
    """A literal usable as an operand of an infix operator (negative numbers in parens)."""
    text = literal(value)
    return "(" + text + ")" if text.startswith("-") else text


def comment(text) -> str:
    """``text`` made safe for a ``#`` comment or a docstring line.

    Printable ASCII characters from a conservative set are kept; any other character
    (newline, quote, backslash, non-ASCII) becomes ``<U+XXXX>``, so the text can neither
    end the comment nor close a docstring.
    """
    if not isinstance(text, str):
        text = str(text)
    pieces = []
    for character in text:
        if COMMENT_SAFE.match(character):
            pieces.append(character)
        else:
            pieces.append(f"<U+{ord(character):04X}>")
    return "".join(pieces)


FILTERS = {
    "identifier": identifier,
    "dotted_name": dotted_name,
    "literal": literal,
    "comment": comment,
}
