"""Diagnostics: every error a user can cause, with a position, a stable code and a caret.

Format (text)::

    specs/a.mf:3:9: error[E0201]: unknown key `lrr` in optimizer adamw
       |
     3 | optimizer adamw { lrr = 1e-4 }
       |                   ^^^
    help: did you mean `lr`?

Codes are stable and documented in docs/diagnostics.md. Diagnostics are sorted by
(file, line, column, code) before they are shown.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field


@dataclass(frozen=True, order=True)
class Span:
    """A source range. Lines and columns are 1-based; ``end_*`` is exclusive."""

    file: str
    line: int
    column: int
    end_line: int
    end_column: int

    @staticmethod
    def point(file: str, line: int = 1, column: int = 1) -> "Span":
        return Span(file, line, column, line, column + 1)

    def location(self) -> str:
        return f"{printable(self.file)}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Diagnostic:
    code: str  # "E0101"
    message: str
    span: Span
    severity: str = "error"  # "error" | "warning"
    help: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def sort_key(self):
        return (self.span.file, self.span.line, self.span.column, self.code, self.message)


class DiagnosticError(Exception):
    """Raised inside a stage to stop it; carries every diagnostic found so far."""

    def __init__(self, diagnostics: list[Diagnostic]):
        super().__init__("\n".join(d.message for d in diagnostics))
        self.diagnostics = list(diagnostics)


def printable(text: str) -> str:
    """``text`` (a file name, an import path) as it can be printed on one line and encoded
    as UTF-8: a byte that was not UTF-8 in a file name (which Python decodes to a lone
    surrogate, ``surrogateescape``) as ``\\xe9``, any other unprintable character as
    ``\\u{a}``."""
    if text.isprintable():
        return text
    shown = []
    for character in text:
        code = ord(character)
        if 0xDC80 <= code <= 0xDCFF:
            shown.append(f"\\x{code - 0xDC00:02x}")
        elif character.isprintable():
            shown.append(character)
        else:
            shown.append(f"\\u{{{code:x}}}")
    return "".join(shown)


def did_you_mean(word: str, candidates) -> str | None:
    """``help:`` text suggesting the closest candidate, or None when none is close."""
    matches = difflib.get_close_matches(word, sorted(set(candidates)), n=1, cutoff=0.6)
    return f"did you mean `{matches[0]}`?" if matches else None


def sort_diagnostics(diagnostics) -> list[Diagnostic]:
    unique = {(d.sort_key(), d.severity): d for d in diagnostics}
    return [unique[key] for key in sorted(unique)]


SOURCE_WINDOW = 120  # columns of the source line shown around a span (a longer line is cut)
MAX_SHOWN_PER_FILE = 50  # diagnostics rendered as text per file; the rest are counted
MAX_MESSAGE = 1000  # characters of a message rendered as text


def render_text(diagnostic: Diagnostic, sources: dict[str, str]) -> str:
    """The diagnostic with the source line and a caret under the span."""
    return _render(diagnostic, _SourceLines(sources))


def render_all(diagnostics, sources: dict[str, str]) -> str:
    """The diagnostics rendered as text (:func:`render_text`), separated by blank lines: the
    first ``MAX_SHOWN_PER_FILE`` of each file, then for each file with more a last line
    ``FILE: N more diagnostics not shown`` (``specc lint --format json`` lists every one).
    With a window of each source line and a cap on the count, the output stays small
    whatever the input: 4,000 errors on one 90 KB line print about 13 KB, not hundreds of MB."""
    lines = _SourceLines(sources)
    blocks, shown, hidden = [], {}, {}
    for diagnostic in diagnostics:
        file = diagnostic.span.file
        if shown.get(file, 0) < MAX_SHOWN_PER_FILE:
            blocks.append(_render(diagnostic, lines))
            shown[file] = shown.get(file, 0) + 1
        else:
            hidden[file] = hidden.get(file, 0) + 1
    for file, count in hidden.items():
        noun = "diagnostic" if count == 1 else "diagnostics"
        blocks.append(
            f"{printable(file)}: {count:,} more {noun} not shown (`specc lint --format json` lists every one)"
        )
    return "\n\n".join(blocks) + ("\n" if blocks else "")


class _SourceLines:
    """The lines of each source, split once however many diagnostics a file has."""

    def __init__(self, sources: dict[str, str]):
        self.sources = sources
        self.split: dict[str, list[str]] = {}

    def line(self, file: str, number: int) -> str | None:
        if file not in self.split:
            text = self.sources.get(file)
            self.split[file] = text.split("\n") if text is not None else []
        lines = self.split[file]
        return lines[number - 1] if 1 <= number <= len(lines) else None


def _render(diagnostic: Diagnostic, sources: _SourceLines) -> str:
    span = diagnostic.span
    message = diagnostic.message
    if len(message) > MAX_MESSAGE:
        message = f"{message[:MAX_MESSAGE]}... ({len(message) - MAX_MESSAGE:,} more characters)"
    lines = [f"{span.location()}: {diagnostic.severity}[{diagnostic.code}]: {message}"]
    source_line = sources.line(span.file, span.line)
    if source_line is not None:
        source_line = source_line.replace("\t", " ")
        end = span.end_column if span.end_line == span.line else len(source_line) + 1
        shown, offset, width = _window(source_line, span.column - 1, end - 1)
        number = str(span.line)
        gutter = " " * len(number)
        lines.append(f"{gutter} |")
        lines.append(f"{number} | {shown}")
        lines.append(f"{gutter} | {' ' * offset}{'^' * width}")
    if diagnostic.help:
        lines.append(f"help: {diagnostic.help}")
    for note in diagnostic.notes:
        lines.append(f"note: {note}")
    return "\n".join(lines)


def _window(line: str, first: int, last: int) -> tuple[str, int, int]:
    """The part of ``line`` to show for the span ``[first, last)`` (0-based columns): the
    whole line when it is at most SOURCE_WINDOW columns, else SOURCE_WINDOW columns starting
    a third of a window before the span, with ``...`` where the line goes on. Returns the
    text, the caret's offset in it and the caret's width."""
    if len(line) <= SOURCE_WINDOW:
        return line, first, max(1, last - first)
    start = max(0, min(first - SOURCE_WINDOW // 3, len(line) - SOURCE_WINDOW))
    stop = start + SOURCE_WINDOW
    before = "..." if start > 0 else ""
    after = "..." if stop < len(line) else ""
    width = max(1, min(last, stop) - first)
    return before + line[start:stop] + after, len(before) + first - start, width
