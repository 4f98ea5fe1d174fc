"""Every construct of the language parses to the AST documented in dsl/ast.py, with spans."""

from __future__ import annotations

import pytest

from specc.dsl import ast
from tests.dsl.support import parse_ok, span, value_of


def test_header_lines_and_let():
    module = parse_ok('spec ksin_flow\nlanguage 1\nimport "blocks.mf"\nimport "std/mlp.mf"\nlet k = 4\n')
    assert module.spec_name == "ksin_flow"
    assert module.spec_span == span(1, 1, 1, 15)
    assert module.language == 1
    assert module.language_span == span(2, 1, 2, 11)
    assert [i.path for i in module.imports] == ["blocks.mf", "std/mlp.mf"]
    assert module.imports[0].span == span(3, 1, 3, 19)
    (let,) = module.items
    assert (let.name, let.value.value) == ("k", 4)
    assert let.span == span(5, 1, 5, 10)
    assert let.name_span == span(5, 5, 5, 6)
    assert module.span == span(1, 1, 6, 1)


def test_module_without_header():
    module = parse_ok("let a = 1")
    assert (module.spec_name, module.language, module.imports) == (None, None, ())


@pytest.mark.parametrize(
    "text, kind, name, component",
    [
        ("data ksin { k = 1 }", "data", None, "ksin"),
        ("optimizer generator: adam { lr = 1 }", "optimizer", "generator", "adam"),
        ("train { max_steps = 1 }", "train", None, None),
        ("model_group small: { x = 1 }", "model_group", "small", None),
        ("schedule constant {}", "schedule", None, "constant"),
    ],
)
def test_section_heads(text, kind, name, component):
    (section,) = parse_ok(text).items
    assert (section.kind, section.name, section.component) == (kind, name, component)


def test_section_spans_entries_and_nesting():
    text = "train {\n  max_steps = 400_000\n  checkpoint { every = 5000, keep = 3 mode = min }\n}"
    (train,) = parse_ok(text).items
    assert train.span == span(1, 1, 4, 2)
    assert train.component_span is None
    entry, checkpoint = train.body
    assert (entry.key, entry.value.value, entry.value.text) == ("max_steps", 400000, "400_000")
    assert entry.key_span == span(2, 3, 2, 12)
    assert entry.span == span(2, 3, 2, 22)
    assert checkpoint.kind == "checkpoint"
    assert [(e.key, e.value) for e in checkpoint.body][2][1].name == "min"
    assert [e.key for e in checkpoint.body] == ["every", "keep", "mode"]
    assert checkpoint.span == span(3, 3, 3, 51)


def test_component_span():
    (section,) = parse_ok("optimizer generator: adam {}").items
    assert section.component_span == span(1, 22, 1, 26)


def test_keywords_are_names_where_a_name_is_expected():
    (objective,) = parse_ok("objective classification { model = mlp, spec = 1, language = 2 }").items
    assert [e.key for e in objective.body] == ["model", "spec", "language"]
    (let,) = parse_ok("let repeat = block").items
    assert let.name == "repeat" and let.value.name == "block"


@pytest.mark.parametrize(
    "text, value, kind",
    [
        ("100_000", 100000, int),
        ("7", 7, int),
        ("1e-4", 1e-4, float),
        ("2.5", 2.5, float),
        ("1_000.000_5", 1000.0005, float),
        ("3E+2", 300.0, float),
        ("12345678901234567890", 12345678901234567890, int),
    ],
)
def test_numbers(text, value, kind):
    number = value_of(text)
    assert isinstance(number, ast.Number)
    assert number.value == value and type(number.value) is kind and number.text == text


@pytest.mark.parametrize(
    "text, value",
    [
        (r'"val/loss"', "val/loss"),
        (r'"say \"hi\""', 'say "hi"'),
        (r'"a\\b"', "a\\b"),
        (r'"line\nnext\ttab\rcr"', "line\nnext\ttab\rcr"),
        (r'"\u{41}\u{1F600}"', "A\U0001f600"),
        ('"héllo ✓"', "héllo ✓"),
        ('""', ""),
    ],
)
def test_strings(text, value):
    string = value_of(text)
    assert isinstance(string, ast.String) and string.value == value


