"""Weight tying: `linear(h, V, weight = wte.weight)` uses the weight of the layer that
returned `wte` instead of a weight of its own. The parameter table holds the weight once, the
forward passes it (`self.linear_0(h, self.embedding_0.weight)`), and every way to get it
wrong is a positioned diagnostic."""

from __future__ import annotations

from specc.compiler.emit import models as emit_models

from tests.graphs.helpers import build_ok, module, parameter_table, rendered

TIED = """\
model m(ids: i64[B, T]) -> f32[B, T, 10] {
  wte = embedding(ids, 10, 8)
  h = layernorm(wte)
  return linear(h, 10, bias = false, weight = wte.weight)
}
"""


def test_a_tied_layer_owns_no_weight_and_the_forward_passes_the_other_one():
    graph = build_ok(TIED)["m"]
    assert sorted(parameter_table(graph)) == ["embedding_0.weight", "layernorm_0.bias", "layernorm_0.weight"]
    model = module(graph, "M")
    lines = [emit_models.submodule_line(sub, "nn.ModuleList") for sub in model.submodules]
    assert "self.linear_0 = layers.Linear(bias=False, in_features=8, out_features=10, tied=True)" in lines
    (call,) = [statement for statement in model.body if statement.attribute == "linear_0"]
    assert [operand.parameter for operand in call.inputs] == [None, "embedding_0.weight"]


def test_a_tied_layer_keeps_its_own_bias():
    graph = build_ok(TIED.replace("bias = false, ", ""))["m"]
    table = parameter_table(graph)
    assert table["linear_0.bias"] == ((10,), "uniform_fan_in", 8)
    assert "linear_0.weight" not in table


def test_a_weight_of_the_wrong_shape_is_refused_at_the_argument():
    text = TIED.replace("embedding(ids, 10, 8)", "embedding(ids, 12, 8)").replace("f32[B, T, 10]", "f32[B, T, 10]")
    assert rendered(text) == [
        "m.mf:4:47: error[E0608]: linear: `weight = wte.weight` is [12, 8], but a layer from 8 features to 10 "
        "needs a weight [10, 8]\n"
        "  |\n"
        "4 |   return linear(h, 10, bias = false, weight = wte.weight)\n"
        "  |                                               ^^^^^^^^^^"
    ]


def test_a_value_that_no_layer_returned_names_no_parameter():
    text = TIED.replace("weight = wte.weight", "weight = h2.weight").replace("h = layernorm(wte)", "h = layernorm(wte)\n  h2 = h * 2")
    (message,) = rendered(text)
    assert message.splitlines()[0] == (
        "m.mf:5:47: error[E0609]: linear: `h2` is not the output of a layer called in this model or block, so "
        "`h2.weight` names no parameter (`weight = wte.weight`, `wte` the value a layer call returned)"
    )


def test_an_unknown_parameter_is_named_with_the_layers_own():
    (message,) = rendered(TIED.replace("wte.weight", "wte.weights"))
    assert message.splitlines()[0] == (
        "m.mf:4:47: error[E0603]: linear: the embedding that returned `wte` has no parameter `weights` "
        "(its parameters: weight)"
    )
    assert "help: did you mean `weight`?" in message


def test_init_with_a_tied_weight_is_refused():
    (message,) = rendered(TIED.replace("bias = false,", "bias = false, init = normal(0.02),"))
    assert message.splitlines()[0] == (
        "m.mf:4:45: error[E0609]: linear: `init` has no effect with `weight = wte.weight`: the weight is that "
        "layer's, and its own `init` starts it"
    )


def test_a_number_is_not_a_parameter():
    (message,) = rendered(TIED.replace("wte.weight", "3"))
    assert message.splitlines()[0] == (
        "m.mf:4:47: error[E0609]: linear: argument `weight` must be a layer's parameter: "
        "`weight = wte.weight`, `wte` the value a layer call returned"
    )


def test_a_layer_of_another_block_cannot_be_tied_to():
    text = """\
block head(h: [B, T, D], e: [B, T, D]) -> [B, T, 10] {
  return linear(h, 10, weight = e.weight)
}

model m(ids: i64[B, T]) -> f32[B, T, 10] {
  wte = embedding(ids, 10, 8)
  return head(layernorm(wte), wte)
}
"""
    (message,) = rendered(text)
    assert "`e` is not the output of a layer called in this model or block" in message.splitlines()[0]
