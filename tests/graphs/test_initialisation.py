"""Initialisation in the spec (`init`, `bias_init`, `out_init`) and bias-free LayerNorm:
the parameter table each scheme resolves to, the standard deviations the runtime then
draws (statistically, on large layers), and the exact diagnostics of bad arguments."""

from __future__ import annotations

import math

import numpy as np
import pytest
from specc.compiler.emit import models as emit_models
from specc.runtime import init

from tests.graphs.helpers import build_ok, module, rendered

SCHEMES = """\
model m(x: f32[B, T, 8], ids: i64[B, T]) -> f32[B, T, 8] {
  e = embedding(ids, 10, 8, init = normal(std = 0.02))
  h = layernorm(positional_embedding(x + e, 16, init = truncated_normal(0.01)), bias = false)
  a = attention(h, 2, init = normal(0.02), out_init = normal(std = 0.02 / (2 * n_layer) ** 0.5), bias_init = zeros)
  y = linear(a, 8, init = xavier_uniform(gain = 2)) + linear(a, 8, init = kaiming_normal(mode = fan_out), bias = false)
  y = y + conv1d(a, 8, 3, padding = same, init = kaiming_uniform, bias_init = normal(0.5))
  y = y + linear(a, 8, init = xavier_normal, bias_init = uniform_fan_in)
  return y * parameter([8], init = ones)
}
"""


def _table(text, constants=None):
    graph = build_ok(text, constants)["m"]
    return {name: (p.init, p.fan_in, p.std) for name, p in graph.parameters}, graph


def test_each_scheme_resolves_to_a_draw_and_its_std():
    table, graph = _table(SCHEMES, {"n_layer": 4})
    assert table == {
        "embedding_0.weight": ("normal", 1, 0.02),
        "positional_embedding_0.weight": ("truncated_normal", 1, 0.01),
        "layernorm_0.weight": ("ones", 1, 1.0),  # bias = false: no layernorm_0.bias
        **{f"attention_0.{projection}.weight": ("normal", 8, 0.02) for projection in ("query", "key", "value")},
        "attention_0.out.weight": ("normal", 8, 0.02 / math.sqrt(8)),
        **{f"attention_0.{projection}.bias": ("zeros", 8, 1.0) for projection in ("query", "key", "value", "out")},
        "linear_0.weight": ("uniform", 8, 2 * math.sqrt(2 / (8 + 8))),
        "linear_0.bias": ("zeros", 8, 1.0),  # bias_init = auto with a non-default init
        "linear_1.weight": ("normal", 8, math.sqrt(2) / math.sqrt(8)),  # fan_out of [8, 8] is 8
        "conv1d_0.weight": ("uniform", 24, math.sqrt(2) / math.sqrt(24)),  # [8, 8, 3]: fan_in 8 * 3
        "conv1d_0.bias": ("normal", 24, 0.5),
        "linear_2.weight": ("normal", 8, math.sqrt(2 / 16)),
        "linear_2.bias": ("uniform_fan_in", 8, 1.0),
        "parameter_0.weight": ("ones", 1, 1.0),
    }
    lines = [emit_models.submodule_line(sub, "nn.ModuleList") for sub in module(graph, "M").submodules]
    assert "self.layernorm_0 = layers.LayerNorm(affine=True, bias=False, dim=8, eps=1e-05)" in lines
    assert "self.linear_0 = layers.Linear(bias=True, in_features=8, out_features=8)" in lines


def test_fans_follow_torch_for_convolutions_and_free_parameters():
    text = """\
model m(x: f32[B, T, 4]) -> f32[B, T, 6] {
  y = conv1d(x, 6, 3, padding = 1, groups = 2, init = xavier_normal) + conv_transpose1d(x, 6, 1, init = kaiming_normal(mode = fan_out))
  return y + parameter([1, 6], init = xavier_uniform)
}
"""
    table, _ = _table(text)
    # conv weight [6, 2, 3]: fan_in 2 * 3, fan_out 6 * 3 (torch ignores groups in fan_out)
    assert table["conv1d_0.weight"] == ("normal", 6, math.sqrt(2 / (6 + 18)))
    # transposed weight [4, 6, 1]: fan_out = shape[0] * 1 = 4
    assert table["conv_transpose1d_0.weight"] == ("normal", 6, math.sqrt(2) / math.sqrt(4))
    assert table["parameter_0.weight"] == ("uniform", 1, math.sqrt(2 / (6 + 1)))


