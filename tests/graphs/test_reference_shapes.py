"""Shape inference and the registry agree with the runtime: every inferred type matches the
array the numpy reference computes, and every layer's parameters and constructor arguments
match ``specc.runtime.init.layer_parameters``."""

import numpy as np
import pytest

from specc.compiler import ir
from specc.compiler.vocabulary import layers
from specc.runtime import init

from tests.graphs.helpers import build_ok
from tests.graphs.interpreter import run

EVERY_OP = """\
model ops(x: f32[B, T, 8], t: f32[B]) -> f32[B, 8] {
  a = gelu(x) + relu(x) - silu(x) * tanh(x) / (sigmoid(x) + 1)
  a = leaky_relu(a, negative_slope = 0.2) + exp(-abs(a)) + log(abs(a) + 1) + sqrt(abs(a)) ** 2
  a = gelu(a, approximate = tanh) // 1 + a % 2
  s = softmax(a, axis = 1)
  m = mean(s, axis = [1, 2], keepdims = true) + sum(s, axis = 1, keepdims = true)
  g = matmul(swapaxes(a, 1, 2), a)
  first, second = split(a, 2)
  joined = concat([second, first], axis = -1)
  moved = transpose(joined, [0, 2, 1])
  flat = flatten(pad(moved, 1, 2, mode = reflect))
  pooled = max_pool1d(avg_pool1d(a, 2, padding = 1), 3, stride = 1)
  pictures = avg_pool2d(reshape(a, [-1, 2, 4, 1]), [2, 1])  # [B * T, 1, 4, 1]
  peaks = max_pool2d(elu(reshape(a, [-1, 2, 4, 1]), alpha = 0.5), [2, 3], stride = 1, padding = [1, 1])  # [B * T, 3, 4, 1]
  time = sinusoidal(t, 8) + mean(sinusoidal(positions(x), 8), axis = 0)
  chosen = where(cast(a, bool) and not (a >= 1), a, -1.0) * cast(x > 0, f32) + cast(cast(a, i64), f32)
  return mean(pooled, axis = 1) + mean(g, axis = 1) + time + mean(chosen, axis = 1)
}
"""


def test_every_op_matches_the_reference():
    graph = build_ok(EVERY_OP)["ops"]
    generator = np.random.default_rng(0)
    for length in (6, 9):
        inputs = {"x": generator.normal(size=(2, length, 8)), "t": generator.uniform(size=(2,))}
        (output,) = run(graph, inputs, {"B": 2, "T": length})
        assert output.shape == (2, 8)


EVERY_LAYER = """\
block encoder(x: [B, T, C], width: int) -> [B, T, width] {
  h = conv1d(x, width, 3, padding = same, padding_mode = reflect, weight_norm = true)
  h = groupnorm(h, 2) + conv1d(h, width, 5, padding = 4, dilation = 2, groups = 2)
  return rmsnorm(h)
}
model layers_model(x: f32[B, 24, 4], ids: i64[B, 6], signal: f32[B, 64], keep: bool[B, 6]) -> (f32[B, 6, 16], list) {
  h = encoder(x, width = 8)
  up = conv_transpose1d(h, 4, 4, stride = 2, padding = 1, weight_norm = true)
  picture = conv2d(reshape(up, [-1, 12, 4, 4]), 6, [3, 1], stride = [2, 1], padding = [1, 0], bias = false)
  tokens = attention(layernorm(embedding(ids, 20, 16)), 4, causal = true, mask = keep)
  tokens = attention(tokens, 2, context = linear(up, 16, init = zeros))
  tokens = tokens + conv1d(tokens, 16, 3, padding = same, init = ones, bias = false)
  tokens = dropout(tokens, 0.1) + reshape(linear(mean(picture, axis = [1, 2]), 16, bias = false), [-1, 1, 16])
  tokens = gaussian_sample(tokens, tokens * 0.5) + parameter([1, 16], init = normal(0.1))
  spectrum = stft(signal, 16, 4)
  magnitude = complex_magnitude(spectrum, eps = 1e-6)
  mel = mel_spectrogram(signal, 8000, 16, 4, 5)
  coefficients = mdct(signal, 16)
  back = imdct(coefficients * 2, 64) + merge_patches(reshape_patches(signal, 10), 64) + mean(mean(complex_power(spectrum)), keepdims = true)
  return tokens, [magnitude, mel, up, back]
}
"""


def test_every_layer_matches_the_reference():
    graph = build_ok(EVERY_LAYER)["layers_model"]
    assert graph.output_structure == (None, 4)
    generator = np.random.default_rng(1)
    inputs = {"x": generator.normal(size=(2, 24, 4)), "ids": generator.integers(0, 20, size=(2, 6)),
              "signal": generator.normal(size=(2, 64)), "keep": generator.uniform(size=(2, 6)) > 0.3}
    outputs = run(graph, inputs, {"B": 2})
    assert [o.shape for o in outputs] == [(2, 6, 16), (2, 17, 9), (2, 17, 5), (2, 48, 4), (2, 64)]


@pytest.mark.parametrize("text, name", [(EVERY_LAYER, "layers_model"), (EVERY_OP, "ops")])
def test_parameters_and_arguments_match_the_runtime(text, name):
    graph = build_ok(text)[name]
    for module in graph.modules:
        for submodule in module.submodules:
            if isinstance(submodule, ir.Layer):
                expected = init.layer_parameters(submodule.kind, **dict(submodule.arguments))
                assert [(p.name, tuple(p.shape), p.init, p.fan_in, p.std) for p in expected] == [
                    (p.name, p.shape, p.init, p.fan_in, p.std) for p in submodule.parameters], submodule


def test_registry_describes_every_entry():
    described = layers.describe()
    assert {entry["name"] for entry in described} == set(layers.ENTRIES)
    for entry in described:
        assert entry["doc"] and entry["shape"] and entry["backends"] == ["jax", "lightning", "mlx"]
        first = entry["arguments"][0]["type"]  # a random primitive (time samplers) takes its shape first
        assert first in ("tensor", "tensors") or entry["name"] in ("parameter", "buffer") or (first == "shape" and layers.ENTRIES[entry["name"]].draws)
    assert layers.runtime_module("stft") == "preprocess" and layers.runtime_module("gelu") == "layers"
    assert layers.takes_tensor_list("concat") and not layers.takes_tensor_list("split")
