"""The graph features the seeds need: max_pool2d, elu, the attention key mask, layer
initialisers (``init = zeros``) and ``positions``: shape inference, IR, rendered model code
and exact diagnostics."""

import numpy as np
import pytest

from specc.compiler.emit import models as emit_models

from tests.graphs.helpers import build_ok, module, parameter_table, rendered
from tests.graphs.interpreter import run

MASKED = """\
model lm(x: f32[B, T, 8], keep: bool[B, T], c: f32[B, 5, 8], c_keep: bool[B, 5]) -> f32[B, T, 8] {
  h = attention(x, 2, causal = true, mask = keep)
  return attention(h, 2, context = c, mask = c_keep) + attention(h, 2, context = c)
}
"""


def _lines(graph, class_name: str) -> list[str]:
    """The forward body as rendered, with the returned expression as a last line."""
    view = emit_models.module_view(module(graph, class_name), "")
    return view["body"] + [f"return {view['returns']}"]


def test_attention_mask_is_a_positional_input_after_context():
    graph = build_ok(MASKED)["lm"]
    assert _lines(graph, "Lm") == [
        "h = self.attention_0(x, None, keep)",
        "attention = self.attention_1(h, c, c_keep)",
        "return attention + self.attention_2(h, c)",
    ]


def test_attention_mask_matches_the_reference():
    graph = build_ok(MASKED)["lm"]
    generator = np.random.default_rng(3)
    keep = np.ones((2, 6), bool)
    keep[1, 4:] = False  # right padding
    inputs = {"x": generator.normal(size=(2, 6, 8)), "keep": keep, "c": generator.normal(size=(2, 5, 8)),
              "c_keep": generator.uniform(size=(2, 5)) > 0.4}
    (output,) = run(graph, inputs, {"B": 2, "T": 6})
    changed = dict(inputs, x=inputs["x"].copy())
    changed["x"][1, 4:] += 10.0  # padded keys of row 1: the outputs of the kept queries do not move
    (again,) = run(graph, changed, {"B": 2, "T": 6})
    np.testing.assert_allclose(again[1, :4], output[1, :4], rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(again[0], output[0])


INITIALISED = """\
model m(x: f32[B, T, 4]) -> f32[B, T, 4] {
  h = conv1d(x, 4, 3, padding = same, init = zeros) + conv_transpose1d(x, 4, 1, init = ones, bias = false)
  return linear(h, 4, init = zeros) + linear(h, 4)
}
"""


def test_init_sets_the_parameter_table_and_the_constructor():
    graph = build_ok(INITIALISED)["m"]
    assert parameter_table(graph) == {
        "conv1d_0.weight": ((4, 4, 3), "zeros", 12),
        "conv1d_0.bias": ((4,), "zeros", 12),
        "conv_transpose1d_0.weight": ((4, 4, 1), "ones", 4),
        "linear_0.weight": ((4, 4), "zeros", 4),
        "linear_0.bias": ((4,), "zeros", 4),
        "linear_1.weight": ((4, 4), "uniform_fan_in", 4),
        "linear_1.bias": ((4,), "uniform_fan_in", 4),
    }
    lines = [emit_models.submodule_line(sub, "nn.ModuleList") for sub in module(graph, "M").submodules]
    assert lines[2] == "self.linear_0 = layers.Linear(bias=True, in_features=4, init='zeros', out_features=4)"
    assert lines[3] == "self.linear_1 = layers.Linear(bias=True, in_features=4, out_features=4)"


def test_zero_initialised_output_is_zero():
    text = "model m(x: f32[B, 4]) -> f32[B, 3] {\n  return linear(gelu(linear(x, 8)), 3, init = zeros)\n}\n"
    (output,) = run(build_ok(text)["m"], {"x": np.random.default_rng(0).normal(size=(5, 4))}, {"B": 5})
    np.testing.assert_array_equal(output, np.zeros((5, 3)))


def test_max_pool2d_and_elu_shapes():
    text = ("model m(x: f32[B, 28, 32, 1]) -> f32[B, 13, 16, 2] {\n"
            "  return max_pool2d(elu(conv2d(x, 2, 3)), 2, padding = [0, 1]) * 1\n}\n")
    graph = build_ok(text)["m"]
    statement = module(graph, "M").body[2]
    assert (statement.function, statement.arguments) == (
        "max_pool2d", (("kernel_size", (2, 2)), ("padding", (0, 1)), ("stride", (2, 2))))
    x = np.random.default_rng(0).normal(size=(2, 28, 32, 1))
    (output,) = run(graph, {"x": x}, {"B": 2})
    assert output.shape == (2, 13, 16, 2)


POSITIONS = """\
model m(x: f32[B, T, 8]) -> f32[B, T, 8] {
  p = positions(x)
  q = positions(x, batched = true)
  return x + sinusoidal(p, 8) + mean(sinusoidal(q, 4), axis = -1, keepdims = true)
}
"""


def test_positions_types_and_values():
    graph = build_ok(POSITIONS)["m"]
    body = module(graph, "M").body
    assert [(s.function, s.types[0].dtype, s.types[0].shape) for s in body[:2]] == [
        ("positions", "i64", ("T",)), ("positions", "i64", ("B", "T"))]
    x = np.zeros((2, 3, 8))
    (output,) = run(graph, {"x": x}, {"B": 2, "T": 3})
    table = np.concatenate([np.cos(np.arange(3)[:, None] * np.exp(-np.log(10000.0) * np.arange(4) / 4)),
                            np.sin(np.arange(3)[:, None] * np.exp(-np.log(10000.0) * np.arange(4) / 4))], axis=-1)
    expected_mean = np.mean(np.concatenate([np.cos(np.arange(3)[:, None] * np.exp(-np.log(10000.0) * np.arange(2) / 2)),
                                            np.sin(np.arange(3)[:, None] * np.exp(-np.log(10000.0) * np.arange(2) / 2))],
                                           axis=-1), axis=-1, keepdims=True)
    np.testing.assert_allclose(output[1], table + expected_mean, rtol=1e-12)


CASES = [
    pytest.param(
        "model m(x: f32[B, T, 8], keep: bool[B, 4]) -> f32[B, T, 8] {\n  return attention(x, 2, mask = keep)\n}\n",
        "m.mf:2:33: error[E0608]: attention: mask [B, 4] does not fit the keys: expected [B, T] (batch and length of "
        "`x`)\n  |\n2 |   return attention(x, 2, mask = keep)\n  |                                 ^^^^",
        id="mask_shape",
    ),
    pytest.param(
        "model m(x: f32[B, 3, 8], c: f32[B, 5, 8], keep: bool[B, 3]) -> f32[B, 3, 8] {\n"
        "  return attention(x, 2, context = c, mask = keep)\n}\n",
        "m.mf:2:46: error[E0608]: attention: mask [B, 3] does not fit the keys: expected [B, 5] (batch and length of "
        "`context`)\n  |\n2 |   return attention(x, 2, context = c, mask = keep)\n  |                                              ^^^^",
        id="mask_context_shape",
    ),
    pytest.param(
        "model m(x: f32[B, T, 8], keep: i64[B, T]) -> f32[B, T, 8] {\n  return attention(x, 2, mask = keep)\n}\n",
        "m.mf:2:33: error[E0617]: attention: mask must be bool (True = attend), got i64[B, T]\n  |\n"
        "2 |   return attention(x, 2, mask = keep)\n  |                                 ^^^^",
        id="mask_dtype",
    ),
    pytest.param(
        "model m(x: f32[B, T, 4]) -> f32[B, T, 4] {\n  return conv1d(x, 4, 1, weight_norm = true, init = zeros)\n}\n",
        "m.mf:2:53: error[E0609]: conv1d: `init = zeros` cannot be combined with `weight_norm = true` (the weight is "
        "normalised by its norm)\n  |\n2 |   return conv1d(x, 4, 1, weight_norm = true, init = zeros)\n"
        "  |                                                     ^^^^^",
        id="init_weight_norm",
    ),
    pytest.param(
        "model m(x: f32[B, 4]) -> f32[B, 4] {\n  return linear(x, 4, init = zero)\n}\n",
        "m.mf:2:30: error[E0609]: linear: argument `init` must be one of uniform_fan_in, zeros, ones, normal, "
        "truncated_normal, xavier_uniform, xavier_normal, kaiming_uniform, kaiming_normal, got the word "
        "`zero`\n  |\n2 |   return linear(x, 4, init = zero)\n  |                              ^^^^\nhelp: did you mean `zeros`?",
        id="init_word",
    ),
    pytest.param(
        "model m(x: f32[B, T, 4]) -> i64[B, B] {\n  return positions(x, axis = 0, batched = true)\n}\n",
        "m.mf:2:30: error[E0609]: positions: `batched = true` repeats the positions over axis 0, so `axis` must name "
        "another axis\n  |\n2 |   return positions(x, axis = 0, batched = true)\n  |                              ^",
        id="positions_axis",
    ),
]


@pytest.mark.parametrize("text, expected", CASES)
def test_diagnostic_text(text, expected):
    assert rendered(text) == [expected]


# ----------------------------------------------------------------------------- the standard library


def _std(text: str) -> dict:
    from tests.specs.test_std import build

    return build(text)


def _functions(graph) -> list[str]:
    return [statement.function for module in graph.modules for statement in module.body]


SMALL_TRANSFORMER = ("num_params = 8, signal_length = 64, d_model = 16, conditioning_dim = 8, num_heads = 2, "
                     "d_ff = 32, num_tokens = 4, d_enc = 8, num_layers = 2")


@pytest.mark.parametrize(("arguments", "fixed_encodings"), [
    ("", 1), ("pe_type = layerwise", 2), ("learn_pe = true", 0), ("learn_pe = true, pe_type = layerwise", 0)])
def test_approx_equiv_transformer_fixed_positions(arguments, fixed_encodings):
    """learn_pe = false (seed 004's default) adds sinusoidal(positions(tokens), d_model): once
    (pe_type = initial) or before every block (layerwise); no parameters either way."""
    graph = _std(f'import "std/transformer.mf"\nmodel vf = approx_equiv_transformer({SMALL_TRANSFORMER}, {arguments})\n')["vf"]
    functions = _functions(graph)
    assert functions.count("positions") == (1 if fixed_encodings else 0)  # a repeat body is one class
    assert ("PositionalEmbedding" in functions) == ("learn_pe = true" in arguments)


@pytest.mark.parametrize(("arguments", "zero_names"), [
    ("", {"linear_6.weight", "linear_6.bias"}),
    ("zero_init = false", set()),
    ("adaln_mode = zero, zero_init = false",
     {f"repeat_0.{index}.adaln_transformer_block_0.linear_0.{kind}" for index in (0, 1) for kind in ("weight", "bias")}
     | {"linear_5.weight", "linear_5.bias"}),
])
def test_approx_equiv_transformer_zero_init(arguments, zero_names):
    """zero_init (default true) zeroes the output layer; adaln_mode = zero every modulation."""
    graph = _std(f'import "std/transformer.mf"\nmodel vf = approx_equiv_transformer({SMALL_TRANSFORMER}, {arguments})\n')["vf"]
    zeros = {name for name, parameter in graph.parameters if parameter.init == "zeros"}
    assert zeros == zero_names


def test_std_uses_the_new_layers():
    classifier = _std('import "std/classifier.mf"\nmodel c = mel_classifier(length = 1920, n_fft = 256, hop = 128, '
                      'n_mels = 16)\n')["c"]
    assert _functions(classifier).count("max_pool2d") == 2 and "avg_pool2d" not in _functions(classifier)
    vae = _std('import "std/vae.mf"\nmodel v = audio_vae(length = 256, base_channels = 4, stages = [[1, 2]], '
               'latent_dim = 3)\n')["v"]
    assert "elu" in _functions(vae) and "silu" not in _functions(vae)
    flow = _std('import "std/convnext.mf"\nmodel f = conv_flow(noise_dimension = 64, patch_length = 8, channels = 8, '
                'num_blocks = 1, condition_dimension = 8)\n')["f"]
    grn = {name: (parameter.shape, parameter.init) for name, parameter in flow.parameters if ".grn_0." in name}
    assert grn == {"repeat_0.0.convnext_block_0.grn_0.gamma_0.weight": ((1, 1, 32), "zeros"),
                   "repeat_0.0.convnext_block_0.grn_0.beta_0.weight": ((1, 1, 32), "zeros")}
