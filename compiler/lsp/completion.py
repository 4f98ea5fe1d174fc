"""Completion from the registry: section keywords, section keys, component names and their
parameters (type and default in the detail), enum words, layers and ops in graphs.

``complete(text, offset, names) -> list[CompletionItem]``; ``names`` holds the spec's own
``model`` and ``block`` names (a `model = ` key, a graph calling a block).
"""

from __future__ import annotations

import re

from lsprotocol import types

from specc.compiler.lsp.context import Context, Frame, cursor_context, section_parameters, value_kind
from specc.compiler.lsp.vocabulary_text import (
    component_markdown,
    layer_markdown,
    layer_signature,
    parameter_detail,
    section_markdown,
)
from specc.compiler.graphs.calls import COMPILE_TIME_FUNCTIONS
from specc.compiler.vocabulary import layers, registry

TOP_KEYWORDS = {
    "spec": "spec NAME: the spec's name (a file without it is a library of blocks)",
    "language": "language N: the language version",
    "import": 'import "file.mf": blocks and lets of another file (`std/...` for the standard library)',
    "extends": 'extends "base.mf": this spec is the base spec with this file\'s lets, sections and models over it',
    "let": "let NAME = VALUE: a constant (`--set NAME=...` overrides it)",
    "block": "block NAME(inputs) -> outputs { ... }: a reusable graph",
    "model": "model NAME(inputs) -> outputs { ... }, or model NAME = BLOCK(...)",
}
_ONLY_WORD = re.compile(r"^\s*\w*$")
_AFTER_KEYWORD = re.compile(r"^\s*([A-Za-z_]\w*)\s+(?:[A-Za-z_]\w*\s*:\s*)?\w*$")
_KEY_VALUE = re.compile(r"^\s*([A-Za-z_]\w*)\s*=\s*(.*)$", re.DOTALL)


def complete(text: str, offset: int, names: dict[str, list[str]]) -> list[types.CompletionItem]:
    context = cursor_context(text, offset)
    if context.in_comment_or_string:
        return []
    frame = context.frame
    if frame.in_graph or frame.role == "graph":
        return _in_graph(context, names)
    if frame.role == "top":
        return _at_top(context.prefix)
    if frame.role == "section":
        return _in_section(frame, context.prefix, names)
    if frame.role == "call":
        return _in_call(frame, context.prefix, names)
    if frame.role == "list" and _ONLY_WORD.match(context.prefix):
        return _values_of_kind(frame.value_kind, names)
    return []


def _markdown(text: str) -> types.MarkupContent:
    return types.MarkupContent(kind=types.MarkupKind.Markdown, value=text)


def _at_top(prefix: str) -> list[types.CompletionItem]:
    if _ONLY_WORD.match(prefix):
        items = [
            types.CompletionItem(
                label=kind,
                kind=types.CompletionItemKind.Module,
                detail=f"section: {section.doc}",
                documentation=_markdown(section_markdown(kind)),
            )
            for kind, section in registry.SECTIONS.items()
            if section.parent is None and not section.reserved
        ]
        items += [
            types.CompletionItem(label=word, kind=types.CompletionItemKind.Keyword, detail=doc)
            for word, doc in TOP_KEYWORDS.items()
        ]
        return items
    head = _AFTER_KEYWORD.match(prefix)
    if head and head.group(1) in registry.SECTIONS:
        return _components(registry.SECTIONS[head.group(1)].component_kind)
    return []


def _components(kind: str | None) -> list[types.CompletionItem]:
    if kind is None:
        return []
    return [
        types.CompletionItem(
            label=name,
            kind=types.CompletionItemKind.Class,
            detail=f"{kind}: {component.doc}",
            documentation=_markdown(component_markdown(component)),
        )
        for name, component in registry.components(kind).items()
    ]


