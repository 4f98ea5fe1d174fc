"""Number and string literals: their values, and what is wrong with them (E0104, E0106).

Numbers keep the text they were written with (``100_000``, ``1e-4``) beside their value; a
literal with ``.`` or an exponent is a float, any other an int of any size. Strings decode
the escapes ``\\" \\\\ \\n \\t \\r \\u{...}`` (docs/language.md).
"""

from __future__ import annotations

import re

from lark import Token

from specc.dsl.diagnostics import Diagnostic, Span
from specc.dsl import ast

MAX_DIGITS = 4000  # Python refuses to convert longer digit strings to int
_NUMBER_SHAPE = re.compile(r"\d+(_\d+)*(\.\d+(_\d+)*)?([eE][+-]?\d+(_\d+)*)?\Z")
_SIMPLE_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "r": "\r"}
_UNICODE_ESCAPE = re.compile(r"u\{([0-9A-Fa-f]{1,6})\}")
_ESCAPE_HELP = (
    'escapes are \\" \\\\ \\n \\t \\r and \\u{...} (a hexadecimal code point); write a backslash as \\\\'
)


def _span(file: str, token: Token) -> Span:
    return Span(file, token.line, token.column, token.end_line, token.end_column)


def read_number(token: Token, file: str) -> tuple[ast.Number, list[Diagnostic]]:
    text, span = str(token), _span(file, token)
    digits = text.replace("_", "")
    is_float = any(character in text for character in ".eE")
    if len(digits) > MAX_DIGITS:
        message = f"number with {len(digits)} digits is too long"
        help = f"write at most {MAX_DIGITS} digits (use an exponent: `1e300`)"
        return ast.Number(span, 0, text), [Diagnostic("E0106", message, span, help=help)]
    value = float(digits) if is_float else int(digits)
    problems = []
    if not _NUMBER_SHAPE.match(text):
        help = "`_` may only stand between two digits, as in `100_000`"
        problems.append(Diagnostic("E0106", f"malformed number `{text}`", span, help=help))
    elif is_float and value == float("inf"):
        help = "the largest float is about 1.8e308"
        problems.append(Diagnostic("E0106", f"number `{text}` is too large", span, help=help))
    return ast.Number(span, value, text), problems


def read_string(token: Token, file: str) -> tuple[ast.String, list[Diagnostic]]:
    """Decode the escapes of a string token (quotes included in the token)."""
    raw, problems = str(token)[1:-1], []
    parts, index = [], 0
    while True:
        backslash = raw.find("\\", index)
        if backslash < 0:
            parts.append(raw[index:])
            return ast.String(_span(file, token), "".join(parts)), problems
        parts.append(raw[index:backslash])
        escaped, index = _escape(raw, backslash, token, file, problems)
        parts.append(escaped)


def _escape(raw: str, backslash: int, token: Token, file: str, problems: list) -> tuple[str, int]:
    following = raw[backslash + 1]
    if following in _SIMPLE_ESCAPES:
        return _SIMPLE_ESCAPES[following], backslash + 2
    match = _UNICODE_ESCAPE.match(raw, backslash + 1)
    if match:
        code = int(match.group(1), 16)
        if code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF:
            return chr(code), match.end()
    length = match.end() - backslash if match else 2
    column = token.column + 1 + backslash
    span = Span(file, token.line, column, token.line, column + length)
    written = raw[backslash : backslash + length]
    problems.append(
        Diagnostic("E0104", f"invalid escape sequence `{written}` in a string", span, help=_ESCAPE_HELP)
    )
    return written, backslash + length
