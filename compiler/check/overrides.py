"""Helpers of resolution: the ``--set`` value parser and import chains.

``make_expression_parser(parse)`` parses an override's value as the right side of a
``let`` and moves every span onto the override's line of the ``--set`` pseudo-file, so a
bad override is shown with a caret like any spec text. ``canonical_value(expression)`` prints
a parsed value back on one line, as ``specc fmt`` would (no comments, no line breaks): how
the resolved spec lists an override whose text holds a line break, so that
``--set 'k=(4\n)'`` still reads back from its one header line as the same value. ``import_chains`` gives, for each
module, the files that import it from the root: provenance and ``specc explain`` show it.
``composition(modules)`` says, for the files composed by ``extends``, which file extends
which and which value of a base each extending file replaced (``specc explain`` shows both).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from itertools import pairwise

from specc.dsl.diagnostics import Diagnostic, Span
from specc.dsl import ast

OVERRIDE_FILE = "--set"
_OVERRIDE_PREFIX = "let value = "


def import_chains(modules: Sequence[ast.Module], std_root: str = "") -> dict[str, tuple[str, ...]]:
    """For each module file, the chain of files importing it from the root (root first).
    A composed module (``extends``) counts each of its files: a base is reached from the
    file extending it, and what a base imports from that base."""
    if not modules:
        return {}
    from specc.dsl.imports import resolve_import

    parts = [part for module in reversed(modules) for part in reversed(module.composed_from or (module,))]
    files = {part.file for part in parts}
    importers: dict[str, str] = {}
    for module in parts:  # root first: the shortest chain wins
        edges = ((module.extends,) if module.extends is not None else ()) + module.imports
        for imported in edges:
            target = resolve_import(module.file, imported.path, std_root)
            if target in files and target not in importers and target != modules[-1].file:
                importers[target] = module.file
    chains = {}
    for module in parts:
        chain, file = [module.file], module.file
        while file in importers and importers[file] not in chain:
            file = importers[file]
            chain.append(file)
        chains[module.file] = tuple(reversed(chain))
    return chains


def composition(modules: Sequence[ast.Module]) -> tuple[dict[str, str], dict[str, tuple[str, str]]]:
    """(base file -> the file extending it, key -> (origin of the value that replaced a
    base's, origin of the base's value it replaced)) over every composed module. Keys are
    ``specc explain``'s: ``k``, ``optimizer.lr``, ``train.checkpoint.keep``."""
    bases: dict[str, str] = {}
    replaced: dict[str, tuple[str, str]] = {}
    for module in modules:
        parts = module.composed_from
        for base, top in pairwise(parts):
            bases[base.file] = top.file
        written: dict[str, str] = {}
        for part in parts:
            for key, origin in _written_values(part):
                if key in written and written[key] != origin:
                    replaced[key] = (origin, written[key])
                written[key] = origin
    return bases, replaced


def _written_values(module: ast.Module):
    """(key, origin) of each let and section entry a parsed file writes."""
    work = []
    for item in module.items:
        if isinstance(item, ast.Let):
            yield item.name, f"{item.span.file}:{item.span.line}"
        elif isinstance(item, ast.Section):
            work.append((item.kind if item.name is None else f"{item.kind}.{item.name}", item))
    while work:
        path, section = work.pop()
        for element in section.body:
            if isinstance(element, ast.Section):
                work.append((f"{path}.{element.kind}", element))
            else:
                yield f"{path}.{element.key}", f"{element.span.file}:{element.span.line}"


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
