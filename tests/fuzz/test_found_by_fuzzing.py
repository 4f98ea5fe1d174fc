"""Inputs the fuzzer found that crashed the front end, each reduced to a few lines: they are
diagnostics now, with these exact messages (tests/fuzz/test_front_end.py keeps looking)."""

from __future__ import annotations

import pytest
from specc.compiler.pipeline import check
from specc.dsl.formatter import format_source
from specc.dsl.parser import parse


def diagnostics_of(text: str, **options) -> list[str]:
    data = text.encode()
    result = check("f.mf", lambda path: data, library_ok=True, **options)
    return [f"{d.code} {d.span.line}:{d.span.column} {d.message}" for d in result.diagnostics if d.code != "E0405"]


@pytest.mark.parametrize("value, found", [("{}", "mapping"), ("{ kind = euler }", "mapping"), ("3", "int"),
                                          ('"euler"', "string"), ("[euler]", "list")])
def test_a_component_written_as_another_kind_of_value_is_one_diagnostic(value, found):
    """`eval { sampler = {} }` passed validation as a component and then raised KeyError
    'kind' in the backend checks (lint without --backend)."""
    text = f"spec f\neval {{ sampler = {value} }}\n"
    expected = [f"E0402 2:18 `sampler` expects a sampler (a name or a call), found {found}"]
    assert diagnostics_of(text, backend_warnings=True) == expected
    assert diagnostics_of(text, backend="jax") == expected


def test_a_list_of_components_with_a_mapping_in_it_is_one_diagnostic():
    text = "spec f\neval { metrics = [accuracy, {}] }\n"
    assert diagnostics_of(text, backend_warnings=True) == [
        "E0402 2:29 `metrics` expects a metric (a name or a call), found mapping"
    ]


def test_a_flat_sum_of_ten_thousand_terms_formats_without_recursion():
    """The formatter recursed once per operator: a flat `1 + 1 + ...` (a left-deep tree,
    which the parser accepts however long) ended in RecursionError."""
    text = "spec s\nlet total = " + " + ".join(["1"] * 10_000) + "  # many\n"
    module, diagnostics = parse(text, "s.mf")
    if module is None:  # the parser of this tree still caps the chain (E0105)
        assert [d.code for d in diagnostics] == ["E0105"]
        return
    formatted, _ = format_source(text, "s.mf")
    assert formatted == text


DIGITS = (
    "spec d\ndata digits {{ batch_size = 64 }}\n{blocks}"
    "model mlp(x: f32[B, 64]) -> f32[B, 10] {{\n{body}  return linear(x, 10)\n}}\n"
    "objective classification {{ model = mlp, target = data.y, inputs = {{ x = data.x }} }}\n"
    "optimizer adam {{ lr = 1e-3 }}\ntrain {{ max_steps = 10 }}\n"
)


def test_nested_repeats_that_multiply_past_the_limit_are_one_diagnostic():
    """`repeat 2` nested 17 deep took seconds, 30 deep did not finish (2 ** 30 instances
    enumerated for the parameter names)."""
    body = "  repeat 2 {\n" * 30 + "  x = relu(linear(x, 64))\n" + "  }\n" * 30
    assert diagnostics_of(DIGITS.format(blocks="", body=body)) == [
        "E0611 3:7 model `mlp` has 3,221,225,471 layer, block and repetition instances, more than the limit of 100,000"
    ]


def test_nested_for_loops_that_multiply_past_the_limit_are_one_diagnostic():
    """Each `for` unrolls its body: three nested loops over range(40) made 64,000 layers."""
    body = "  for i in range(40) {\n" * 3 + "  x = linear(x, 64)\n" + "  }\n" * 3
    assert diagnostics_of(DIGITS.format(blocks="", body=body)) == [
        "E0611 6:3 nested `for` loops run this body 64,000 times, more than the limit of 10,000"
    ]


def test_blocks_nested_two_hundred_deep_are_one_diagnostic():
    """Each block calling the one before: 200 of them ended in RecursionError."""
    blocks = "block b0(x: [B, D]) -> [B, D] {\n  return relu(x)\n}\n" + "".join(
        f"block b{index}(x: [B, D]) -> [B, D] {{\n  return b{index - 1}(x)\n}}\n" for index in range(1, 200)
    )
    assert diagnostics_of(DIGITS.format(blocks=blocks, body="  x = b199(x)\n")) == [
        "E0607 457:10 blocks nested more than 50 deep: mlp -> b199 -> ... -> b152 -> b151 -> b150"
    ]


@pytest.mark.parametrize("body", ["  repeat 6 {\n  }\n", "  repeat 2 {\n    y = relu(x)\n  }\n"])
def test_a_repeat_that_carries_no_tensor_is_one_diagnostic(body):
    """`repeat 6 { }` (a mutation of specs/ksin_flow.mf) checked, then every backend rendered
    a class with an empty forward: EmitError "generated code does not parse"."""
    assert diagnostics_of(DIGITS.format(blocks="", body=body), backend="jax") == [
        "E0616 4:3 repeat: the body carries no tensor from one repetition to the next, so it has no effect"
    ]


def test_a_chain_of_five_thousand_lets_folds_without_recursion():
    """`let a1 = a0 + 1`, `let a2 = a1 + 1`, ...: folding `a1999` folded `a1998` first, one
    Python frame per link, and a 2,000-link chain ended in RecursionError."""
    lets = "let a0 = 1\n" + "".join(f"let a{index} = a{index - 1} + 1\n" for index in range(1, 5000))
    text = DIGITS.format(blocks=lets, body="").replace("max_steps = 10", "max_steps = a4999")
    result = check("f.mf", lambda path: text.encode(), library_ok=True)
    assert [d for d in result.diagnostics if d.severity == "error"] == []
    assert result.program.train.max_steps == 5000


def test_a_let_cycle_is_still_reported_once():
    text = DIGITS.format(blocks="let a = b + 1\nlet b = a + 1\n", body="").replace("max_steps = 10", "max_steps = a")
    assert [d.split(" ", 2)[0] for d in diagnostics_of(text)] == ["E0304"]