def test_bools_names_lists_mappings_attributes():
    assert value_of("true") == ast.Bool(span(1, 9, 1, 13), True)
    assert value_of("false").value is False
    assert value_of("ot") == ast.Name(span(1, 9, 1, 11), "ot")
    items = value_of("[1, 2.0, ot,]").items
    assert [type(i) for i in items] == [ast.Number, ast.Number, ast.Name]
    assert value_of("[]").items == ()
    mapping = value_of("{ signal = data.signal, x = data.x }")
    assert [e.key for e in mapping.entries] == ["signal", "x"]
    attribute = mapping.entries[0].value
    assert attribute == ast.Attribute(span(1, 20, 1, 31), ast.Name(span(1, 20, 1, 24), "data"), "signal")
    assert value_of("{}").entries == ()
    nested = value_of("a.b.c")
    assert nested.name == "c" and nested.base.name == "b" and nested.base.base.name == "a"


def test_calls_with_positional_and_keyword_arguments():
    call = value_of("chamfer(x, 2, params_per_token = 2, scale = -1)")
    assert call.function == "chamfer"
    assert call.function_span == span(1, 9, 1, 16)
    assert [a.name for a in call.args[:1]] == ["x"]
    assert [(k.name, type(k.value)) for k in call.kwargs] == [
        ("params_per_token", ast.Number),
        ("scale", ast.UnaryOp),
    ]
    assert call.kwargs[0].span == span(1, 23, 1, 43)
    assert value_of("uniform()").args == ()


@pytest.mark.parametrize(
    "text, shape",
    [
        ("1 + 2 * 3", ("+", 1, ("*", 2, 3))),
        ("(1 + 2) * 3", ("*", ("+", 1, 2), 3)),
        ("1 - 2 - 3", ("-", ("-", 1, 2), 3)),
        ("2 ** 3 ** 2", ("**", 2, ("**", 3, 2))),
        ("-2 ** 2", ("u-", ("**", 2, 2))),
        ("-2 * 3", ("*", ("u-", 2), 3)),
        ("2 ** -1", ("**", 2, ("u-", 1))),
        ("7 // 2 % 3", ("%", ("//", 7, 2), 3)),
        ("1 / 2", ("/", 1, 2)),
        (
            "not 1 == 2 and 3 < 4 or 5 >= 6",
            ("or", ("and", ("unot", ("==", 1, 2)), ("<", 3, 4)), (">=", 5, 6)),
        ),
        ("1 != 2", ("!=", 1, 2)),
        ("1 <= 2", ("<=", 1, 2)),
        ("1 > 2", (">", 1, 2)),
        ("not not 1", ("unot", ("unot", 1))),
        ("not -1", ("unot", ("u-", 1))),
        ("+1", ("u+", 1)),
        ("- -1", ("u-", ("u-", 1))),
    ],
)
def test_operator_precedence(text, shape):
    def tree(node):
        if isinstance(node, ast.BinaryOp):
            return (node.op, tree(node.left), tree(node.right))
        if isinstance(node, ast.UnaryOp):
            return ("u" + node.op, tree(node.operand))
        return node.value

    assert tree(value_of(text)) == shape


def test_operator_spans():
    expression = value_of("a * (b + c)")
    assert expression.span == span(1, 9, 1, 20)
    assert expression.right.span == span(1, 13, 1, 20)  # widened to its parentheses
    assert value_of("-x").span == span(1, 9, 1, 11)


def test_block_signature_and_statements():
    text = """block film_mlp(x: [B, D], c: [B, C], hidden: int = 1024) -> [B, D] {
  scale, shift = split(linear(c, 2 * D), 2)
  h = layernorm(x, affine = false) * (1 + scale) + shift
  return x + linear(gelu(linear(h, hidden)), D)
}"""
    (block,) = parse_ok(text).items
    assert isinstance(block, ast.Block)
    assert (block.name, block.name_span) == ("film_mlp", span(1, 7, 1, 15))
    x, c, hidden = block.parameters
    assert x.tensor.dtype is None and [d.name for d in x.tensor.dims] == ["B", "D"]
    assert x.span == span(1, 16, 1, 25) and x.scalar is None and x.default is None
    assert (hidden.scalar, hidden.tensor, hidden.default.value) == ("int", None, 1024)
    (output,) = block.outputs
    column = text.index("[B, D] {") + 1
    assert isinstance(output, ast.TensorType) and output.span == span(1, column, 1, column + 6)
    unpack, assign, ret = block.body
    assert unpack.targets == ("scale", "shift")
    assert unpack.target_spans == (span(2, 3, 2, 8), span(2, 10, 2, 15))
    assert unpack.span == span(2, 3, 2, 44)
    assert assign.targets == ("h",) and assign.value.op == "+"
    assert isinstance(ret, ast.Return) and len(ret.values) == 1
    assert block.span == span(1, 1, 5, 2)


