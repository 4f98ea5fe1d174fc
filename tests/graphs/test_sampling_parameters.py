"""Free parameters (``parameter(shape, init)``) and the reparameterised Gaussian draw
(``gaussian_sample(mean, logvar)``) in graphs: IR, parameter names and table, rendered model
code, reference values and exact diagnostics."""

import numpy as np
import pytest

from specc.compiler import ir
from specc.compiler.emit import models as emit_models
from specc.runtime import init

from tests.graphs.helpers import build_ok, module, parameter_table, rendered
from tests.graphs.interpreter import run
from tests.graphs.test_layer_features import _std

GRN = """\
block grn(x: [B, T, C]) -> [B, T, C] {
  gamma = parameter([1, 1, C], init = normal(0.5))
  beta = parameter([1, 1, C], init = ones)
  g = sqrt(sum(x * x, axis = 1, keepdims = true) + 1e-6)
  n = g / (mean(g, axis = -1, keepdims = true) + 1e-6)
  return gamma * (x * n) + beta + x
}
model m(x: f32[B, T, 4]) -> f32[B, T, 4] {
  return grn(x) * parameter([4], init = normal)
}
"""

SAMPLED = """\
model vae(mean: f32[B, 3, 2], logvar: f32[B, 3, 2]) -> f32[B, 3, 2] {
  z = gaussian_sample(mean, logvar)
  return z
}
"""


def _lines(graph, class_name: str) -> list[str]:
    """The forward body as rendered, with the returned expression as a last line."""
    view = emit_models.module_view(module(graph, class_name), "")
    return view["body"] + [f"return {view['returns']}"]


def test_free_parameters_are_named_after_their_values():
    graph = build_ok(GRN)["m"]
    assert parameter_table(graph) == {
        "grn_0.beta_0.weight": ((1, 1, 4), "ones", 1),
        "grn_0.gamma_0.weight": ((1, 1, 4), "normal", 1),
        "parameter_0.weight": ((4,), "normal", 1),
    }
    assert {name: parameter.std for name, parameter in graph.parameters} == {
        "grn_0.beta_0.weight": 1.0, "grn_0.gamma_0.weight": 0.5, "parameter_0.weight": 1.0}
    assert [emit_models.submodule_line(item, "") for item in module(graph, "Grn").submodules] == [
        "self.gamma_0 = layers.FreeParameter(init='normal', shape=(1, 1, 4), std=0.5)",
        "self.beta_0 = layers.FreeParameter(init='ones', shape=(1, 1, 4))",
    ]
    assert _lines(graph, "Grn")[:2] == ["gamma = self.gamma_0()", "beta = self.beta_0()"]
    assert _lines(graph, "M") == ["grn = self.grn_0(x)", "return grn * self.parameter_0()"]


def test_parameter_table_renders_std_only_when_not_one():
    graph = build_ok(GRN)["m"]
    view = emit_models.model_view(graph, "")
    assert [(item["name"], item["std"]) for item in view["parameters"]] == [
        ("grn_0.beta_0.weight", None), ("grn_0.gamma_0.weight", 0.5), ("parameter_0.weight", None)]


def test_free_parameters_match_the_formula():
    graph = build_ok(GRN)["m"]
    x = np.random.default_rng(4).normal(size=(2, 5, 4))
    (output,) = run(graph, {"x": x}, {"B": 2, "T": 5}, seed=7)
    arrays = init.initialize(graph.parameters, 7)
    gamma, beta, scale = arrays["grn_0.gamma_0.weight"], arrays["grn_0.beta_0.weight"], arrays["parameter_0.weight"]
    np.testing.assert_array_equal(beta, np.ones((1, 1, 4), np.float32))
    g = np.sqrt(np.sum(x * x, axis=1, keepdims=True) + 1e-6)
    n = g / (np.mean(g, axis=-1, keepdims=True) + 1e-6)
    np.testing.assert_allclose(output, (gamma * (x * n) + beta + x) * scale, rtol=1e-12)


def test_normal_std_scales_the_draw():
    """``normal(0.5)`` is 0.5 times the N(0, 1) draw of the same name and seed."""
    graph = build_ok(GRN)["m"]
    (name, parameter), = [(n, p) for n, p in graph.parameters if n.endswith("gamma_0.weight")]
    scaled = init.initialize([(name, parameter)], 3)[name]
    unit = init.initialize([(name, ir.Parameter("weight", (1, 1, 4), "normal"))], 3)[name]
    np.testing.assert_allclose(scaled, np.float32(0.5) * unit, rtol=1e-6)


