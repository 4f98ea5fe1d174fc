"""Comparisons, `and` / `or` / `not` on bool tensors, `cast`, `where`, list indexing and `zip`
in graphs: types (shape and dtype), positioned diagnostics, the emitted forward lines, and
the numpy reference running the IR (docs/models.md "Comparisons, logic, casts and `where`",
"Lists: indexing and zip")."""

from __future__ import annotations

import numpy as np
import pytest

from specc.compiler.emit import models as emit_models

from tests.graphs.helpers import build_ok, module, rendered
from tests.graphs.interpreter import run


def _types(graph, class_name: str) -> dict:
    return {statement.targets[0]: statement.types[0] for statement in module(graph, class_name).body}


def _lines(graph, class_name: str) -> list[str]:
    view = emit_models.module_view(module(graph, class_name), "")
    return view["body"] + [f"return {view['returns']}"]


def _text(type_) -> str:
    return f"{type_.dtype}[{', '.join(str(dim) for dim in type_.shape)}]"


MASKED = """\
model m(x: f32[B, T, 8], ids: i64[B, T], pad: bool[B, T]) -> f32[B, T, 8] {
  keep = ids != 0
  both = keep and not pad or ids > 3
  weights = cast(keep, f32)
  scores = where(reshape(both, [-1, T, 1]), x, -1e9)
  chosen = where(keep, ids, 0)
  same = (ids < 2) == (ids >= 1)
  return scores * reshape(weights, [-1, T, 1])
}
"""


def test_comparisons_logic_casts_and_where_have_their_types():
    types = _types(build_ok(MASKED)["m"], "M")
    assert {name: _text(types[name]) for name in ("keep", "both", "weights", "scores", "chosen", "same")} == {
        "keep": "bool[B, T]",
        "both": "bool[B, T]",
        "weights": "f32[B, T]",
        "scores": "f32[B, T, 8]",
        "chosen": "i64[B, T]",
        "same": "bool[B, T]",
    }


def test_emitted_lines_use_python_operators_and_the_runtime_functions():
    assert _lines(build_ok(MASKED)["m"], "M") == [
        "keep = ids != 0",
        "logical_and = keep & ~pad",
        "both = logical_and | (ids > 3)",
        "weights = layers.cast(keep, dtype='f32')",
        "reshape = layers.reshape(both, from_input=((1, 1),), shape=(-1, -1, 1))",
        "scores = layers.where(reshape, x, (-1000000000.0))",
        "chosen = layers.where(keep, ids, 0)",
        "lt = ids < 2",
        "same = lt == (ids >= 1)",
        "reshape = layers.reshape(weights, from_input=((1, 1),), shape=(-1, -1, 1))",
        "return scores * reshape",
    ]


def test_the_reference_runs_the_ir_with_numpy_semantics():
    graph = build_ok(MASKED)["m"]
    generator = np.random.default_rng(0)
    ids = np.array([[0, 1, 4, 2], [3, 0, 0, 5]])
    pad = np.array([[False, True, False, False], [False, False, True, True]])
    x = generator.normal(size=(2, 4, 8))
    (output,) = run(graph, {"x": x, "ids": ids, "pad": pad}, {"B": 2, "T": 4})
    keep = ids != 0
    both = (keep & ~pad) | (ids > 3)
    expected = np.where(both[..., None], x, -1e9) * keep[..., None].astype(np.float32)
    np.testing.assert_allclose(output, expected)


def test_comparisons_of_compile_time_values_still_fold():
    text = """\
model m(x: f32[B, 4], norm: str = rms, depth: int = 3) -> f32[B, 4] {
  if norm == rms and depth > 2 and not (depth == 4) {
    x = rmsnorm(x)
  }
  return x
}
"""
    assert [statement.function for statement in module(build_ok(text)["m"], "M").body] == ["RMSNorm"]


def test_a_comparison_with_a_word_is_still_a_word_comparison():
    text = "model m(x: f32[B, 4], kind: str = relu) -> f32[B, 4] {\n  if kind != tanh { x = relu(x) }\n  return x\n}\n"
    assert [statement.function for statement in module(build_ok(text)["m"], "M").body] == ["relu"]


def test_a_bool_data_mask_gates_attention_after_a_comparison_or_a_cast():
    text = """\
model lm(tokens: i64[B, T], attn_mask: i64[B, T]) -> f32[B, T, 16] {
  h = embedding(tokens, 20, 16)
  h = attention(h, 2, causal = true, mask = attn_mask != 0)
  return attention(h, 2, mask = cast(attn_mask, bool))
}
"""
    assert _lines(build_ok(text)["lm"], "Lm")[1:3] == [
        "h = self.attention_0(h, None, attn_mask != 0)",
        "return self.attention_1(h, None, layers.cast(attn_mask, dtype='bool'))",
    ]