def test_model_with_dtypes_and_computed_dims():
    (model,) = parse_ok("model v(x: f32[B, 2 * k], t: bf16[B], s: f32[]) -> f32[B, 2 * k] { return x }").items
    assert isinstance(model, ast.Model)
    x, t, s = model.parameters
    assert x.tensor.dtype == "f32" and x.tensor.dims[1].op == "*"
    assert t.tensor.dtype == "bf16" and s.tensor.dims == ()
    assert model.outputs[0].dtype == "f32"


def test_several_outputs_and_list_outputs():
    text = "block d(x: [B, T, 1], periods: list = [2, 3]) -> ([B, 1], list) { return x, [] }"
    (block,) = parse_ok(text).items
    logits, features = block.outputs
    assert isinstance(logits, ast.TensorType) and isinstance(features, ast.TensorList)
    assert features.span == span(1, 59, 1, 63)
    assert block.parameters[1].scalar == "list" and len(block.parameters[1].default.items) == 2
    (bare,) = parse_ok("model m(x: [B]) -> [B], list, [B, 2] { return x, [x], x }").items
    assert [type(o).__name__ for o in bare.outputs] == ["TensorType", "TensorList", "TensorType"]
    assert len(bare.body[0].values) == 3


def test_model_instances():
    first, second = parse_ok(
        "model flow = mlp_flow(latent_dim = 128, num_blocks = 4)\nmodel g = generator"
    ).items
    assert isinstance(first, ast.ModelInstance)
    assert first.name == "flow" and first.call.function == "mlp_flow"
    assert [k.name for k in first.call.kwargs] == ["latent_dim", "num_blocks"]
    assert second.call == ast.Call(span(2, 11, 2, 20), "generator", span(2, 11, 2, 20), (), ())


def test_repeat_for_if_else():
    text = """model m(x: [B, D], use: bool = true) -> [B, D] {
  h = x
  repeat 6 { h = f(h) }
  for p in periods {
    h = g(h, p)
  }
  if use and n > 2 {
    h = a(h)
  } else if n == 1 {
    h = b(h)
  } else {
    h = c(h)
    h = d(h)
  }
  if use { h = e(h) }
  return h
}"""
    (model,) = parse_ok(text).items
    _, repeat, loop, branch, plain, _ = model.body
    assert repeat.count.value == 6 and repeat.body[0].targets == ("h",)
    assert repeat.span == span(3, 3, 3, 24)
    assert (loop.variable, loop.iterable.name, len(loop.body)) == ("p", "periods", 1)
    assert branch.condition.op == "and" and len(branch.body) == 1
    assert branch.else_span == span(9, 5, 9, 9)
    (inner,) = branch.orelse
    assert isinstance(inner, ast.If) and inner.condition.op == "=="
    assert len(inner.orelse) == 2 and inner.span == span(9, 10, 14, 4)
    assert branch.span == span(7, 3, 14, 4)
    assert plain.orelse == () and plain.else_span is None


def test_newlines_and_commas_separate_entries():
    one_line = parse_ok("data d { a = 1 b = [1,\n 2] c = x\n(y) }").items[0]
    assert [e.key for e in one_line.body] == ["a", "b", "c"]
    assert one_line.body[2].value.function == "x"  # a call may continue on the next line


def test_comments_are_collected():
    module = parse_ok("# top\nlet a = 1  # trailing\n# end")
    assert [(c.text, c.span) for c in module.comments] == [
        ("# top", span(1, 1, 1, 6)),
        ("# trailing", span(2, 12, 2, 22)),
        ("# end", span(3, 1, 3, 6)),
    ]
    assert parse_ok('let s = "# not a comment"').comments == ()


def test_spans_count_tabs_as_one_column():
    (let,) = parse_ok("let\tx =\t4").items
    assert let.name_span == span(1, 5, 1, 6) and let.value.span == span(1, 9, 1, 10)


def test_the_example_specs_parse(spec_paths):
    for path in spec_paths:
        with open(path, encoding="utf-8") as handle:
            module = parse_ok(handle.read(), path)
        assert module.items
