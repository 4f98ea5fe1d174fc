"""Every E06xx diagnostic: exact rendered text (position, caret, help)."""

import pytest

from tests.graphs.helpers import build, rendered

CASES = [
    pytest.param(
        "model m(x: f32[B, 4]) -> f32[B, 4] {\n  return lineer(x, 4)\n}\n",
        "m.mf:2:10: error[E0601]: unknown layer or block `lineer`\n  |\n2 |   return lineer(x, 4)\n  |          ^^^^^^\nhelp: did you mean `linear`?",
        id="E0601",
    ),
    pytest.param(
        "model m(x: f32[B, 4]) -> f32[B, 4] {\n  return linear(x, 4, biass = false)\n}\n",
        "m.mf:2:23: error[E0602]: linear has no argument `biass`\n  |\n2 |   return linear(x, 4, biass = false)\n  |                       ^^^^^^^^^^^^^\nhelp: did you mean `bias`?",
        id="E0602",
    ),
    pytest.param(
        "model m(x: f32[B, 4]) -> f32[B, 4] {\n  return linear(x)\n}\n",
        "m.mf:2:10: error[E0602]: linear: missing argument `out`\n  |\n2 |   return linear(x)\n  |          ^^^^^^^^^",
        id="E0602b",
    ),
    pytest.param(
        "model m(x: f32[B, 4]) -> f32[B, 4] {\n  return gelu(x, tanh, 3)\n}\n",
        "m.mf:2:24: error[E0602]: gelu takes at most 2 arguments (x, approximate), got 3\n  |\n2 |   return gelu(x, tanh, 3)\n  |                        ^",
        id="E0602c",
    ),
    pytest.param(
        "model m(x: f32[B, 4]) -> f32[B, 4] {\n  return linear(y, 4)\n}\n",
        "m.mf:2:17: error[E0603]: undefined name `y`\n  |\n2 |   return linear(y, 4)\n  |                 ^",
        id="E0603",
    ),
    pytest.param(
        "model m(x: f32[B, kk]) -> f32[B, 4] {\n  return x\n}\n",
        "m.mf:1:19: error[E0603]: undefined dimension `kk`\n  |\n1 | model m(x: f32[B, kk]) -> f32[B, 4] {\n  |                   ^^\nhelp: did you mean `k`?\nnote: names of run-time axes start with an upper-case letter (`B`, `T`)",
        id="E0603b",
    ),
    pytest.param(
        "model m(x: f32[B, 4]) -> f32[B, 4] {\n  h = g + x\n  g = x\n  return h\n}\n",
        "m.mf:2:7: error[E0604]: `g` is used before it is assigned\n  |\n2 |   h = g + x\n  |       ^",
        id="E0604",
    ),
    pytest.param(
        "block b(x: [B, D], n: int = 2) -> [B, D] {\n  n = x\n  return x\n}\nmodel m(x: f32[B, 4]) -> f32[B, 4] {\n  return b(x)\n}\n",
        "m.mf:2:3: error[E0605]: cannot assign to the hyperparameter `n`\n  |\n2 |   n = x\n  |   ^\nhelp: hyperparameters, dimensions and loop variables are fixed at compile time; use a new name",
        id="E0605",
    ),
    pytest.param(
        "block b(x: [B, D]) -> [B, D] { return x }\nblock b(x: [B, D]) -> [B, D] { return x }\n",
        "m.mf:2:7: error[E0606]: block `b` is defined twice\n  |\n2 | block b(x: [B, D]) -> [B, D] { return x }\n  |       ^\nnote: first defined at m.mf:1:1",
        id="E0606",
    ),
    pytest.param(
        "block a(x: [B, D]) -> [B, D] { return a(x) }\nmodel m(x: f32[B, 4]) -> f32[B, 4] { return a(x) }\n",
        "m.mf:1:39: error[E0607]: recursive block `a`: a -> a\n  |\n1 | block a(x: [B, D]) -> [B, D] { return a(x) }\n  |                                       ^^^^\nhelp: blocks cannot call themselves, directly or through other blocks",
        id="E0607",
    ),
    pytest.param(
        "model m(x: f32[B, 512], c: f32[B, 256]) -> f32[B, 512] {\n  return x + c\n}\n",
        "m.mf:2:10: error[E0608]: add: shapes [B, 512] and [B, 256] do not broadcast\n  |\n2 |   return x + c\n  |          ^^^^^",
        id="E0608",
    ),
    pytest.param(
        "block film(x: [B, D], c: [B, D]) -> [B, D] { return x * c }\nmodel m(x: f32[B, 512], c: f32[B, 256]) -> f32[B, 512] {\n  return film(x, c)\n}\n",
        "m.mf:3:18: error[E0608]: film: argument `c` has shape [B, 256], expected [B, 512] (`c: [B, D]`)\n  |\n3 |   return film(x, c)\n  |                  ^",
        id="E0608b",
    ),
    pytest.param(
        "model m(x: f32[B, T]) -> f32[B, T] {\n  return linear(x, T)\n}\n",
        "m.mf:2:20: error[E0609]: linear: argument `out` must be an integer, got the run-time size `T`\n  |\n2 |   return linear(x, T)\n  |                    ^",
        id="E0609",
    ),
    pytest.param(
        "model m(x: f32[B, 4]) -> f32[B, 4] {\n  return linear(x, 4 / 2)\n}\n",
        "m.mf:2:20: error[E0609]: linear: argument `out` must be an integer, got the number 2.0\n  |\n2 |   return linear(x, 4 / 2)\n  |                    ^^^^^",
        id="E0609b",
    ),
    pytest.param(
        "model m(x: f32[B, 10]) -> f32[B, 10] {\n  a, b, c = split(x, 3)\n  return x\n}\n",
        "m.mf:2:13: error[E0610]: split: axis -1 of [B, 10] is not divisible into 3 equal parts\n  |\n2 |   a, b, c = split(x, 3)\n  |             ^^^^^^^^^^^",
        id="E0610",
    ),
    pytest.param(
        "model m(x: f32[B, 4], n: int = 0) -> f32[B, 4] {\n  repeat n { x = gelu(x) }\n  return x\n}\n",
        "m.mf:2:10: error[E0611]: `repeat` needs a positive integer known at compile time, got the integer 0\n  |\n2 |   repeat n { x = gelu(x) }\n  |          ^",
        id="E0611",
    ),
    pytest.param(
        "model m(x: f32[B, 4]) -> f32[B, 4] {\n  if x { x = gelu(x) }\n  return x\n}\n",
        "m.mf:2:6: error[E0612]: the condition of `if` must be a boolean known at compile time, got a tensor [B, 4]\n  |\n2 |   if x { x = gelu(x) }\n  |      ^",
        id="E0612",
    ),
    pytest.param(
        "model m(x: f32[B, 4]) -> f32[B, 4] {\n  h = gelu(x)\n}\n",
        "m.mf:1:7: error[E0613]: `m` has no `return`\n  |\n1 | model m(x: f32[B, 4]) -> f32[B, 4] {\n  |       ^",
        id="E0613",
    ),
    pytest.param(
        "model m(x: f32[B, 4]) -> f32[B, 4] {\n  return x\n  h = gelu(x)\n}\n",
        "m.mf:3:3: error[E0613]: unreachable statement after `return`\n  |\n3 |   h = gelu(x)\n  |   ^^^^^^^^^^^",
        id="E0613b",
    ),
    pytest.param(
        "block b(x: [B, D]) -> [B, D] {\n  return linear(x, 2 * D)\n}\nmodel m(x: f32[B, 4]) -> f32[B, 4] { return b(x) }\n",
        "m.mf:2:10: error[E0614]: return: `linear(x, 2 * D)` is f32[B, 8], but `b` declares f32[B, 4] (`[B, D]`)\n  |\n2 |   return linear(x, 2 * D)\n  |          ^^^^^^^^^^^^^^^^",
        id="E0614",
    ),
    pytest.param(
        "model m(x: f32[B, 4]) -> f32[B, 4] {\n  a, b = split(x, 4)\n  return a\n}\n",
        "m.mf:2:3: error[E0615]: cannot unpack 4 values into 2 names\n  |\n2 |   a, b = split(x, 4)\n  |   ^^^^^^^^^^^^^^^^^^",
        id="E0615",
    ),
    pytest.param(
        "model m(x: f32[B, 4]) -> f32[B, 4] {\n  repeat 2 { x = linear(x, 8) }\n  return x\n}\n",
        "m.mf:2:3: error[E0616]: repeat: the body changes `x` from [B, 4] to [B, 8]; each repetition must give back the shapes it receives\n  |\n2 |   repeat 2 { x = linear(x, 8) }\n  |   ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^",
        id="E0616",
    ),
    pytest.param(
        "model m(ids: f32[B, T]) -> f32[B, T, 8] {\n  return embedding(ids, 10, 8)\n}\n",
        "m.mf:2:20: error[E0617]: embedding: ids must be integers (i32 or i64), got f32[B, T]\n  |\n2 |   return embedding(ids, 10, 8)\n  |                    ^^^",
        id="E0617",
    ),
]


