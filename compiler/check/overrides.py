"""Helpers of resolution: the ``--set`` value parser and import chains.

``make_expression_parser(parse)`` parses an override's value as the right side of a
``let`` and moves every span onto the override's line of the ``--set`` pseudo-file, so a
bad override is shown with a caret like any spec text. ``import_chains`` gives, for each
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


def _move(span: Span, line: int, shift: int) -> Span:
    return Span(
        OVERRIDE_FILE,
        line + span.line - 1,
        max(1, span.column + shift),
        line + span.end_line - 1,
        max(1, span.end_column + shift),
    )


def _shift_tree(node, line: int, shift: int):
    """A copy of an AST subtree with every span moved onto the override's line."""
    if isinstance(node, Span):
        return _move(node, line, shift)
    if isinstance(node, tuple):
        return tuple(_shift_tree(item, line, shift) for item in node)
    if isinstance(node, ast.Node):
        changes = {name: _shift_tree(getattr(node, name), line, shift) for name in node.__dataclass_fields__}
        return replace(node, **changes)
    return node
