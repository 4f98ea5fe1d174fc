"""Hover text (markdown): a component's or a layer's documentation, a value's origin (what
``specc explain`` prints) and the inferred tensor shapes of a graph line.

``hover_text(analysis, line, character) -> str | None``; ``line`` and ``character`` are
0-based and count characters.
"""

from __future__ import annotations

import re

from specc.compiler.check.explain import explain
from specc.compiler.lsp.context import cursor_context, section_parameters, value_kind
from specc.compiler.lsp.documents import Analysis
from specc.compiler.lsp.vocabulary_text import (
    component_markdown,
    layer_markdown,
    parameter_detail,
    section_markdown,
)
from specc.compiler.vocabulary import layers, registry

ARITHMETIC = {"add": "+", "sub": "-", "mul": "*", "truediv": "/", "floordiv": "//", "mod": "%", "pow": "**", "neg": "-",
              "eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">=",
              "logical_and": "and", "logical_or": "or", "logical_not": "not"}
_ASSIGNED = re.compile(r"^\s*([A-Za-z_]\w*(?:\s*,\s*[A-Za-z_]\w*)*)\s*=(?!=)")


def hover_text(analysis: Analysis, line: int, character: int) -> str | None:
    text = analysis.text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    if not 0 <= line < len(lines):
        return None
    source_line = lines[line]
    word = _word(source_line, character)
    offset = sum(len(item) + 1 for item in lines[:line]) + (word[1] if word else character)
    context = cursor_context(text, offset)
    if context.in_comment_or_string:
        return None
    parts = []
    if word is not None:
        parts.append(_word_text(analysis, context, word[0], line, source_line))
    if context.frame.in_graph or context.frame.role == "graph" or (word and _is_graph_head(source_line)):
        parts.append(shapes_markdown(analysis.graphs, analysis.path, line + 1, source_line))
    found = [part for part in parts if part]
    return "\n\n---\n\n".join(found) if found else None


def _word(line: str, character: int):
    for match in re.finditer(r"[A-Za-z_]\w*", line):
        if match.start() <= character < match.end() or (character == match.end() and character == len(line)):
            return match.group(), match.start()
    return None


def _is_graph_head(line: str) -> bool:
    return bool(re.match(r"^\s*(block|model)\s+[A-Za-z_]\w*\s*\(", line))


def _word_text(analysis: Analysis, context, word: str, line: int, source_line: str) -> str | None:
    frame = context.frame
    if frame.in_graph or frame.role == "graph":
        entry = layers.lookup(word)
        if entry is not None and re.search(rf"\b{re.escape(word)}\s*\(", source_line):
            return layer_markdown(entry)
        return _constant(analysis, word)
    if frame.role in ("top", "section"):
        found = _section_word(analysis, frame, context.prefix, word, line)
        if found is not None:
            return found
    component = _component_named(context, word)
    if component is not None:
        return component_markdown(component)
    return _constant(analysis, word)


def _section_word(analysis: Analysis, frame, prefix: str, word: str, line: int) -> str | None:
    """A section keyword, a key written in a section, or the component a section names."""
    if re.fullmatch(r"\s*", prefix):
        if word in registry.SECTIONS and (frame.role == "top") == (registry.SECTIONS[word].parent is None):
            return section_markdown(word)
        key = _entry_key(analysis, line, word)
        if key is not None or frame.role == "section":
            return _entry(analysis, frame, word, key)
    head = re.match(r"^\s*([A-Za-z_]\w*)(?:\s+[A-Za-z_]\w*\s*:)?\s*$", prefix)
    if head and head.group(1) in registry.SECTIONS:
        component = registry.lookup(registry.SECTIONS[head.group(1)].component_kind or "", word)
        if component is not None:
            return component_markdown(component)
    return None


def _constant(analysis: Analysis, word: str) -> str | None:
    resolution = analysis.result.resolution
    if resolution is None or word not in resolution.constants:
        return None
    shown, _ = explain(resolution, word)
    return f"```\n{shown}```" if shown else None