@pytest.mark.parametrize("text, expected", CASES)
def test_diagnostic_text(text, expected):
    assert rendered(text, {"k": 4}) == [expected]

SEVERAL = """\
block film(x: [B, D], c: [B, C]) -> [B, D] {
  return x * linear(c, D) + undefined_thing
}
model broken(x: f32[B, 8], c: f32[B, 3]) -> f32[B, 8] {
  a = lineer(x, 4)
  b = a + x
  h = film(x, c)
  return conv1d(h, 4, 3)
}
model fine(x: f32[B, 8]) -> f32[B, 2] {
  return linear(x, 2)
}
"""


def test_all_errors_at_once_and_no_cascades():
    graphs, diagnostics = build(SEVERAL)
    assert [(d.code, d.span.line, d.span.column) for d in diagnostics] == [
        ("E0603", 2, 29),  # inside the block, reported once
        ("E0601", 5, 7),  # `b = a + x` uses the failed `a`, `conv1d(h, ...)` the failed block call: no more errors
    ]
    assert sorted(graphs) == ["fine"]


RECURSIVE_PAIR = """\
block ping(x: [B, D]) -> [B, D] { return pong(x) }
block pong(x: [B, D]) -> [B, D] { return ping(x) }
model m = ping
"""


def test_mutual_recursion_is_a_diagnostic():
    graphs, diagnostics = build(RECURSIVE_PAIR)
    assert graphs == {}
    assert [(d.code, d.message) for d in diagnostics] == [("E0607", "recursive block `ping`: ping -> pong -> ping")]


