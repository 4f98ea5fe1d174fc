"""The tokenizer the LALR parser pulls tokens from (a lark custom lexer).

One compiled regular expression scans the text (``re.finditer``-style, no per-token
terminal search) — several times faster than lark's own lexers on large files. It is still
contextual: a word spelled like a keyword (``model``, ``in``, ``spec``, ...) is that keyword
only where the parser can shift the keyword (its state's actions, followed through the
reductions they trigger: an LALR state's lookahead set alone also holds keywords that only
other contexts accept) and no ``=`` follows it; a plain name everywhere else. So
``model = mlp`` inside a section is an entry wherever it stands, after any other entry.

A stray character is reported (E0102) and skipped, so the rest of the file is still read;
an unterminated string stops the scan (``Unterminated``).
"""

from __future__ import annotations

import re

from lark import Token
from lark.lexer import Lexer, PatternStr
from lark.parsers.lalr_analysis import Shift

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_PATTERNS = {
    "WHITESPACE": r"[ \t\f\r\n]+",
    "COMMENT": r"#[^\n]*",
    "NUMBER": r"[0-9][0-9_]*(?:\.[0-9][0-9_]*)?(?:[eE][+-]?[0-9][0-9_]*)?",
    "NAME": _NAME,
    "STRING": r'"(?:[^"\\\n]|\\[^\n])*"',
}


class Unterminated(Exception):
    """A ``"`` with no closing quote on its line."""

    def __init__(self, position: int, line: int, column: int):
        super().__init__("unterminated string")
        self.position, self.line, self.column = position, line, column


def punctuation_and_keywords(terminals) -> tuple[dict[str, str], dict[str, str]]:
    """From lark's terminals: punctuation text -> terminal name, keyword -> terminal name."""
    punctuation, keywords = {}, {}
    for terminal in terminals:
        if isinstance(terminal.pattern, PatternStr):
            value = terminal.pattern.value
            (keywords if re.fullmatch(_NAME, value) else punctuation)[value] = terminal.name
    return punctuation, keywords


def master_pattern(punctuation) -> re.Pattern:
    symbols = sorted(punctuation, key=lambda text: (-len(text), text))
    groups = [f"(?P<{name}>{pattern})" for name, pattern in _PATTERNS.items()]
    groups.append("(?P<PUNCTUATION>" + "|".join(re.escape(symbol) for symbol in symbols) + ")")
    return re.compile("|".join(groups))


class SpecLexer(Lexer):
    """The lark custom lexer. ``builder`` (set by the parser) receives names, comments and
    stray characters: ``check_name(token)``, ``comment(token)``, ``stray(char, line, column)``."""

    __future_interface__ = 2
    builder = None

    def __init__(self, lexer_conf):
        self.punctuation, self.keywords = punctuation_and_keywords(lexer_conf.terminals)
        self.pattern = master_pattern(self.punctuation)

    def lex(self, lexer_state, parser_state):
        builder, keywords, punctuation = self.builder, self.keywords, self.punctuation
        text = lexer_state.text.text
        states = parser_state.parse_conf.parse_table.states
        for kind, value, position, line, column in scan(text, self.pattern):
            if kind == "NAME":
                keyword = keywords.get(value)
                if (
                    keyword is not None
                    and keyword in states[parser_state.position]
                    and _is_keyword_here(keyword, parser_state, text, position + len(value))
                ):
                    kind = keyword
            elif kind == "PUNCTUATION":
                kind = punctuation[value]
            elif kind == "COMMENT":
                builder.comment(Token("COMMENT", value, position, line, column, line, column + len(value)))
                continue
            elif kind == "STRAY":
                builder.stray(value, line, column)
                continue
            end = column + len(value)
            token = Token(kind, value, position, line, column, line, end, position + len(value))
            if kind == "NAME":
                builder.check_name(token)
            yield token


_SKIPPED = re.compile(r"[ \t\f\r\n]+|#[^\n]*")


def _is_keyword_here(keyword: str, parser_state, text: str, end: int) -> bool:
    """Whether a word spelled like ``keyword`` (and in the action table of the parser's
    current state) is that keyword here. Not when ``=`` follows it: no keyword is ever
    followed by ``=``, so ``model = mlp`` is an entry (a key, a keyword argument) wherever it
    stands. Otherwise, only when the parser, after the reductions the keyword would trigger,
    can shift it: an LALR state's lookahead set merges contexts, so after
    ``loss = cross_entropy()`` it holds ``model`` (a top-level item may follow a ``let``
    ending the same way) although a section entry cannot be followed by one."""
    return not _assignment_follows(text, end) and _accepts(parser_state, keyword)


def _assignment_follows(text: str, position: int) -> bool:
    while True:
        skipped = _SKIPPED.match(text, position)
        if skipped is None:
            break
        position = skipped.end()
    return text.startswith("=", position) and not text.startswith("==", position)


def _accepts(parser_state, terminal: str) -> bool:
    """Whether the LALR parser in ``parser_state`` would shift ``terminal`` after the
    reductions it triggers: the parse table alone, on a virtual copy of the state stack."""
    states = parser_state.parse_conf.parse_table.states
    stack = parser_state.state_stack
    kept, pushed = len(stack), []  # the virtual stack: stack[:kept] + pushed
    while True:
        top = pushed[-1] if pushed else stack[kept - 1]
        action = states[top].get(terminal)
        if action is None:
            return False
        kind, argument = action
        if kind is Shift:
            return True
        size = len(argument.expansion)
        popped = min(size, len(pushed))
        del pushed[len(pushed) - popped :]
        kept -= size - popped
        top = pushed[-1] if pushed else stack[kept - 1]
        pushed.append(states[top][argument.origin.name][1])


def scan(text: str, pattern: re.Pattern):
    """(kind, text, offset, line, column) for every token, comment and stray character;
    whitespace skipped. Raises Unterminated at a quote that is never closed."""
    line, line_start, position, length = 1, 0, 0, len(text)
    match_at = pattern.match
    while position < length:
        match = match_at(text, position)
        if match is None:
            column = position - line_start + 1
            if text[position] == '"':
                raise Unterminated(position, line, column)
            yield "STRAY", text[position], position, line, column
            position += 1
            continue
        kind, value = match.lastgroup, match.group()
        if kind == "WHITESPACE":
            newlines = value.count("\n")
            if newlines:
                line += newlines
                line_start = position + value.rindex("\n") + 1
        else:
            yield kind, value, position, line, position - line_start + 1
        position = match.end()