def test_default_init_is_unchanged_pytorch():
    text = "model m(x: f32[B, 4], ids: i64[B]) -> f32[B, 3] {\n  return linear(x + embedding(ids, 5, 4), 3)\n}\n"
    table, _ = _table(text)
    assert table == {"embedding_0.weight": ("normal", 1, 1.0), "linear_0.weight": ("uniform_fan_in", 4, 1.0),
                     "linear_0.bias": ("uniform_fan_in", 4, 1.0)}


# ----------------------------------------------------------------------------- drawn values

LARGE = """\
model m(x: f32[B, 512]) -> f32[B, 512] {
  y = linear(x, 512, init = normal(std = 0.02 / (2 * n_layer) ** 0.5), bias = false)
  y = y + linear(x, 512, init = truncated_normal(std = 0.05), bias = false)
  y = y + linear(x, 512, init = xavier_uniform, bias = false)
  y = y + matmul(linear(x, 256, init = xavier_normal(gain = 0.5), bias = false), parameter([256, 512], init = ones))
  y = y + linear(x, 512, init = kaiming_uniform, bias = false)
  y = y + linear(x, 512, init = kaiming_normal(gain = 1, mode = fan_out), bias = false)
  return y + linear(x, 512, bias_init = normal(0.3))
}
"""


def test_drawn_standard_deviations_match_the_spec():
    """Each large layer (>= 131,072 values) is drawn with the standard deviation asked for
    (within 1.5%), uniform schemes stay inside sqrt(3) std, truncated ones inside 2 std."""
    graph = build_ok(LARGE, {"n_layer": 6})["m"]
    arrays = init.initialize(graph.parameters, seed=3)
    asked = {
        "linear_0.weight": 0.02 / math.sqrt(12),
        "linear_2.weight": math.sqrt(2 / 1024),
        "linear_3.weight": 0.5 * math.sqrt(2 / (512 + 256)),
        "linear_4.weight": math.sqrt(2) / math.sqrt(512),
        "linear_5.weight": 1 / math.sqrt(512),
        "linear_6.weight": 1 / math.sqrt(3 * 512),  # PyTorch's default U(+-1/sqrt(fan_in))
    }
    for name, std in asked.items():
        measured = float(np.std(arrays[name].astype(np.float64)))
        assert abs(measured / std - 1) < 0.015, (name, measured, std)
        assert abs(float(np.mean(arrays[name]))) < 0.02 * std
    for name in ("linear_2.weight", "linear_4.weight"):
        assert np.max(np.abs(arrays[name])) <= math.sqrt(3) * asked[name] * (1 + 1e-6)
    truncated = arrays["linear_1.weight"].astype(np.float64)
    assert np.max(np.abs(truncated)) <= 2 * 0.05 * (1 + 1e-6)
    assert np.max(np.abs(truncated)) > 1.99 * 0.05  # the tails are cut at 2 std, not narrowed
    # a normal truncated at +-2 has std sqrt(1 - 4 phi(2) / (2 Phi(2) - 1)) = 0.8796
    assert abs(float(np.std(truncated)) / (0.05 * 0.87962) - 1) < 0.015
    assert abs(float(np.std(arrays["linear_6.bias"])) / 0.3 - 1) < 0.15  # 512 values
    np.testing.assert_array_equal(arrays["parameter_0.weight"], np.ones((256, 512), np.float32))