def test_gaussian_sample_is_a_parameterless_layer_that_decodes_the_mean_in_evaluation():
    graph = build_ok(SAMPLED)["vae"]
    assert graph.parameters == ()
    (layer,) = module(graph, "Vae").submodules
    assert layer == ir.Layer("gaussian_sample_0", "GaussianSample", (), ())
    assert _lines(graph, "Vae") == ["z = self.gaussian_sample_0(mean, logvar)", "return z"]
    generator = np.random.default_rng(0)
    mean, logvar = generator.normal(size=(2, 3, 2)), generator.normal(size=(2, 3, 2))
    (output,) = run(graph, {"mean": mean, "logvar": logvar}, {"B": 2})
    np.testing.assert_array_equal(output, mean)


def test_audio_vae_decodes_a_sample():
    vae = _std('import "std/vae.mf"\nmodel v = audio_vae(length = 256, base_channels = 4, stages = [[1, 2]], '
               'latent_dim = 3)\n')["v"]
    root = module(vae, vae.root)
    sample = [statement for statement in root.body if statement.function == "GaussianSample"]
    assert len(sample) == 1 and [operand.ref for operand in sample[0].inputs] == ["mean", "logvar"]
    decoder = next(statement for statement in root.body if statement.function.startswith("VaeDecoder"))
    assert [operand.ref for operand in decoder.inputs] == [sample[0].targets[0]]


CASES = [
    pytest.param(
        "model m(mean: f32[B, 4, 8], logvar: f32[B, 4, 3]) -> f32[B, 4, 8] {\n  return gaussian_sample(mean, logvar)\n}\n",
        "m.mf:2:32: error[E0608]: gaussian_sample: logvar [B, 4, 3] must have the shape of mean [B, 4, 8] (one "
        "log-variance per mean)\n  |\n2 |   return gaussian_sample(mean, logvar)\n  |                                ^^^^^^",
        id="sample_shape",
    ),
    pytest.param(
        "model m(mean: i64[B, 4], logvar: f32[B, 4]) -> i64[B, 4] {\n  return gaussian_sample(mean, logvar)\n}\n",
        "m.mf:2:26: error[E0617]: gaussian_sample: mean must be f32, got i64[B, 4]\n  |\n"
        "2 |   return gaussian_sample(mean, logvar)\n  |                          ^^^^",
        id="sample_dtype",
    ),
    pytest.param(
        "model m(x: f32[B, 4]) -> f32[B, 4] {\n  return x + parameter([B, 4])\n}\n",
        "m.mf:2:24: error[E0609]: parameter: every size of `shape` must be a positive integer known at compile time "
        "(a parameter has no batch axis), got [B, 4]\n  |\n2 |   return x + parameter([B, 4])\n"
        "  |                        ^^^^^^",
        id="parameter_batch_axis",
    ),
    pytest.param(
        "model m(x: f32[B, 4]) -> f32[B, 4] {\n  return x + parameter([4], init = zero)\n}\n",
        "m.mf:2:36: error[E0609]: parameter: argument `init` must be one of zeros, ones, normal, truncated_normal, "
        "xavier_uniform, xavier_normal, kaiming_uniform, kaiming_normal, got the word `zero`\n  |\n2 |   return x + parameter([4], init = zero)\n  |                                    ^^^^\n"
        "help: did you mean `zeros`?",
        id="parameter_init_word",
    ),
    pytest.param(
        "model m(x: f32[B, 4]) -> f32[B, 4] {\n  return x + parameter([4], init = normal(0))\n}\n",
        "m.mf:2:43: error[E0609]: parameter: `std` of `normal` must be a positive number, got the integer 0\n"
        "  |\n2 |   return x + parameter([4], init = normal(0))\n  |                                           ^",
        id="parameter_std",
    ),
    pytest.param(
        "model m(x: f32[B, 4]) -> f32[B, 4] {\n  return x + parameter([4], init = normal(1, 2))\n}\n",
        "m.mf:2:46: error[E0609]: parameter: `normal` takes at most one argument (std), got 2\n"
        "  |\n2 |   return x + parameter([4], init = normal(1, 2))\n  |                                              ^",
        id="parameter_normal_arguments",
    ),
]


@pytest.mark.parametrize("text, expected", CASES)
def test_diagnostic_text(text, expected):
    assert rendered(text) == [expected]


def test_unused_blocks_accept_normal_std():
    """A library block nobody instantiates is linted without shapes: `normal(0.02)` in an
    `init` slot is a value, not a call of an unknown layer."""
    text = ("block scaled(x: [B, C]) -> [B, C] {\n  return x * parameter([C], init = normal(0.02)) + parameter([C], normal)\n}\n"
            "block broken(x: [B, C]) -> [B, C] {\n  return gaussian(x)\n}\n"
            "model m(x: f32[B, 4]) -> f32[B, 4] {\n  return x\n}\n")
    assert [line.splitlines()[0] for line in rendered(text)] == [
        "m.mf:5:10: error[E0601]: unknown layer or block `gaussian`"]