@pytest.mark.parametrize(
    "text, code",
    [
        ("block linear(x: [B, D]) -> [B, D] { return x }\n", "E0606"),
        ("block b(x: [B, D], x: [B, D]) -> [B, D] { return x }\n", "E0606"),
        ("model m(x: f32[B, 4]) -> f32[B, 4] { return x }\nmodel m(x: f32[B, 4]) -> f32[B, 4] { return x }\n", "E0606"),
        ("model m = nothing(a = 1)\n", "E0601"),
        ("block b(x: [B, D], n: int = 1) -> [B, D] { return x }\nmodel m = b(x = 3)\n", "E0609"),
        ("model m(x: f32[B, 4], n: int) -> f32[B, 4] { return x }\n", "E0602"),
        ("model m(x: f32[B, 4]) -> f32[B, 4] { repeat 2 { return x } }\n", "E0613"),
        ("model m(x: f32[B, 4]) -> f32[B, 4] { for p in 3 { x = gelu(x) } return x }\n", "E0612"),
        ("model m(x: f32[B, 4]) -> f32[B, 4] { for p in [1] { p = x } return x }\n", "E0605"),
        ("model m(self: f32[B, 4]) -> f32[B, 4] { return self }\n", "E0605"),
        ("model m(x: f32[B, 4]) -> f32[B, 4] { return concat([x, 1]) }\n", "E0609"),
        ("model m(x: f32[B, 4]) -> f32[B, 4] { return x + [1, 2] }\n", "E0609"),
        ("model m(x: f32[B, 4]) -> f32[B, 4] { return x > 1 }\n", "E0614"),  # a bool tensor
        ("model m(x: f32[B, 4]) -> f32[B, 4] { return x and x }\n", "E0617"),
        ("model m(x: f32[B, 4]) -> f32[B, 4] { return linear(x, 4) / (2 // 0) }\n", "E0609"),
        ("model m(x: f32[B, 4]) -> f32[B, 4] { return conv1d(x, 4, 3, padding_mode = mirror) }\n", "E0609"),
        ("model m(x: f32[B, 4]) -> f32[B, 4] { return attention(reshape(x, [-1, 2, 2]), 3) }\n", "E0610"),
        ("model m(x: f32[B, 4]) -> f32[B, 4] { return reshape(x, [-1, 3]) }\n", "E0608"),
        ("model m(x: f32[B, 2, 4]) -> f32[B, 2, 4] { return attention(x, 2, context = x * 1 + [1, 2]) }\n", "E0609"),
        ("model m(x: f32[B, 2, 4], c: f32[B, 8]) -> f32[B, 2, 4] { return attention(x, 2, context = c) }\n", "E0608"),
        ("model m(x: f32[B, 4]) -> f32[B, 4] { return x, x }\n", "E0614"),
        ("model m(x: f32[B, 4]) -> f32[B, 0] { return x }\n", "E0609"),
        ("model m(x: f32[B, 4]) -> (f32[B, 4], list) { return x, x }\n", "E0614"),
        ("model m(x: f32[B, 4]) -> f32[B, 4] { a = data.missing\n return x }\n", "E0603"),
        ("model m(x: f64[B, 4]) -> f32[B, 4] { return x }\n", "E0617"),
        ("block b(x: [B, 2 * D]) -> [B, 2 * D] { return x }\nmodel m(x: f32[B, 4]) -> f32[B, 4] { return b(x) }\n",
         "E0603"),
        ("model m(x: f32[B, 4]) -> f32[B, 4] { for i in range(1, 2, 3, 4) { x = x } return x }\n", "E0602"),
        ("model m(x: f32[B, 4]) -> f32[B, 4] { for i in range(0.5) { x = x } return x }\n", "E0609"),
        ("model m(x: f32[B, 4]) -> f32[B, 4] { return linear(x, len(3)) }\n", "E0609"),
        ("model m(x: f32[B, 4]) -> f32[B, 4] { return linear(x, max([])) }\n", "E0609"),
        ("block b(x: f16[B, D]) -> [B, D] { return x }\nmodel m(x: f32[B, 4]) -> f32[B, 4] { return b(x) }\n", "E0617"),
    ],
)
def test_codes_of_other_mistakes(text, code):
    graphs, diagnostics = build(text)
    assert [d.code for d in diagnostics] == [code], [d.message for d in diagnostics]
    assert graphs == {}