@pytest.mark.parametrize(
    "body, expected",
    [
        (
            "return x > y",
            "m.mf:2:10: error[E0608]: gt: shapes [B, 4] and [B, 3] do not broadcast\n  |\n2 |   return x > y\n  |          ^^^^^",
        ),
        (
            "return x and ids",
            "m.mf:2:10: error[E0617]: `and` needs bool tensors, got f32[B, 4] and i64[B, 4]\n  |\n2 |   return x and ids\n"
            "  |          ^^^^^^^^^\nhelp: compare first (`x != 0`) or `cast(x, bool)`",
        ),
        (
            "return not ids",
            "m.mf:2:10: error[E0617]: `not` needs a bool tensor, got i64[B, 4]\n  |\n2 |   return not ids\n"
            "  |          ^^^^^^^\nhelp: compare first (`x == 0`) or `cast(x, bool)`",
        ),
        (
            "return x * (ids > 0)",
            "m.mf:2:10: error[E0617]: mul: arithmetic on a bool tensor (f32[B, 4] `*` bool[B, 4]); cast it first: "
            "`cast(mask, f32)`\n  |\n2 |   return x * (ids > 0)\n  |          ^^^^^^^^^^^^^",
        ),
        (
            "return -(ids > 0)",
            "m.mf:2:10: error[E0617]: `-` on a bool tensor (bool[B, 4]); cast it first: `cast(mask, f32)`\n  |\n"
            "2 |   return -(ids > 0)\n  |          ^^^^^^^^^^",
        ),
        (
            "return cast(x, f64)",
            "m.mf:2:18: error[E0609]: cast: argument `dtype` must be one of f32, i32, i64, bool, got the word `f64`\n"
            "  |\n2 |   return cast(x, f64)\n  |                  ^^^\nhelp: did you mean `i64`?",
        ),
        (
            "return where(ids, x, 0.0)",
            "m.mf:2:16: error[E0617]: where: condition must be bool, got i64[B, 4] (compare first: `x != 0`, or "
            "`cast(x, bool)`)\n  |\n2 |   return where(ids, x, 0.0)\n  |                ^^^",
        ),
        (
            "return where(ids > 0, x, y)",
            "m.mf:2:10: error[E0608]: where: shapes [B, 4], [B, 4], [B, 3] do not broadcast\n  |\n"
            "2 |   return where(ids > 0, x, y)\n  |          ^^^^^^^^^^^^^^^^^^^^",
        ),
        (
            "return where(ids > 0, ids > 1, 0)",
            "m.mf:2:34: error[E0617]: where: cannot choose between bool and int values; cast one of them "
            "(`cast(x, f32)`)\n  |\n2 |   return where(ids > 0, ids > 1, 0)\n  |                                  ^",
        ),
        (
            "return where(ids > 0, x, [1])",
            "m.mf:2:28: error[E0609]: where: argument `b` must be a tensor or a number, got the list [1]\n  |\n"
            "2 |   return where(ids > 0, x, [1])\n  |                            ^^^",
        ),
    ],
)
def test_misuses_are_positioned_diagnostics(body, expected):
    text = f"model m(x: f32[B, 4], y: f32[B, 3], ids: i64[B, 4]) -> f32[B, 4] {{\n  {body}\n}}\n"
    assert rendered(text) == [expected]


# ------------------------------------------------------------------ lists: indexing and zip

LISTS = """\
block encoder(x: [B, T, C], channels: list = [4, 8], strides: list = [1, 2]) -> list {
  features = []
  for c, s in zip(channels, strides) {
    x = conv1d(x, c, 2 * s, stride = s, padding = s // 2)
    features = features + [x]
  }
  return features
}
model m(x: f32[B, 16, 2], widths: list = [3, 5, 7]) -> f32[B, 7, 7] {
  features = encoder(x)
  last = features[-1]
  for pair in zip(features, [widths[0], widths[-2]]) {
    h = linear(pair[0], pair[1])
  }
  return linear(last + features[len(features) - 1], widths[2])
}
"""


