"""`positional_embedding(x, max_length)`: lowering of a small causal LM, its parameters, the
run-time class it names, and the diagnostics (E0618 for a concrete T > max_length)."""

import importlib

import numpy as np
import pytest

from specc.compiler.vocabulary import layers
from specc.runtime import init
from specc.runtime.reference import layers as R

from tests.graphs import interpreter
from tests.graphs.helpers import build_ok, module, parameter_table, rendered

CAUSAL_LM = """\
block decoder(x: [B, T, D], heads: int) -> [B, T, D] {
  return x + attention(layernorm(x), heads, causal = true)
}

model causal_lm(tokens: i64[B, T]) -> f32[B, T, 50] {
  h = positional_embedding(embedding(tokens, 50, 16), 12)
  h = decoder(h, heads = 4)
  return linear(layernorm(h), 50)
}
"""


def test_causal_lm_lowers_with_positional_parameters():
    graph = build_ok(CAUSAL_LM)["causal_lm"]
    table = parameter_table(graph)
    attention = [f"decoder_0.attention_0.{p}.{k}" for p in ("key", "out", "query", "value") for k in ("bias", "weight")]
    assert list(table) == attention + [
        "decoder_0.layernorm_0.bias", "decoder_0.layernorm_0.weight", "embedding_0.weight", "layernorm_0.bias",
        "layernorm_0.weight", "linear_0.bias", "linear_0.weight", "positional_embedding_0.weight"]
    assert table["embedding_0.weight"] == ((50, 16), "normal", 1)
    assert table["positional_embedding_0.weight"] == ((12, 16), "normal", 1)
    assert table["decoder_0.attention_0.query.weight"] == ((16, 16), "uniform_fan_in", 16)
    assert table["linear_0.weight"] == ((50, 16), "uniform_fan_in", 16)
    root = module(graph, "CausalLm")
    (positional,) = [s for s in root.submodules if s.attribute == "positional_embedding_0"]
    assert positional.kind == "PositionalEmbedding"
    assert dict(positional.arguments) == {"max_length": 12, "dim": 16}
    statement = next(s for s in root.body if s.attribute == "positional_embedding_0")
    assert statement.call == "layer" and statement.function == "PositionalEmbedding"
    assert [str(dim) for dim in statement.types[0].shape] == ["B", "T", "16"]
    expected = init.layer_parameters("PositionalEmbedding", **dict(positional.arguments))
    assert [(p.name, tuple(p.shape), p.init) for p in expected] == [
        (p.name, p.shape, p.init) for p in positional.parameters]


@pytest.mark.parametrize("backend", ["jax", "torch", "mlx"])
def test_runtime_class_accepts_the_ir_arguments(backend):
    graph = build_ok(CAUSAL_LM)["causal_lm"]
    (positional,) = [s for s in module(graph, "CausalLm").submodules if s.attribute == "positional_embedding_0"]
    runtime = importlib.import_module(f"specc.runtime.{backend}.layers")
    created = getattr(runtime, positional.kind)(**dict(positional.arguments))
    arrays = importlib.import_module(f"specc.runtime.{backend}.state").state_dict(created)
    assert {name: array.shape for name, array in arrays.items()} == {"weight": (12, 16)}


def _reference_layer(original):
    """The graph test interpreter, extended with PositionalEmbedding (a local shim)."""
    def layer(kind, arguments, parameters, inputs):
        if kind == "PositionalEmbedding":
            return R.positional_embedding(inputs[0], parameters["weight"])
        return original(kind, arguments, parameters, inputs)
    return layer


def test_causal_lm_runs_on_the_reference_and_is_causal(monkeypatch):
    monkeypatch.setattr(interpreter, "_layer", _reference_layer(interpreter._layer))
    graph = build_ok(CAUSAL_LM)["causal_lm"]
    tokens = np.random.default_rng(0).integers(0, 50, size=(2, 7))
    (logits,) = interpreter.run(graph, {"tokens": tokens}, {"B": 2, "T": 7})
    assert logits.shape == (2, 7, 50)
    changed = tokens.copy()
    changed[:, 4] = (changed[:, 4] + 1) % 50
    (other,) = interpreter.run(graph, {"tokens": changed}, {"B": 2, "T": 7})
    np.testing.assert_allclose(other[:, :4], logits[:, :4])  # the future does not leak back
    assert not np.allclose(other[:, 4:], logits[:, 4:])
    # the same tokens at other positions give other outputs: positions are seen
    repeated = np.full((1, 7), 3)
    (constant,) = interpreter.run(graph, {"tokens": repeated}, {"B": 1, "T": 7})
    assert not np.allclose(constant[0, 5], constant[0, 6])


def test_concrete_length_within_the_table_lowers():
    text = "model m(x: f32[B, 8, 4]) -> f32[B, 8, 4] {\n  return positional_embedding(x, max_length = 8)\n}\n"
    assert parameter_table(build_ok(text)["m"]) == {"positional_embedding_0.weight": ((8, 4), "normal", 1)}


DIAGNOSTICS = [
    pytest.param(
        "model m(x: f32[B, 16, 4]) -> f32[B, 16, 4] {\n  return positional_embedding(x, 12)\n}\n",
        "m.mf:2:34: error[E0618]: positional_embedding: the input [B, 16, 4] has 16 positions but "
        "`max_length` is 12\n  |\n2 |   return positional_embedding(x, 12)\n  |                                  ^^",
        id="E0618",
    ),
    pytest.param(
        "model m(x: f32[B, 16, 4]) -> f32[B, 16, 4] {\n  return positional_embedding(x, max_length = 0)\n}\n",
        "m.mf:2:47: error[E0609]: positional_embedding: `max_length` must be positive, got 0\n  |\n"
        "2 |   return positional_embedding(x, max_length = 0)\n  |                                               ^",
        id="E0609",
    ),
    pytest.param(
        "model m(x: f32[B, 4]) -> f32[B, 4] {\n  return positional_embedding(x, 8)\n}\n",
        "m.mf:2:10: error[E0608]: positional_embedding: expected an input [B, T, D], got [B, 4]\n  |\n"
        "2 |   return positional_embedding(x, 8)\n  |          ^^^^^^^^^^^^^^^^^^^^^^^^^^",
        id="E0608",
    ),
    pytest.param(
        "model m(ids: i64[B, T, 4]) -> f32[B, T, 4] {\n  return positional_embedding(ids, 8)\n}\n",
        "m.mf:2:31: error[E0617]: positional_embedding: x must be f32 (embed integer ids with `embedding` "
        "first), got i64[B, T, 4]\n  |\n2 |   return positional_embedding(ids, 8)\n  |                               ^^^",
        id="E0617",
    ),
]


@pytest.mark.parametrize("text, expected", DIAGNOSTICS)
def test_diagnostics(text, expected):
    assert rendered(text) == [expected]


def test_registry_entry():
    entry = layers.lookup("positional_embedding")
    assert entry.kind == "layer" and entry.runtime == "PositionalEmbedding"
    assert [(a.name, a.type, a.required) for a in entry.arguments] == [
        ("x", "tensor", True), ("max_length", "int", True), ("init", "initializer", False), ("trainable", "bool", False)]
    assert "### `positional_embedding(x, max_length, init = normal, trainable = true)`" in layers.markdown_reference()
