"""Where parsing can start again after a syntax error, to report the errors after it too.

After a syntax error the parser is restarted at the first later line that begins a
top-level item: a line whose first token is a word (``let``, ``block``, ``model``, a section
kind, ...) standing outside every bracket, brackets counted from the start of the file.
Counting brackets (not looking at indentation) keeps a restart from landing inside a
section or a block, where it would report errors that are not there; when the brackets do
not balance (the error may be a missing ``}``) there is no restart point and only the
first error is reported.
"""

from __future__ import annotations

from specc.dsl.lexer import Unterminated, scan

_OPENERS = {"(", "[", "{"}
_CLOSERS = {")", "]", "}"}


def top_level_lines(text: str, pattern) -> list[int]:
    """Lines (1-based, increasing) whose first token is a word at bracket depth 0."""
    lines, depth, last_line, offset, line_base = [], 0, 0, 0, 0
    while True:
        try:
            for kind, value, _position, line, _column in scan(text[offset:], pattern):
                line += line_base
                if line != last_line:
                    last_line = line
                    if depth == 0 and kind == "NAME":
                        lines.append(line)
                if kind == "PUNCTUATION":
                    depth += (value in _OPENERS) - (value in _CLOSERS)
            return lines
        except Unterminated as error:  # skip the rest of that line and go on
            line_end = text.find("\n", offset + error.position)
            if line_end < 0:
                return lines
            line_base += error.line
            last_line = line_base
            offset = line_end + 1


def tail_from(text: str, line: int) -> str:
    """The text from ``line`` on, with the lines before it left empty (positions unchanged)."""
    lines = text.split("\n")
    return "\n" * (line - 1) + "\n".join(lines[line - 1 :])
