"""`trainable = false` on any layer: its parameters keep their seeded initial values. The graph
records it (`ir.Layer.trainable`, `ModelGraph.fixed`), lowering adds the layers to
`train.freeze` (model-relative with one trained model, `<model>.<path>` with several), so every
backend leaves them out of the optimizer; seed 004's `approx_equiv_transformer` uses it for
`learn_projection = false` (LearntProjection as a fixed random map)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from specc.runtime.training.size import size_line
from specc.compiler.pipeline import check
from specc.compiler.vocabulary import layers
from tests.checker.helpers import DIGITS, edit, run
from tests.checker.test_every_key_has_an_effect import GAN
from tests.graphs.helpers import build_ok, rendered

REPOSITORY = Path(__file__).resolve().parents[2]

BLOCKS = """\
block projected(x: [B, D], n: int, learn: bool = true) -> [B, n] {
  return relu(linear(x, n, trainable = learn))
}

model m(x: f32[B, 4]) -> f32[B, 2] {
  h = projected(x, 8, false)
  repeat 2 {
    h = projected(h, 8)
  }
  g = parameter([1, 8], init = ones, trainable = false)
  return linear(layernorm(h * g, trainable = false), 2)
}
"""


def test_the_graph_records_every_fixed_layer_in_any_block():
    graph = build_ok(BLOCKS)["m"]
    assert graph.fixed == ("g_0", "layernorm_0", "projected_0.linear_0")
    layers = {sub.attribute: sub.trainable for module in graph.modules for sub in module.submodules if hasattr(sub, "trainable")}
    assert layers["linear_0"] is True and layers["g_0"] is False


def test_trainable_false_without_parameters_is_refused_at_the_argument():
    text = "model m(x: f32[B, 4]) -> f32[B, 4] {\n  return layernorm(x, affine = false, trainable = false)\n}\n"
    assert rendered(text) == [
        "m.mf:2:51: error[E0609]: layernorm: `trainable = false` has no effect: this layer has no parameters of its own\n"
        "  |\n"
        "2 |   return layernorm(x, affine = false, trainable = false)\n"
        "  |                                                   ^^^^^"
    ]
    assert "trainable" not in [argument.name for argument in layers.lookup("dropout").arguments]  # never parameters
    assert "trainable" in [argument.name for argument in layers.lookup("parameter").arguments]


def test_fixed_layers_join_train_freeze_model_relative_with_one_model():
    text = edit(DIGITS, "return linear(relu(linear(x, hidden)), 10)", "return linear(relu(linear(x, hidden, trainable = false)), 10)")
    program = run(text).program
    assert program.train.freeze == ("linear_0",)
    assert dict((item.key, item.origin) for item in program.provenance)["train.freeze"] == "= layers with trainable = false"
    written = run(text, ('train.freeze=["linear_1", "linear_0"]',)).program
    assert written.train.freeze == ("linear_1", "linear_0")  # written once
    sizes = {name: math.prod(parameter.shape) for name, parameter in program.models[0].parameters}
    assert size_line(sizes, program.train.freeze) == "parameters: 2,410 (330 trainable)"  # what the scripts print
    assert 64 * 32 + 32 == 2410 - 330


def test_fixed_layers_of_several_models_are_named_with_their_model():
    text = edit(GAN, "  h = tanh(linear(x, 32))", "  h = tanh(linear(x, 32, trainable = false))")
    program = run(text).program
    assert program.train.freeze == ("generator_net.linear_0",)


@pytest.mark.parametrize(("learn", "freeze"), [("true", ()), ("false", ("linear_0",))])
def test_learn_projection_fixes_the_parameters_to_tokens_projection(learn, freeze):
    overrides = ("d_model=16", "num_layers=1", "num_heads=2", "d_ff=16", "num_tokens=4", "d_enc=8",
                 "conditioning_dim=8", "signal_length=32", f"learn_projection={learn}")
    result = check("specs/ksin_flow_transformer.mf", lambda name: (REPOSITORY / name).read_bytes(), overrides)
    assert result.program is not None, [d.message for d in result.diagnostics]
    assert result.program.train.freeze == freeze
    graph = result.program.models[0]
    assert dict(graph.parameters)["linear_0.weight"].shape == (4 * 16, 8)  # the projection of the 2k parameters
