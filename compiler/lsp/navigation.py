"""Go to definition: a block, a model, a `let` constant (in the file or in what it imports)
and an `import` or `extends` line's file.

``definition(analysis, line, character) -> (file, Span) | None`` with 0-based ``line`` and
``character`` (characters); the span is the checker's (1-based).
"""

from __future__ import annotations

import re

from specc.compiler.lsp.documents import Analysis
from specc.compiler.pipeline import std_root
from specc.dsl import ast
from specc.dsl.diagnostics import Span
from specc.dsl.imports import resolve_import

_IMPORT = re.compile(r'^\s*(?:import|extends)\s+"([^"\n]*)"')


def definition(analysis: Analysis, line: int, character: int) -> tuple[str, Span] | None:
    lines = analysis.text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if not 0 <= line < len(lines):
        return None
    source_line = lines[line]
    imported = _IMPORT.match(source_line)
    if imported and imported.start(1) - 1 <= character <= imported.end(1) + 1:
        target = resolve_import(analysis.path, imported.group(1), std_root())
        return target, Span.point(target)
    word = _word(source_line, character)
    if word is None or _is_attribute(source_line, character, word):
        return None
    return _defined(analysis.modules, analysis.path, word)


def _word(line: str, character: int) -> str | None:
    for match in re.finditer(r"[A-Za-z_]\w*", line):
        if match.start() <= character <= match.end():
            return match.group()
    return None


def _is_attribute(line: str, character: int, word: str) -> bool:
    """``data.k``: the name after a dot is a key of another section, not a definition."""
    for match in re.finditer(r"[A-Za-z_]\w*", line):
        if match.start() <= character <= match.end():
            return line[: match.start()].rstrip().endswith(".")
    return False


def _defined(modules, root: str, word: str) -> tuple[str, Span] | None:
    """The definition of ``word``: the root file's first, then its imports, nearest first."""
    ordered = sorted(modules, key=lambda module: module.file != root)
    root_first = ordered[:1] + list(reversed(ordered[1:]))
    for module in root_first:
        for item in module.items:
            if isinstance(item, (ast.Let, ast.Block, ast.Model, ast.ModelInstance, ast.Extern)) and item.name == word:
                return item.name_span.file, item.name_span  # a composed module holds its base's items
    return None
