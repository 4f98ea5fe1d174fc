"""specc fmt: one canonical style, comments kept, idempotent, same AST."""

from __future__ import annotations

import pytest

from specc.dsl.formatter import format_source, quote
from specc.dsl.parser import parse
from tests.dsl.support import without_spans


def formatted(text: str) -> str:
    result, diagnostics = format_source(text, "t.mf")
    assert result is not None, diagnostics
    return result


def assert_round_trip(text: str) -> str:
    once = formatted(text)
    assert formatted(once) == once
    before, _ = parse(text, "t.mf")
    after, _ = parse(once, "t.mf")
    assert without_spans(after) == without_spans(before)
    return once


def test_every_spec_in_the_repository_round_trips(spec_paths):
    for path in spec_paths:
        with open(path, encoding="utf-8") as handle:
            assert_round_trip(handle.read())


def test_canonical_layout():
    text = (
        "spec  s\nlet k=4\n\n\n\ndata ksin{k=k,sizes=[1,2,3]\ncoupling=ot}\n"
        "optimizer g:adam{lr=1e-4}\nschedule constant{ }\n"
        "block b(x:[B,D],h:int=3)->([B,D],list){a,b=split(x,2)\nrepeat 2{a=f(a)}return a,[b]}\n"
        "model m=b(h=2)\nmodel n=b\n"
    )
    assert assert_round_trip(text) == (
        "spec s\nlet k = 4\n\n"
        "data ksin {\n  k = k\n  sizes = [1, 2, 3]\n  coupling = ot\n}\n"
        "optimizer g: adam {\n  lr = 1e-4\n}\nschedule constant {}\n"
        "block b(x: [B, D], h: int = 3) -> ([B, D], list) {\n  a, b = split(x, 2)\n"
        "  repeat 2 {\n    a = f(a)\n  }\n  return a, [b]\n}\n"
        "model m = b(h = 2)\nmodel n = b()\n"
    )


def test_parentheses_only_where_needed():
    cases = {
        "((a + b)) * c": "(a + b) * c",
        "a - (b - c)": "a - (b - c)",
        "(a - b) - c": "a - b - c",
        "(a ** b) ** c": "(a ** b) ** c",
        "a ** (b ** c)": "a ** b ** c",
        "(-a) ** 2": "(-a) ** 2",
        "-(a ** 2)": "-a ** 2",
        "- - a": "- -a",
        "-(-(+a))": "- - +a",
        "not (a and b)": "not (a and b)",
        "(not a) and b": "not a and b",
        "(a < b) == c": "(a < b) == c",
        "a * (not b)": "a * (not b)",
        "(a + b).c": "(a + b).c",
        "f((x))": "f(x)",
        "{a=1,b=[]}": "{ a = 1, b = [] }",
    }
    for written, canonical in cases.items():
        assert formatted(f"let x = {written}") == f"let x = {canonical}\n"
        assert_round_trip(f"let x = {written}")


@pytest.mark.parametrize("value", ['a"b', "back\\slash", "new\nline", "tab\t", "cr\r", "bell\x07", "é ✓", ""])
def test_strings_are_re_escaped_canonically(value):
    literal = quote(value)
    module, diagnostics = parse(f"let s = {literal}", "t.mf")
    assert diagnostics == [] and module.items[0].value.value == value
    assert formatted(r'let s = "\u{41}\"\\"') == 'let s = "A\\"\\\\"\n'


def test_comments_stay_in_place():
    text = """# header comment

spec s  # the name
let a = [  # opening
  1,  # one
  2,
  # before the bracket
]
data d { k = 1, j = 2 }  # after the section
train {  # train opens
  # own line
  max_steps = 1  # steps

  checkpoint { every = 1 }  # nested
  # last in train
}
model m(x: [B]) -> [B] {
  if a {
    h = x
  } else {
    # at the top of else
    h = y
  }
  return h  # done
}
# trailer
"""
    result = assert_round_trip(text)
    assert result == """# header comment

spec s  # the name
let a = [  # opening
  1,  # one
  2,
  # before the bracket
]
data d {
  k = 1
  j = 2
}  # after the section
train {  # train opens
  # own line
  max_steps = 1  # steps

  checkpoint {
    every = 1
  }  # nested
  # last in train
}
model m(x: [B]) -> [B] {
  if a {
    h = x
  } else {
    # at the top of else
    h = y
  }
  return h  # done
}
# trailer
"""


def test_blank_lines_collapse_to_one_and_never_follow_a_brace():
    text = "train {\n\n\n  a = 1\n\n\n\n  b = 2\n\n}\n\n\n\nlet c = 3\n\n\n"
    assert assert_round_trip(text) == "train {\n  a = 1\n\n  b = 2\n}\n\nlet c = 3\n"


def test_multi_line_calls_and_parameters_stay_one_per_line():
    text = "block b(\n  x: [B],\n  h: int = 2,  # width\n) -> [B] {\n  return f(\n    x, g(h,\n k = 1))\n}\n"
    assert assert_round_trip(text) == (
        "block b(\n  x: [B],\n  h: int = 2,  # width\n) -> [B] {\n"
        "  return f(\n    x,\n    g(\n      h,\n      k = 1,\n    ),\n  )\n}\n"
    )


def test_multi_line_mapping_entries_without_commas():
    text = "objective o {\n  inputs = {\n    x = data.x,  # pixels\n    y = data.y\n  }\n}\n"
    assert assert_round_trip(text) == (
        "objective o {\n  inputs = {\n    x = data.x  # pixels\n    y = data.y\n  }\n}\n"
    )


def test_a_comment_inside_a_one_line_expression_moves_before_it():
    text = "data d {\n  x = a +  # inside\n    b  # after\n  y = 2\n}\n"
    assert assert_round_trip(text) == "data d {\n  # inside\n  x = a + b  # after\n  y = 2\n}\n"


def test_text_with_errors_is_not_formatted():
    result, diagnostics = format_source("let class = 1", "t.mf")
    assert result is None and [d.code for d in diagnostics] == ["E0110"]
    result, diagnostics = format_source("let = 1", "t.mf")
    assert result is None and [d.code for d in diagnostics] == ["E0101"]
