"""Helpers shared by the dsl tests."""

from __future__ import annotations

import dataclasses

from specc.dsl.diagnostics import Span, render_text
from specc.dsl.parser import parse


def without_spans(value):
    """An AST as nested tuples with every Span left out, to compare structure only."""
    if isinstance(value, Span):
        return None
    if dataclasses.is_dataclass(value):
        fields = [
            (field.name, without_spans(getattr(value, field.name)))
            for field in dataclasses.fields(value)
            if not isinstance(getattr(value, field.name), Span)
        ]
        return (type(value).__name__, tuple(fields))
    if isinstance(value, (tuple, list)):
        return tuple(without_spans(item) for item in value)
    return value


def rendered(text: str, file: str = "t.mf") -> list[str]:
    """Every diagnostic of parsing ``text``, rendered as the user sees it."""
    _, diagnostics = parse(text, file)
    return [render_text(d, {file: text}) for d in diagnostics]


def parse_ok(text: str, file: str = "t.mf"):
    module, diagnostics = parse(text, file)
    assert diagnostics == [], [render_text(d, {file: text}) for d in diagnostics]
    return module


def value_of(text: str):
    """The AST of the expression in ``let x = <text>``."""
    return parse_ok(f"let x = {text}").items[0].value


def span(line: int, column: int, end_line: int, end_column: int, file: str = "t.mf") -> Span:
    return Span(file, line, column, end_line, end_column)