UNUSED = """\
block library(x: [B, D]) -> [B, D] {
  h = linnear(x, D)
  return helper(h, widht = 3)
}
block helper(x: [B, D], width: int = 2) -> [B, D] { return x }
block used(x: [B, D]) -> [B, D] { return x }
model m(x: f32[B, 4]) -> f32[B, 4] { return used(x) }
"""


def test_unused_blocks_get_the_checks_that_need_no_shapes():
    graphs, diagnostics = build(UNUSED)
    assert sorted(graphs) == ["m"]
    assert [(d.code, d.message, d.help) for d in diagnostics] == [
        ("E0601", "unknown layer or block `linnear`", "did you mean `linear`?"),
        ("E0602", "helper has no argument `widht`", "did you mean `width`?"),
    ]


def test_mutated_specs_never_raise():
    """Replace, delete and swap tokens of the test specs: lowering reports, never raises."""
    import random
    import re

    from specc.compiler.graphs.build import build_models
    from specc.dsl.parser import parse

    from tests.graphs import test_models, test_reference_shapes

    sources = [test_models.KSIN, test_models.MULTI, test_models.INSTANCE, test_models.NESTED, test_models.CHOICES,
               test_reference_shapes.EVERY_LAYER, SEVERAL, UNUSED]
    words = ["x", "h", "B", "T", "D", "k", "linear", "split", "0", "-1", "1.5", "true", "[1, 2]", "[]", "reflect",
             "same", "c", "feats", "list", "int", "i64", "1e9", "data.k", '"s"', "x + 1", "[x, x]", "act", "cell"]
    generator = random.Random(0)
    lowered = 0
    for _ in range(300):
        tokens = re.split(r"(\W)", generator.choice(sources))
        for _ in range(generator.randint(1, 3)):
            index = generator.randrange(len(tokens))
            if re.match(r"\w", tokens[index]):
                tokens[index] = generator.choice(words)
        if generator.random() < 0.3:
            del tokens[generator.randrange(len(tokens))]
        module, _ = parse("".join(tokens), "f.mf")
        if module is not None:
            build_models([module], {"k": 4, "data.k": 4}, [])
            lowered += 1
    assert lowered > 100


def test_repeat_bodies_carry_only_tensors():
    text = "model m(x: f32[B, 4]) -> f32[B, 4] {\n  feats = [x]\n  repeat 2 { x = gelu(x)\n feats = feats + [x] }\n  return x\n}\n"
    _, diagnostics = build(text)
    assert [(d.code, d.message) for d in diagnostics] == [
        ("E0616", "repeat: the body assigns `feats`, which is a list of 1 tensor; a repeat body can only carry "
                  "tensors from one repetition to the next")]