def test_zip_pairs_lists_for_a_for_loop_and_indexing_picks_elements():
    graph = build_ok(LISTS)["m"]
    encoder = next(m for m in graph.modules if m.name.startswith("Encoder"))
    convolutions = [dict(layer.arguments) for layer in encoder.submodules]
    assert [(c["out_channels"], c["kernel_size"], c["stride"]) for c in convolutions] == [(4, 2, 1), (8, 4, 2)]
    layers_of_m = [dict(layer.arguments) for layer in module(graph, "M").submodules if hasattr(layer, "kind") and layer.kind == "Linear"]
    assert [layer["out_features"] for layer in layers_of_m] == [3, 5, 7]
    assert [_text(type_) for _, type_ in module(graph, "M").outputs] == ["f32[B, 7, 7]"]


@pytest.mark.parametrize(
    "body, expected",
    [
        (
            "return linear(x, widths[3])",
            "m.mf:2:27: error[E0609]: index 3 is out of range for a list of 2 items (valid: 0 to 1 or -2 to -1)\n"
            "  |\n2 |   return linear(x, widths[3])\n  |                           ^",
        ),
        (
            "return linear(x, widths[-3])",
            "m.mf:2:27: error[E0609]: index -3 is out of range for a list of 2 items (valid: 0 to 1 or -2 to -1)\n"
            "  |\n2 |   return linear(x, widths[-3])\n  |                           ^^",
        ),
        (
            "return linear(x, [][0])",
            "m.mf:2:23: error[E0609]: index 0 is out of range for a list of 0 items (valid: none: the list is empty)\n"
            "  |\n2 |   return linear(x, [][0])\n  |                       ^",
        ),
        (
            "return x[0]",
            "m.mf:2:10: error[E0609]: cannot index a tensor [B, 4]: `[i]` picks an element of a list\n"
            "  |\n2 |   return x[0]\n  |          ^",
        ),
        (
            "return linear(x, widths[1.0])",
            "m.mf:2:27: error[E0609]: a list index must be an integer known at compile time, got the number 1.0\n"
            "  |\n2 |   return linear(x, widths[1.0])\n  |                           ^^^",
        ),
        (
            "for a, b in zip(widths, [1, 2, 3]) { x = x }\n  return x",
            "m.mf:2:15: error[E0609]: zip: the lists have different lengths (2, 3)\n  |\n"
            "2 |   for a, b in zip(widths, [1, 2, 3]) { x = x }\n  |               ^^^^^^^^^^^^^^^^^^^^^^\n"
            "help: zip pairs elements by position: give every list as many elements",
        ),
        (
            "for a, b in widths { x = x }\n  return x",
            "m.mf:2:15: error[E0615]: `for` cannot unpack the integer 4 into 2 names\n  |\n"
            "2 |   for a, b in widths { x = x }\n  |               ^^^^^^",
        ),
        (
            "for a, b, c in zip(widths, widths) { x = x }\n  return x",
            "m.mf:2:18: error[E0615]: `for` cannot unpack 2 values into 3 names\n  |\n"
            "2 |   for a, b, c in zip(widths, widths) { x = x }\n  |                  ^^^^^^^^^^^^^^^^^^^",
        ),
        (
            "for a in zip(widths, 3) { x = x }\n  return x",
            "m.mf:2:24: error[E0609]: zip: needs lists, got the integer 3\n  |\n"
            "2 |   for a in zip(widths, 3) { x = x }\n  |                        ^",
        ),
        (
            "for a, n in zip(widths, widths) { x = x }\n  return x",
            "m.mf:2:3: error[E0605]: the loop variable `n` hides a hyperparameter of the same name\n  |\n"
            "2 |   for a, n in zip(widths, widths) { x = x }\n  |   ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^",
        ),
    ],
)
def test_list_misuses_are_positioned_diagnostics(body, expected):
    text = f"model m(x: f32[B, 4], widths: list = [4, 8], n: int = 2) -> f32[B, 4] {{\n  {body}\n}}\n"
    assert rendered(text) == [expected]


def test_an_unused_block_may_use_the_compile_time_functions_and_the_new_names():
    text = """\
block unused(x: [B, 4], cs: list = [1, 2]) -> [B, 4] {
  for c, s in zip(cs, cs) { x = x * c }
  for i in range(len(cs)) { x = x + cs[i] + min(cs) }
  return where(x > 0, x, 0.0) + cast(x != 0, f32) + listed(x)[0]
}
block listed(x: [B, 4]) -> list { return [x] }
block typo(x: [B, 4]) -> [B, 4] { return zpi(x) }
model m(x: f32[B, 4]) -> f32[B, 4] { return x }
"""
    assert rendered(text) == [
        "m.mf:7:42: error[E0601]: unknown layer or block `zpi`\n  |\n"
        "7 | block typo(x: [B, 4]) -> [B, 4] { return zpi(x) }\n  |                                          ^^^\n"
        "help: did you mean `zip`?"
    ]
