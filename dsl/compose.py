"""``compose(modules, std_root)``: every file that ``extends`` a base, merged with it.

A file written ``extends "base.mf"`` is the base spec with the file's items over it
(docs/fragments/composition.md):

- a ``let`` named like one of the base's replaces it where the base had it, so every use of
  the constant in the base (its sections, blocks and models) reads the new value, exactly as
  ``--set name=value`` replaces it;
- a section of the same kind (and label: ``optimizer generator:``) as one of the base's is
  merged into it: each entry given replaces the base's entry of that key (or is added), each
  nested section is merged the same way; a section naming a component other than the base
  section's (``optimizer sgd {}`` over ``optimizer adam {...}``) replaces the base section
  whole, since the old component's entries would not fit the new one. Without a component
  (``optimizer { lr = 3e-4 }``) it merges into whatever component the base names;
- a ``model`` or ``block`` named like one of the base's replaces it (its signature is not
  compared: the new definition is checked where it is used, like any other);
- everything else is added: new lets after the base's last ``let``, the rest after the base's
  items.

Every item and entry keeps the span of the file that wrote it, so provenance and
diagnostics name the base file for what the base set and the extending file for what it
set. What the base *imports* is not part of it: an import adds definitions and still refuses
duplicates (E0303). A base extends a base in turn (chains); a file may be the base of only
one file in a program (E0212). A file whose base could not be loaded (E0201, a syntax
error, ...) leaves the program: checked alone, it would only report what its base defines
as missing.

The composed module takes the extending file's place (its file, imports and ``extends``)
with ``composed_from`` naming the parsed files it was made of; the base's own module leaves
the list. ``composed_text(module)`` prints a composed module as one standalone spec (the
resolved spec a run directory keeps).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from specc.dsl import ast
from specc.dsl.diagnostics import Diagnostic, Span, printable
from specc.dsl.imports import resolve_import


def compose(modules: Sequence[ast.Module], std_root: str) -> tuple[list[ast.Module], list[Diagnostic]]:
    """The modules with each extending file composed over its base (dependency order kept,
    the composed module at the extending file's place)."""
    loaded = {module.file for module in modules}
    dropped: set[str] = set()
    composed: dict[str, ast.Module] = {}
    extended_by: dict[str, ast.Module] = {}  # base file -> the file extending it
    diagnostics: list[Diagnostic] = []
    for module in modules:  # dependency order: a base is composed before what extends it
        base_file = _base_file(module, std_root)
        if base_file is not None and (base_file not in loaded or base_file in dropped):
            dropped.add(module.file)  # its base could not be read or parsed (reported): alone it would mislead
            continue
        if base_file is None or base_file not in composed:  # no base, or a cycle (E0211, reported)
            composed[module.file] = module
        elif base_file in extended_by:
            diagnostics.append(_extended_twice(module, base_file, extended_by[base_file]))
            composed[module.file] = module
        else:
            extended_by[base_file] = module
            composed[module.file] = merge(composed[base_file], module)
    kept = [composed[module.file] for module in modules if module.file in composed]
    return [module for module in kept if module.file not in extended_by], diagnostics


def _base_file(module: ast.Module, std_root: str) -> str | None:
    if module.extends is None:
        return None
    return resolve_import(module.file, module.extends.path, std_root)


def _extended_twice(module: ast.Module, base_file: str, first: ast.Module) -> Diagnostic:
    return Diagnostic(
        "E0212",
        f"`{printable(base_file)}` is already the base of `{printable(first.file)}`: a file is the base of one file "
        "in a program",
        module.extends.span,
        notes=(f"`{printable(first.file)}` extends it at {first.extends.span.location()}",),
        help=f"extend `{printable(first.file)}` instead, or import the base (an import adds, it cannot override)",
    )


def merge(base: ast.Module, top: ast.Module) -> ast.Module:
    """``top`` (a parsed file that extends ``base``) composed over ``base`` (rules above)."""
    items = list(base.items)
    positions = {}
    for position, item in enumerate(items):
        positions.setdefault(item_key(item), position)
    replaced, new_lets, new_items = set(), [], []
    for item in top.items:
        key = item_key(item)
        if key in positions and key not in replaced:  # a second definition in `top` is a duplicate (E0303)
            replaced.add(key)
            items[positions[key]] = _over(items[positions[key]], item)
        else:
            (new_lets if isinstance(item, ast.Let) else new_items).append(item)
    after_lets = max((index + 1 for index, item in enumerate(items) if isinstance(item, ast.Let)), default=0)
    items[after_lets:after_lets] = new_lets  # the constants together, as a file is usually written
    return dataclasses.replace(
        top,
        items=tuple(items + new_items),
        comments=(),
        spec_name=top.spec_name if top.spec_name is not None else base.spec_name,
        spec_span=top.spec_span if top.spec_name is not None else base.spec_span,
        language=top.language if top.language is not None else base.language,
        language_span=top.language_span if top.language is not None else base.language_span,
        composed_from=(base.composed_from or (base,)) + (top,),
    )


def item_key(item) -> tuple:
    """What an item defines: two items with the same key are the same definition."""
    if isinstance(item, ast.Section):
        return ("section", item.kind, item.name)
    if isinstance(item, (ast.Model, ast.ModelInstance)):
        return ("model", item.name)
    if isinstance(item, (ast.Block, ast.Extern)):  # one namespace: what a graph calls by name
        return ("block", item.name)
    return ("constant", item.name)


def _over(base_item, item):
    if isinstance(base_item, ast.Section) and isinstance(item, ast.Section):
        return merge_section(base_item, item)
    return item


def merge_section(base: ast.Section, top: ast.Section) -> ast.Section:
    """``top``'s entries and nested sections over ``base``'s; ``top`` whole when it names
    another component."""
    if top.component is not None and top.component != base.component:
        return top
    body = list(base.body)
    positions = {}
    for position, element in enumerate(body):
        positions.setdefault(_element_key(element), position)
    for element in top.body:
        key = _element_key(element)
        if key in positions:
            body[positions[key]] = _over(body[positions[key]], element)
        else:
            positions[key] = len(body)
            body.append(element)
    return dataclasses.replace(base, body=tuple(body))


def _element_key(element) -> tuple:
    if isinstance(element, ast.Section):
        return ("section", element.kind, element.name)
    return ("entry", element.key)


def composed_text(module: ast.Module, keep_language: bool = True) -> str:
    """A composed module as one standalone spec (no ``extends``, no imports), printed by
    the formatter; comments are not kept (they belong to the files it was made of). The
    items are first laid out one after the other (the formatter places blank lines and
    keeps one-line constructs on one line by their source lines, and those come from
    several files)."""
    from specc.dsl.formatter import format_module

    files = " over ".join(printable(part.file) for part in reversed(module.composed_from))
    header = Span(module.file, 1, 1, 1, 1)
    standalone = dataclasses.replace(
        module,
        imports=(),
        extends=None,
        comments=(),
        composed_from=(),
        language=module.language if keep_language else None,
        spec_span=header,
        language_span=dataclasses.replace(header, line=2, end_line=2),
        items=_laid_out(module.items, 4),
    )
    return f"# composed: {files}\n" + format_module(standalone)


def _laid_out(items, line: int) -> tuple:
    """``items`` moved onto consecutive lines from ``line``: the gap the source had between
    two items of one file that followed each other there, else one blank line (none between
    two lets)."""
    placed, previous = [], None
    for item in items:
        if previous is not None:
            follows = item.span.file == previous.span.file and item.span.line > previous.span.end_line
            if follows:
                line += min(1, item.span.line - previous.span.end_line - 1)
            elif not (isinstance(item, ast.Let) and isinstance(previous, ast.Let)):
                line += 1
        moved = _placed(item, line)
        placed.append(moved)
        line, previous = moved.span.end_line + 1, item
    return tuple(placed)


def _placed(node, line: int):
    """``node`` with its first line at ``line``: moved whole, or, for a section whose
    elements come from several files, element after element."""
    if isinstance(node, ast.Section) and _mixed(node):
        return _placed_section(node, line)
    delta = line - node.span.line
    return ast.map_spans(node, lambda span: _shifted(span, delta))


def _mixed(section: ast.Section) -> bool:
    return any(
        element.span.file != section.span.file or (isinstance(element, ast.Section) and _mixed(element))
        for element in section.body
    )


def _placed_section(section: ast.Section, line: int) -> ast.Section:
    body, current = [], line + 1
    for element in section.body:
        moved = _placed(element, current)
        body.append(moved)
        current = moved.span.end_line + 1
    delta = line - section.span.line
    span = Span(section.span.file, line, section.span.column, current, section.span.column + 1)
    component_span = _shifted(section.component_span, delta) if section.component_span is not None else None
    return dataclasses.replace(section, span=span, component_span=component_span, body=tuple(body))


def _shifted(span: Span, delta: int) -> Span:
    return Span(span.file, span.line + delta, span.column, span.end_line + delta, span.end_column)
