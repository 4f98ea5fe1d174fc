"""List indexing `l[i]` and `for a, b in zip(...)` in the grammar: parsed with positions,
formatted back unchanged (idempotent), with the parentheses an indexed expression needs."""

from __future__ import annotations

from specc.dsl import ast
from specc.dsl.formatter import format_source
from specc.dsl.parser import parse

SOURCE = """\
block encoder(x: [B, T, C], channels: list = [4, 8], strides: list = [1, 2]) -> list {
  features = []
  for c, s in zip(channels, strides) {
    x = conv1d(x, c, 2 * s, stride = s)
    features = features + [x]
  }
  last = features[-1]
  first = [1, 2][0] + (channels + strides)[len(channels) - 1]
  return features
}
"""


def _statements():
    module, diagnostics = parse(SOURCE, "m.mf")
    assert diagnostics == []
    return module.items[0].body


def test_for_takes_several_names_and_indexing_is_a_node_with_a_span():
    loop, last, first = _statements()[1:4]
    assert isinstance(loop, ast.For) and loop.variables == ("c", "s") and loop.variable == "c"
    assert isinstance(loop.iterable, ast.Call) and loop.iterable.function == "zip"
    index = last.value
    assert isinstance(index, ast.Index) and index.base == ast.Name(index.base.span, "features")
    assert (index.span.line, index.span.column, index.span.end_column) == (7, 10, 22)
    assert isinstance(index.index, ast.UnaryOp) and (index.index.span.column, index.index.span.end_column) == (19, 21)
    left = first.value.left
    assert isinstance(left, ast.Index) and isinstance(left.base, ast.List)
    right = first.value.right
    assert isinstance(right.base, ast.BinaryOp) and isinstance(right.index, ast.BinaryOp)


def test_a_single_loop_name_has_one_variable():
    module, _ = parse("block b(x: [B, 4]) -> [B, 4] {\n  for w in [1, 2] { x = x * w }\n  return x\n}\n", "m.mf")
    assert module.items[0].body[0].variables == ("w",)


def test_formatting_keeps_indexing_and_zip_and_is_idempotent():
    formatted, diagnostics = format_source(SOURCE, "m.mf")
    assert diagnostics == []
    assert formatted == SOURCE
    assert format_source(formatted, "m.mf")[0] == formatted


def test_formatting_normalises_spacing_of_indexing_and_loop_names():
    text = "block b(x: [B, 4], l: list = [1, 2]) -> [B, 4] {\n  for a ,b   in zip( l , l ) { x = x * l [ -1 ] }\n  return x\n}\n"
    formatted, diagnostics = format_source(text, "m.mf")
    assert diagnostics == []
    assert formatted.splitlines()[1:4] == ["  for a, b in zip(l, l) {", "    x = x * l[-1]", "  }"]


def test_an_index_needs_an_expression():
    _, diagnostics = parse("block b(x: [B, 4], l: list = [1]) -> [B, 4] {\n  y = l[]\n  return x\n}\n", "m.mf")
    assert [(d.code, d.span.line, d.span.column) for d in diagnostics] == [("E0101", 2, 9)]
