"""Syntax errors in plain words: what was found, what was expected after what, and a fix.

lark reports terminal names (``LBRACE``, ``__ANON_3``); these functions turn them into the
text a user writes (`` `{` ``, "a name", "an expression") and add a help line where the fix
is known (an unclosed bracket, ``:`` written for ``=``, ``=`` written for ``==``).
"""

from __future__ import annotations

from lark import Lark, Token
from lark.exceptions import UnexpectedToken
from lark.lexer import PatternStr

from specc.dsl.diagnostics import Diagnostic, Span
from specc.dsl.lexer import scan

_WORDS = {"NAME": "a name", "NUMBER": "a number", "STRING": "a string", "$END": "end of file"}
_EXPRESSION_START = {"NUMBER", "STRING", "[", "true", "false"}
_STATEMENT_START = {"return", "repeat", "for", "if"}
_TOP_LEVEL = {"let", "block", "model"}
_OPERATORS = {"+", "-", "*", "/", "//", "%", "**", "==", "!=", "<", "<=", ">", ">=", "and", "or", "."}
_CLOSERS = {"(": ")", "[": "]", "{": "}"}


def unterminated_error(text: str, file: str, position: int, line: int, column: int) -> Diagnostic:
    """An opening quote with no closing one on its line."""
    line_end = text.find("\n", position)
    width = (len(text) if line_end < 0 else line_end) - position
    return Diagnostic(
        "E0103",
        "unterminated string",
        Span(file, line, column, line, column + width),
        help='close it with `"` on the same line; write a line break inside a string as \\n '
        'and a quote as \\"',
    )


def stray_error(character: str, file: str, line: int, column: int) -> Diagnostic:
    """A character no token starts with."""
    shown = character if character.isprintable() else f"\\u{{{ord(character):x}}}"
    help = None
    if character == "'":
        help = 'strings are written in double quotes: "..."'
    elif character == ";":
        help = "entries and statements are separated by new lines (or commas between entries)"
    return Diagnostic(
        "E0102", f"unexpected character `{shown}`", Span(file, line, column, line, column + 1), help=help
    )


def token_error(error: UnexpectedToken, text: str, file: str, parser: Lark, pattern) -> Diagnostic:
    """A token the grammar does not allow here: what it expected, after which token."""
    token = error.token
    before = _tokens_before(text, token, pattern)
    previous = before[-1] if before else None
    acceptable = _acceptable(error)
    expected = _describe_expected(acceptable, parser)
    found = "end of file" if token.type == "$END" else f"`{_shorten(str(token))}`"
    after = f" after `{_shorten(str(previous))}`" if previous is not None else ""
    message = f"expected {expected}{after}, found {found}"
    span = _error_span(file, token, previous)
    return Diagnostic("E0101", message, span, help=_help(token, acceptable, before))


def _acceptable(error: UnexpectedToken) -> set[str]:
    """The tokens truly acceptable here: lark's ``expected`` is the LALR state's lookahead
    set, which holds tokens only valid in other contexts; ``accepts()`` simulates each one."""
    try:
        return set(error.interactive_parser.accepts()) or set(error.expected)
    except Exception:  # the simulation runs AST callbacks on a copy; fall back if one fails
        return set(error.expected)


def _tokens_before(text: str, token: Token, pattern) -> list[Token]:
    """Re-scan the text up to the offending token (only on error, so speed is no concern)."""
    end = len(text) if token.type == "$END" else token.start_pos
    tokens = []
    for kind, value, position, line, column in scan(text[:end], pattern):
        if kind not in ("COMMENT", "STRAY"):
            tokens.append(Token(kind, value, position, line, column, line, column + len(value)))
    return tokens


def _error_span(file: str, token: Token, previous: Token | None) -> Span:
    if token.type != "$END":
        return Span(file, token.line, token.column, token.end_line, token.end_column)
    if previous is None:
        return Span.point(file)
    return Span(file, previous.end_line, previous.end_column, previous.end_line, previous.end_column + 1)


def _shorten(text: str, limit: int = 24) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _literal(name: str, parser: Lark) -> str:
    """The text of a terminal: ``LBRACE`` -> ``{``; pattern terminals keep their name."""
    for terminal in parser.terminals:
        if terminal.name == name and isinstance(terminal.pattern, PatternStr):
            return terminal.pattern.value
    return name


def _describe_expected(names: set[str], parser: Lark) -> str:
    literals = {_literal(name, parser) for name in names}
    words: list[str] = []
    if _TOP_LEVEL <= literals:
        literals -= _TOP_LEVEL | {"NAME", "spec", "language", "import", "extends", "extern"}
        words.append("a top-level item (`let`, `block`, `model`, `import` or a section)")
    if _STATEMENT_START <= literals:
        literals -= _STATEMENT_START | {"NAME"}
        words.append("a statement")
    if _EXPRESSION_START <= literals:
        literals -= _EXPRESSION_START | {"NAME", "(", "{", "-", "+", "not"}
        words.append("an expression")
    operators = literals & _OPERATORS
    if len(operators) >= 3:
        literals -= _OPERATORS
        words.append("an operator")
    for literal in sorted(literals, key=_order):
        words.append(_WORDS.get(literal, f"`{literal}`"))
    if not words:
        return "something else"
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " or " + words[-1]


def _order(literal: str) -> tuple[int, str]:
    return (1 if literal in _WORDS else 0, literal)


def _help(token: Token, expected, before: list[Token]) -> str | None:
    if token.type == "$END" or str(token) in _CLOSERS.values():
        opened = _innermost_unclosed(before)
        if opened is not None:
            closer = _CLOSERS[str(opened)]
            return (
                f"add `{closer}` to close the `{opened}` opened at line {opened.line}, column {opened.column}"
            )
    if str(token) == ":" and "EQUAL" in expected:
        return "entries and keyword arguments are written `key = value`"
    if str(token) == "=" and "LBRACE" in expected and "STAR" in expected:  # after a condition
        return "to compare two values, write `==`"
    if str(token) in {"==", "!=", "<", "<=", ">", ">="}:
        return "comparisons do not chain: write `a < b and b < c`"
    return None


def _innermost_unclosed(tokens: list[Token]) -> Token | None:
    stack: list[Token] = []
    for token in tokens:
        if str(token) in _CLOSERS and token.type != "STRING":
            stack.append(token)
        elif stack and str(token) == _CLOSERS[str(stack[-1])]:
            stack.pop()
    return stack[-1] if stack else None
