"""Parse a spec text and lower its models, for the graph tests."""

from __future__ import annotations

from specc.dsl.diagnostics import render_text, sort_diagnostics
from specc.compiler.graphs.build import build_models
from specc.dsl.parser import parse

FILE = "m.mf"


def build(text: str, constants=None):
    module, syntax = parse(text, FILE)
    assert not syntax, [d.message for d in syntax]
    diagnostics = []
    graphs = build_models([module], constants or {}, diagnostics)
    return graphs, sort_diagnostics(diagnostics)


def build_ok(text: str, constants=None):
    graphs, diagnostics = build(text, constants)
    assert not diagnostics, [render_text(d, {FILE: text}) for d in diagnostics]
    return graphs


def rendered(text: str, constants=None) -> list[str]:
    _, diagnostics = build(text, constants)
    return [render_text(d, {FILE: text}) for d in diagnostics]


def module(graph, name):
    return next(m for m in graph.modules if m.name == name)


def parameter_table(graph) -> dict:
    return {name: (p.shape, p.init, p.fan_in) for name, p in graph.parameters}
