"""What the editor features read from the text before the cursor (no server): the enclosing
section, call or graph while the spec is half typed, and what is completed there."""

from __future__ import annotations

import pytest

pytest.importorskip("lsprotocol", reason="the language server needs the `editor` extra (pygls)")

from specc.compiler.lsp.completion import complete  # noqa: E402
from specc.compiler.lsp.context import cursor_context  # noqa: E402


def _roles(text: str) -> list[tuple]:
    return [(frame.role, frame.kind, frame.callee) for frame in cursor_context(text, len(text)).frames]


def test_an_unclosed_call_ends_with_its_section():
    text = "eval {\n  sampler = rk4(\n}\noptimizer "
    assert _roles(text) == [("top", None, None)]
    assert {item.label for item in complete(text, len(text), {})} >= {"adam", "adamw", "sgd", "lion"}


def test_brackets_in_strings_and_comments_do_not_count():
    text = 'train {\n  warm_start = "{(["  # } ) ]\n  '
    assert _roles(text) == [("top", None, None), ("section", "train", None)]
    assert "max_steps" in {item.label for item in complete(text, len(text), {})}


def test_nothing_is_completed_inside_a_comment_or_a_string():
    assert complete("# optim", 7, {}) == []
    assert complete('train {\n  warm_start = "run', 25, {}) == []


def test_a_graph_header_spanning_lines_opens_a_graph():
    text = "block b(\n  x: [B, D],\n  n: int = 2,\n) -> [B, D] {\n  h = linear(x, "
    assert _roles(text) == [("top", None, None), ("graph", None, None), ("call", None, "linear")]


def test_named_sections_and_nested_calls_know_their_component():
    text = "optimizer generator: adam {\n  "
    assert [frame.component for frame in cursor_context(text, len(text)).frames] == [None, "adam"]
    text = "train {\n  penalties = [l2("
    frames = cursor_context(text, len(text)).frames
    assert [(frame.role, frame.value_kind, frame.component) for frame in frames[1:]] == [
        ("section", None, None),
        ("list", "penalty", None),
        ("call", "penalty", "l2"),
    ]
