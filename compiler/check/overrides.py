"""Helpers of resolution: the ``--set`` value parser and import chains.

``make_expression_parser(parse)`` parses an override's value as the right side of a
``let`` and moves every span onto the override's line of the ``--set`` pseudo-file, so a
bad override is shown with a caret like any spec text. ``canonical_value(expression)`` prints
a parsed value back on one line, as ``specc fmt`` would (no comments, no line breaks): how
the resolved spec lists an override whose text holds a line break, so that
``--set 'k=(4\n)'`` still reads back from its one header line as the same value. ``import_chains`` gives, for each
module, the files that import it from the root: provenance and ``specc explain`` show it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from specc.dsl.diagnostics import Diagnostic, Span
from specc.dsl import ast

OVERRIDE_FILE = "--set"
_OVERRIDE_PREFIX = "let value = "


def import_chains(modules: Sequence[ast.Module], std_root: str = "") -> dict[str, tuple[str, ...]]:
    """For each module file, the chain of files importing it from the root (root first)."""
    if not modules:
        return {}
    from specc.dsl.imports import resolve_import

    files = {module.file for module in modules}
    importers: dict[str, str] = {}
    for module in reversed(modules):  # root first: the shortest chain wins
        for imported in module.imports:
            target = resolve_import(module.file, imported.path, std_root)
            if target in files and target not in importers and target != modules[-1].file:
                importers[target] = module.file
    chains = {}
    for module in modules:
        chain, file = [module.file], module.file
        while file in importers and importers[file] not in chain:
            file = importers[file]
            chain.append(file)
        chains[module.file] = tuple(reversed(chain))
    return chains


def make_expression_parser(parse: Callable):
    """An override-value parser built on the dsl's ``parse(text, file)``: the value is parsed
    as the right side of a ``let`` and its spans moved onto the ``--set`` line."""

    def parse_expression(text: str, line: int, column: int):
        module, diagnostics = parse(_OVERRIDE_PREFIX + text, OVERRIDE_FILE)
        shift = column - 1 - len(_OVERRIDE_PREFIX)
        moved = [replace(d, span=_move(d.span, line, shift)) for d in diagnostics]
        if module is None or len(module.items) != 1 or not isinstance(module.items[0], ast.Let):
            if not moved:
                moved.append(
                    Diagnostic(
                        "E0308",
                        f"the override value `{text}` is not an expression",
                        Span(OVERRIDE_FILE, line, column, line, column + max(1, len(text))),
                    )
                )
            return None, moved
        return _shift_tree(module.items[0].value, line, shift), moved

    return parse_expression


def canonical_value(expression) -> str:
    """The one-line canonical text of a parsed override value (``specc fmt``'s printing of
    the same tree with every element on one line and the comments dropped): parsed again it
    gives the same tree apart from spans."""
    from specc.dsl.formatter import format_module

    value = _one_line(expression)
    span = Span(OVERRIDE_FILE, 1, 1, 1, 1)
    let = ast.Let(span, "value", span, value)
    module = ast.Module(span, OVERRIDE_FILE, None, None, (), (let,), ())
    text = format_module(module).rstrip("\n")
    if not text.startswith(_OVERRIDE_PREFIX) or "\n" in text:  # the printer's contract, kept explicit
        raise ValueError(f"override value printed on several lines: {text!r}")
    return text[len(_OVERRIDE_PREFIX) :]


def _one_line(node):
    """A copy of an AST subtree with every span on line 1 (the printer then writes every
    list, call and mapping on one line). Without recursion: a value may be a long flat sum."""
    return ast.map_spans(node, lambda span: Span(span.file, 1, span.column, 1, max(span.column, span.end_column)))


def _move(span: Span, line: int, shift: int) -> Span:
    return Span(
        OVERRIDE_FILE,
        line + span.line - 1,
        max(1, span.column + shift),
        line + span.end_line - 1,
        max(1, span.end_column + shift),
    )


def _shift_tree(node, line: int, shift: int):
    """A copy of an AST subtree with every span moved onto the override's line (without
    recursion: an override may be a flat sum of any length)."""
    return ast.map_spans(node, lambda span: _move(span, line, shift))