def test_truncated_normal_is_deterministic_and_keyed_by_name():
    parameter = init.Parameter("weight", (64, 64), "truncated_normal", 1, 0.1)
    first = init.initialize([("a.weight", parameter), ("b.weight", parameter)], seed=0)
    again = init.initialize([("b.weight", parameter), ("a.weight", parameter)], seed=0)
    np.testing.assert_array_equal(first["a.weight"], again["a.weight"])
    assert not np.array_equal(first["a.weight"], first["b.weight"])


def test_uniform_needs_a_positive_std():
    with pytest.raises(ValueError, match=r"^initialize: std of 'w' must be positive, got 0.0$"):
        init.initialize([("w", init.Parameter("w", (2, 2), "uniform", 1, 0.0))], seed=0)


# ----------------------------------------------------------------------------- diagnostics


def _one(call: str) -> str:
    (diagnostic,) = rendered(f"model m(x: f32[B, 8]) -> f32[B, 8] {{\n  return {call}\n}}\n")
    return diagnostic


def _at(column: int, code: str, message: str, call: str, width: int, help: str | None = None) -> str:
    line = f"  return {call}"
    text = (f"m.mf:2:{column}: error[{code}]: {message}\n  |\n2 | {line}\n  | "
            + " " * (column - 1) + "^" * width)
    return text + (f"\nhelp: {help}" if help else "")


DIAGNOSTICS = [
    ("linear(x, 8, init = glorot_uniform)", 30, "E0609",
     "linear: argument `init` must be one of uniform_fan_in, zeros, ones, normal, truncated_normal, xavier_uniform, "
     "xavier_normal, kaiming_uniform, kaiming_normal, got the word `glorot_uniform`", 14,
     "`glorot_uniform` is called `xavier_uniform` here"),
    ("linear(x, 8, init = normal(-0.5))", 37, "E0609",
     "linear: `std` of `normal` must be a positive number, got the number -0.5", 4, None),
    ("linear(x, 8, init = xavier_normal(gain = true))", 51, "E0609",
     "linear: `gain` of `xavier_normal` must be a positive number, got the boolean true", 4, None),
    ("linear(x, 8, init = zeros(1))", 30, "E0609",
     "linear: `zeros` takes no arguments (write `init = zeros`)", 8, None),
    ("linear(x, 8, init = normal(0.1, 2))", 42, "E0609",
     "linear: `normal` takes at most one argument (std), got 2", 1, None),
    ("linear(x, 8, init = normal(sd = 1))", 37, "E0602", "linear: `normal` has no argument `sd`", 6,
     "did you mean `std`?"),
    ("linear(x, 8, init = kaiming_normal(mode = fan))", 52, "E0609",
     "linear: `mode` of `kaiming_normal` must be one of fan_in, fan_out, got the word `fan`", 3,
     "did you mean `fan_in`?"),
    ("linear(x, 8, bias = false, bias_init = zeros)", 49, "E0609",
     "linear: `bias_init = zeros` needs a bias, and this layer has `bias = false`", 5, None),
    ("linear(x, 8, bias_init = xavier_uniform)", 35, "E0609",
     "linear: argument `bias_init` must be one of auto, uniform_fan_in, zeros, ones, normal, truncated_normal, "
     "got the word `xavier_uniform`", 14, None),
    ("x + parameter([8], init = xavier_normal)", 36, "E0609",
     "parameter: `xavier_normal` needs an array of at least 2 axes to know its fans, got the shape [8]", 13, None),
    ("x + parameter([8], init = uniform_fan_in)", 36, "E0609",
     "parameter: argument `init` must be one of zeros, ones, normal, truncated_normal, xavier_uniform, "
     "xavier_normal, kaiming_uniform, kaiming_normal, got the word `uniform_fan_in`", 14, None),
]


@pytest.mark.parametrize("call, column, code, message, width, help", DIAGNOSTICS,
                         ids=[f"case{index}" for index in range(len(DIAGNOSTICS))])
def test_bad_init_arguments_are_exact_diagnostics(call, column, code, message, width, help):
    assert _one(call) == _at(column, code, message, call, width, help)