def _entry_key(analysis: Analysis, line: int, word: str) -> str | None:
    """The dotted key (``optimizer.lr``, ``train.checkpoint.keep``) of the entry written at
    ``line`` of this file, as ``specc explain`` names it."""
    resolution = analysis.result.resolution
    if resolution is None:
        return None
    for section in resolution.sections.values():
        for path, owner in [(section.key, section)] + [
            (f"{section.key}.{child.kind}", child) for child in section.children.values()
        ]:
            span = owner.key_spans.get(word)
            if span is not None and span.line == line + 1 and span.file == analysis.path:  # `extends` mixes files
                return f"{path}.{word}"
    return None


def _entry(analysis: Analysis, frame, word: str, key: str | None) -> str | None:
    parameters = section_parameters(frame.kind, frame.component) if frame.role == "section" else []
    parameter = next((item for item in parameters if item.name == word), None)
    parts = []
    if key is not None:
        shown, _ = explain(analysis.result.resolution, key)
        if shown:
            parts.append(f"```\n{shown}```")
    if parameter is not None:
        parts.append(f"`{word}`: {parameter_detail(parameter)}" + (f" — {parameter.doc}" if parameter.doc else ""))
    return "\n\n".join(parts) or None


def _component_named(context, word: str):
    """The component ``word`` names where it is written: the kind the enclosing key, list or
    call expects, else the only kind that has a component of that name."""
    frame = context.frame
    expected = frame.value_kind if frame.role in ("list", "call") else None
    key = re.match(r"^\s*([A-Za-z_]\w*)\s*=", context.prefix)
    if frame.role == "section" and key:
        parameter = next((item for item in section_parameters(frame.kind, frame.component) if item.name == key.group(1)), None)
        expected = value_kind(parameter.type) if parameter else None
    if expected and registry.lookup(expected, word):
        return registry.lookup(expected, word)
    found = [registry.lookup(kind, word) for kind in registry.COMPONENT_KINDS if registry.lookup(kind, word)]
    return found[0] if len(found) == 1 else None


# ------------------------------------------------------------------ shapes


def tensor_text(tensor) -> str:
    return f"{tensor.dtype}[{', '.join(str(dim) for dim in tensor.shape)}]"


def _origin(origin: str) -> tuple[str, int, int] | None:
    parts = origin.rsplit(":", 2)
    if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
        return None
    return parts[0], int(parts[1]), int(parts[2])


def shapes_markdown(graphs: dict, file: str, line: int, source_line: str) -> str | None:
    """The inferred types at ``line`` (1-based) of ``file``: each value computed there, once
    per distinct type over every instantiation of the block; a block's or model's header line
    shows its inputs and outputs."""
    rows: list[str] = []
    for graph in graphs.values():
        for module in graph.modules:
            where = _origin(module.origin)
            if where and where[:2] == (file, line) and module.origin and _is_graph_head(source_line):
                inputs = ", ".join(f"{name}: {tensor_text(tensor)}" for name, tensor in module.inputs)
                outputs = ", ".join(tensor_text(tensor) for _, tensor in module.outputs)
                rows.append(f"- `{module.source}({inputs}) -> {outputs}`")
            rows += _statement_rows(module, file, line, source_line)
    unique = list(dict.fromkeys(rows))
    if not unique:
        return None
    return f"**Shapes** (line {line})\n\n" + "\n".join(unique)


def _statement_rows(module, file: str, line: int, source_line: str) -> list[str]:
    here = [statement for statement in module.body if (_origin(statement.origin) or ("", 0, 0))[:2] == (file, line)]
    assigned = _ASSIGNED.match(source_line)
    rows = []
    for index, statement in enumerate(here):
        types_text = ", ".join(tensor_text(tensor) for tensor in statement.types)
        if not types_text:
            continue
        last = index == len(here) - 1
        if last and assigned and source_line.lstrip().split()[0] not in ("repeat", "for", "if", "return"):
            label = re.sub(r"\s+", "", assigned.group(1)).replace(",", ", ")
        else:
            label = _label(statement, source_line)
        rows.append(f"- `{label}`: {types_text}")
    return rows


def _label(statement, source_line: str) -> str:
    if statement.call == "op" and statement.function in ARITHMETIC:
        return f"{ARITHMETIC[statement.function]} ({statement.function})"
    if statement.call == "repeat":
        return "repeat"
    where = _origin(statement.origin)
    if where is not None:
        match = re.match(r"[A-Za-z_]\w*", source_line[where[2] - 1 :])
        if match:
            return f"{match.group()}(…)"
    return statement.function