def _parameter_items(parameters, with_equals: bool) -> list[types.CompletionItem]:
    return [
        types.CompletionItem(
            label=parameter.name,
            kind=types.CompletionItemKind.Property,
            detail=parameter_detail(parameter),
            documentation=_markdown(parameter.doc) if parameter.doc else None,
            insert_text=f"{parameter.name} = " if with_equals else None,
        )
        for parameter in parameters
    ]


def _in_section(frame: Frame, prefix: str, names) -> list[types.CompletionItem]:
    parameters = section_parameters(frame.kind, frame.component)
    if _ONLY_WORD.match(prefix):
        items = _parameter_items(parameters, with_equals=True)
        items += [
            types.CompletionItem(
                label=child,
                kind=types.CompletionItemKind.Module,
                detail=f"section: {registry.SECTIONS[child].doc}",
                documentation=_markdown(section_markdown(child)),
            )
            for child in registry.SECTIONS[frame.kind].children
        ]
        return items
    written = _KEY_VALUE.match(prefix)
    if written and re.fullmatch(r"\w*", written.group(2).strip()):
        parameter = next((item for item in parameters if item.name == written.group(1)), None)
        return _values(parameter, names) if parameter else []
    return []


def _in_call(frame: Frame, prefix: str, names) -> list[types.CompletionItem]:
    component = registry.lookup(frame.value_kind or "", frame.component or "")
    if component is None:
        return []
    if _ONLY_WORD.match(prefix):
        return _parameter_items(component.params, with_equals=True)
    written = _KEY_VALUE.match(prefix)
    if written and re.fullmatch(r"\w*", written.group(2).strip()):
        parameter = component.param(written.group(1))
        return _values(parameter, names) if parameter else []
    return []


def _values(parameter, names) -> list[types.CompletionItem]:
    """What may be written as the value of ``parameter``: its kind's components, its enum
    words, true/false, or the spec's models."""
    if parameter.choices:
        return [
            types.CompletionItem(label=choice, kind=types.CompletionItemKind.EnumMember, detail=f"{parameter.name}: {parameter.type}")
            for choice in parameter.choices
        ]
    if parameter.type.rstrip("?") == "bool":
        return [types.CompletionItem(label=word, kind=types.CompletionItemKind.Keyword) for word in ("true", "false")]
    return _values_of_kind(value_kind(parameter.type), names)


def _values_of_kind(kind: str | None, names) -> list[types.CompletionItem]:
    if kind == "model":
        return [types.CompletionItem(label=name, kind=types.CompletionItemKind.Reference, detail="model") for name in names.get("model", [])]
    return _components(kind)


def _in_graph(context: Context, names) -> list[types.CompletionItem]:
    frame = context.frame
    prefix = context.prefix
    statement_start = frame.role == "graph" and _ONLY_WORD.match(prefix)
    if statement_start:
        return [types.CompletionItem(label=word, kind=types.CompletionItemKind.Keyword) for word in ("return", "repeat", "for", "if")]
    if not re.search(r"(?:^|[^\w.\]\)])\w*$", prefix):
        return []
    items = []
    if frame.role == "call" and _ONLY_WORD.match(prefix):
        entry = layers.lookup(frame.callee or "")
        arguments = [argument for argument in entry.arguments if argument.type not in ("tensor", "tensors")] if entry else []
        items += _parameter_items(arguments, with_equals=True)
    items += [
        types.CompletionItem(
            label=name,
            kind=types.CompletionItemKind.Function,
            detail=layer_signature(layers.lookup(name)),
            documentation=_markdown(layer_markdown(layers.lookup(name))),
        )
        for name in layers.names()
    ]
    items += [types.CompletionItem(label=name, kind=types.CompletionItemKind.Function, detail="block") for name in names.get("block", [])]
    items += [
        types.CompletionItem(label=name, kind=types.CompletionItemKind.Function, detail="compile-time function")
        for name in sorted(COMPILE_TIME_FUNCTIONS)
    ]
    return items
