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
        return f"{self.file}:{self.line}:{self.column}"


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


def did_you_mean(word: str, candidates) -> str | None:
    """``help:`` text suggesting the closest candidate, or None when none is close."""
    matches = difflib.get_close_matches(word, sorted(set(candidates)), n=1, cutoff=0.6)
    return f"did you mean `{matches[0]}`?" if matches else None


def sort_diagnostics(diagnostics) -> list[Diagnostic]:
    unique = {(d.sort_key(), d.severity): d for d in diagnostics}
    return [unique[key] for key in sorted(unique)]


def render_text(diagnostic: Diagnostic, sources: dict[str, str]) -> str:
    """The diagnostic with the source line and a caret under the span."""
    span = diagnostic.span
    lines = [f"{span.location()}: {diagnostic.severity}[{diagnostic.code}]: {diagnostic.message}"]
    text = sources.get(span.file)
    if text is not None:
        source_lines = text.split("\n")
        if 1 <= span.line <= len(source_lines):
            source_line = source_lines[span.line - 1].replace("\t", " ")
            number = str(span.line)
            gutter = " " * len(number)
            end = span.end_column if span.end_line == span.line else len(source_line) + 1
            width = max(1, end - span.column)
            lines.append(f"{gutter} |")
            lines.append(f"{number} | {source_line}")
            lines.append(f"{gutter} | {' ' * (span.column - 1)}{'^' * width}")
    if diagnostic.help:
        lines.append(f"help: {diagnostic.help}")
    for note in diagnostic.notes:
        lines.append(f"note: {note}")
    return "\n".join(lines)


def render_all(diagnostics, sources: dict[str, str]) -> str:
    """Every diagnostic rendered as text (:func:`render_text`), separated by blank lines."""
    blocks = [render_text(diagnostic, sources) for diagnostic in diagnostics]
    return "\n\n".join(blocks) + ("\n" if blocks else "")
