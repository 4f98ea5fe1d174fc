"""The open documents as the checker sees them, and positions between the two worlds.

- ``overlay_reader(read, texts)``: the checker's ``read`` serving an open document's unsaved
  text for its path (an import of an open file reads the editor's text too);
- ``analyze(path, read)``: what ``specc lint`` checks for one file (a spec, or a library of
  blocks), plus the parsed modules with the standard library under its real folder (for go
  to definition);
- ``Lines``: 1-based spans and 0-based LSP positions, with columns counted in the client's
  units (UTF-16 by default) while the checker counts characters.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from specc.compiler.pipeline import STD_NAME, CheckResult, check, std_root
from specc.dsl.diagnostics import Span


def normalized(path: str) -> str:
    return os.path.normpath(os.path.abspath(path))


def overlay_reader(read: Callable[[str], bytes], texts: dict[str, str]) -> Callable[[str], bytes]:
    """``read`` that answers with the editor's text for the open documents (keyed by
    ``normalized`` path) and reads every other file as ``specc lint`` does."""

    def read_open(path: str) -> bytes:
        text = texts.get(normalized(path))
        if text is not None:
            return text.encode("utf-8", "surrogatepass")
        return read(path)

    return read_open


@dataclass
class Analysis:
    path: str
    text: str
    result: CheckResult
    modules: tuple  # dsl ast.Module of the file and its imports, std files under their real path

    @property
    def graphs(self) -> dict:
        """The model graphs: the checked program's, or the ones built before an error."""
        if self.result.program is not None:
            return {graph.name: graph for graph in self.result.program.models}
        return self.result.extras.get("graphs") or {}


def analyze(path: str, text: str, read: Callable[[str], bytes]) -> Analysis:
    """Check ``path`` exactly as ``specc lint PATH`` does (no --set, no --backend)."""
    from specc.dsl.imports import load_program

    result = check(path, read, (), None, library_ok=True, backend_warnings=True)
    modules = load_program(path, read, std_root()).modules
    return Analysis(path, text, result, modules)


def real_path(file: str) -> str:
    """The file a span names: ``<std>/x.mf`` is the installed standard library's file."""
    if file.startswith(STD_NAME + "/"):
        return std_root() + file[len(STD_NAME) :]
    return file


class Lines:
    """A text's lines (split at ``\\n``, as the checker splits them) and a counter of the
    client's code units (``units(text) -> int``)."""

    def __init__(self, text: str, units: Callable[[str], int]):
        self.lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        self.units = units

    def line(self, number: int) -> str:
        return self.lines[number] if 0 <= number < len(self.lines) else ""

    def to_client(self, line: int, character: int) -> tuple[int, int]:
        """0-based line and character index -> 0-based line and client units."""
        if line >= len(self.lines):
            return len(self.lines) - 1, self.units(self.lines[-1])
        return line, self.units(self.lines[line][: max(0, character)])

    def from_client(self, line: int, units: int) -> tuple[int, int]:
        """0-based line and client units -> 0-based line and character index."""
        text = self.line(line)
        counted = 0
        for index, character in enumerate(text):
            if counted >= units:
                return line, index
            counted += self.units(character)
        return line, len(text)

    def span_range(self, span: Span) -> tuple[tuple[int, int], tuple[int, int]]:
        """A checker span (1-based, end exclusive) as an LSP range in client units."""
        start = self.to_client(span.line - 1, span.column - 1)
        end = self.to_client(span.end_line - 1, span.end_column - 1)
        return start, max(start, end)

    def offset(self, line: int, character: int) -> int:
        """The index into the text (lines joined with ``\\n``) of a 0-based position."""
        return sum(len(text) + 1 for text in self.lines[:line]) + character

    def end(self) -> tuple[int, int]:
        return len(self.lines) - 1, self.units(self.lines[-1])
