"""Attention with a key mask and layer initialisers (``init``) on every backend.

A key mask ``[B, Tk]`` (True = attend) removes keys: row b of ``attention(x, mask = m)``
equals cross-attention of ``x[b]`` to the kept keys ``x[b, m[b]]`` only. Forward-mode AD
passes through the masked attention, and a query with no key to attend outputs 0 (before
the output projection) instead of NaN.
"""

from __future__ import annotations

import numpy as np
import pytest

from specc.compiler.ir import Parameter
from specc.runtime.init import initialize, layer_parameters
from specc.runtime.reference import layers as reference

from .test_layers import assert_close, build, f32, finite_difference, jvp

MASK = np.array([[True, False, True, True, False], [False, True, True, False, True]])


def _masked(backend, layer, x, mask, context=None):
    arrays = [backend.array(x), None if context is None else backend.array(context), backend.array(mask, dtype=bool)]
    return backend.numpy(layer(*arrays))


@pytest.mark.parametrize("causal", [False, True])
def test_masked_attention_matches_reference(backend, rng, causal):
    layer, arrays = build(backend, "MultiHeadAttention", rng, dim=8, num_heads=2, causal=causal)
    x = f32(rng.normal(size=(2, 5, 8)))
    mask = MASK | np.eye(5, dtype=bool)[[0, 1]]  # key 0 / 1 kept: every causal query sees a key
    assert_close(_masked(backend, layer, x, mask), reference.multi_head_attention(x, arrays, 2, causal, mask=mask))


def test_masked_keys_are_removed(backend, rng):
    """Row b attends exactly the kept keys: the same as cross-attention to ``x[b, mask[b]]``."""
    layer, arrays = build(backend, "MultiHeadAttention", rng, dim=4, num_heads=2)
    x = f32(rng.normal(size=(2, 5, 4)))
    actual = _masked(backend, layer, x, MASK)
    for row in range(2):
        kept = x[row : row + 1, MASK[row]]
        expected = reference.multi_head_attention(x[row : row + 1], arrays, 2, context=kept)
        assert_close(actual[row : row + 1], expected)


def test_mask_with_cross_attention(backend, rng):
    layer, arrays = build(backend, "MultiHeadAttention", rng, dim=4, num_heads=2)
    x, context = f32(rng.normal(size=(2, 3, 4))), f32(rng.normal(size=(2, 5, 4)))
    expected = reference.multi_head_attention(x, arrays, 2, context=context, mask=MASK)
    assert_close(_masked(backend, layer, x, MASK, context), expected)
    kept = reference.multi_head_attention(x[:1], arrays, 2, context=context[:1, MASK[0]])
    assert_close(expected[:1], kept, rtol=1e-10, atol=1e-12)


def test_query_without_keys_outputs_the_output_bias(backend, rng):
    """Causal + mask hiding key 0: query 0 has nothing to attend; its mixed value is 0, so
    the layer returns ``out.bias`` there (no NaN), and the other queries are finite."""
    layer, arrays = build(backend, "MultiHeadAttention", rng, dim=4, num_heads=2, causal=True)
    x = f32(rng.normal(size=(2, 5, 4)))
    actual = _masked(backend, layer, x, MASK)
    assert np.all(np.isfinite(actual))
    assert_close(actual[1, 0], arrays["out.bias"])
    assert not np.allclose(actual[0, 0], arrays["out.bias"])  # row 0 keeps key 0
    assert_close(actual, reference.multi_head_attention(x, arrays, 2, True, mask=MASK))


def test_jvp_through_masked_causal_attention(backend, rng):
    """Forward-mode AD through causal attention with a key mask (including a query with no
    key) matches a float64 central difference of the reference."""
    layer, arrays = build(backend, "MultiHeadAttention", rng, dim=4, num_heads=2, causal=True)
    mask = backend.array(MASK, dtype=bool)

    def model(x):
        return layer(x, None, mask)

    def expected(x):
        return reference.multi_head_attention(x, arrays, 2, True, mask=MASK)

    x, tangent = f32(rng.normal(size=(2, 5, 4))), f32(rng.normal(size=(2, 5, 4)))
    output, output_tangent = jvp(backend, model, (x,), (tangent,))
    assert_close(output, expected(x))
    assert np.all(np.isfinite(output_tangent))
    assert_close(output_tangent, finite_difference(expected, (x,), (tangent,)), rtol=1e-4, atol=1e-5)


def _gradient_of_sum_of_squares(backend, function, x):
    """d/dx sum(function(x)^2) with the backend's reverse mode."""
    if backend.name == "jax":
        import jax

        return backend.numpy(jax.grad(lambda value: (function(value) ** 2).sum())(backend.array(x)))
    if backend.name == "torch":
        value = backend.array(x).requires_grad_(True)
        (function(value) ** 2).sum().backward()
        return backend.numpy(value.grad)
    import mlx.core as mx

    return backend.numpy(mx.grad(lambda value: mx.sum(function(value) ** 2))(backend.array(x)))


def test_gradient_through_a_query_without_keys_is_finite(backend, rng):
    """Reverse mode through the same case: finite gradients equal to a float64 central
    difference of the reference (no NaN from the hidden row)."""
    layer, arrays = build(backend, "MultiHeadAttention", rng, dim=4, num_heads=2, causal=True)
    mask = backend.array(MASK, dtype=bool)
    x, direction = f32(rng.normal(size=(2, 5, 4))), f32(rng.normal(size=(2, 5, 4)))
    gradient = _gradient_of_sum_of_squares(backend, lambda value: layer(value, None, mask), x)
    assert np.all(np.isfinite(gradient))

    def loss(value):
        return np.sum(reference.multi_head_attention(value, arrays, 2, True, mask=MASK) ** 2)

    directional = finite_difference(loss, (x,), (direction,))
    assert np.isclose(np.sum(gradient * direction), directional, rtol=1e-4, atol=1e-5)


def test_mask_shape_error_is_identical(backend, rng):
    layer, _ = build(backend, "MultiHeadAttention", rng, dim=4, num_heads=2)
    x = backend.array(np.zeros((2, 5, 4)))
    message = r"^attention: mask must have shape \[batch, keys\] = \[2, 5\], got \[2, 4\]$"
    with pytest.raises(ValueError, match=message):
        layer(x, None, backend.array(np.ones((2, 4)), dtype=bool))


# ----------------------------------------------------------------------------- positions


@pytest.mark.parametrize("batched", [False, True])
def test_positions_and_their_sinusoidal_encoding(backend, batched):
    """``positions(x)`` is 0 .. T - 1 (``[T]``, or ``[B, T]`` when batched), an integer array,
    and ``sinusoidal`` encodes it as the reference does."""
    layers = backend.module("layers")
    x = backend.array(np.zeros((2, 5, 3)))
    counted = layers.positions(x, batched=batched)
    values = backend.numpy(counted)
    expected = np.tile(np.arange(5), (2, 1)) if batched else np.arange(5)
    np.testing.assert_array_equal(values, expected)
    assert values.dtype.kind == "i"
    assert_close(backend.numpy(layers.sinusoidal(counted, 6)), reference.sinusoidal(expected, 6))
    np.testing.assert_array_equal(reference.positions(np.zeros((2, 5, 3)), batched=batched), expected)
    np.testing.assert_array_equal(backend.numpy(layers.positions(x, axis=-1)), np.arange(3))


def test_positions_axis_error_is_identical(backend):
    layers = backend.module("layers")
    message = r"^positions: batched = True repeats the positions over axis 0, so axis must name another axis$"
    with pytest.raises(ValueError, match=message):
        layers.positions(backend.array(np.zeros((2, 5))), axis=0, batched=True)


# ----------------------------------------------------------------------------- init


INIT_CASES = {
    "Linear": dict(in_features=3, out_features=4),
    "Conv1d": dict(in_channels=4, out_channels=6, kernel_size=3, groups=2),
    "Conv2d": dict(in_channels=2, out_channels=3, kernel_size=(3, 1), bias=False),
    "ConvTranspose1d": dict(in_channels=4, out_channels=2, kernel_size=4, stride=2),
}


def test_layer_parameters_with_init():
    assert layer_parameters("Linear", in_features=3, out_features=4, init="zeros") == (
        Parameter("weight", (4, 3), "zeros", 3),
        Parameter("bias", (4,), "zeros", 3),
    )
    assert layer_parameters("ConvTranspose1d", in_channels=4, out_channels=2, kernel_size=4, init="ones") == (
        Parameter("weight", (4, 2, 4), "ones", 8),
        Parameter("bias", (2,), "zeros", 8),
    )
    assert layer_parameters("Conv1d", in_channels=2, out_channels=2, kernel_size=1) == layer_parameters(
        "Conv1d", in_channels=2, out_channels=2, kernel_size=1, init="uniform_fan_in"
    )


def test_initialize_zero_and_one_layers():
    parameters = [(f"head.{p.name}", p) for p in layer_parameters("Linear", in_features=3, out_features=2, init="ones")]
    arrays = initialize(parameters, seed=7)
    np.testing.assert_array_equal(arrays["head.weight"], np.ones((2, 3), np.float32))
    np.testing.assert_array_equal(arrays["head.bias"], np.zeros((2,), np.float32))


@pytest.mark.parametrize(
    "arguments, message",
    [
        (dict(init="xavier"), r"^Linear: init must be one of 'uniform_fan_in', 'zeros', 'ones', got 'xavier'$"),
        (dict(init="zeros", weight_norm=True), r"^Conv1d: init = 'zeros' cannot be combined with weight_norm$"),
    ],
)
def test_init_errors(arguments, message):
    kind = "Conv1d" if "weight_norm" in arguments else "Linear"
    base = dict(in_channels=2, out_channels=2, kernel_size=1) if kind == "Conv1d" else dict(in_features=2, out_features=2)
    with pytest.raises(ValueError, match=message):
        layer_parameters(kind, **base, **arguments)


@pytest.mark.parametrize("kind", sorted(INIT_CASES))
def test_constructors_take_init(backend, kind):
    """Every backend's constructor accepts ``init`` and builds the table zero-filled; with the
    initialised arrays loaded, ``init = zeros`` gives an output of exactly 0."""
    arguments = dict(INIT_CASES[kind], init="zeros")
    layer = getattr(backend.module("layers"), kind)(**arguments)
    table = layer_parameters(kind, **arguments)
    state = backend.module("state")
    arrays = initialize([(p.name, p) for p in table], seed=0)
    state.load_state_dict(layer, arrays)
    channels = arguments.get("in_features") or arguments["in_channels"]
    shape = (2, 6, channels) if kind != "Conv2d" else (2, 6, 5, channels)
    output = backend.numpy(layer(backend.array(np.random.default_rng(0).normal(size=shape))))
    assert output.size and np.all(output == 0.0)


# ----------------------------------------------------------------------------- generated model code


GRAPH = """\
model m(x: f32[B, 6, 8], keep: bool[B, 6], image: f32[B, 8, 6, 2]) -> (f32[B, 6, 8], f32[B, 4, 3, 3]) {
  h = x + sinusoidal(positions(x), 8)
  h = attention(h, 2, causal = true, mask = keep)
  h = h + linear(elu(h), 8, init = zeros) + attention(h, 2, context = x, mask = keep)
  return h, max_pool2d(conv2d(image, 3, 3, padding = 1, init = ones), 2)
}
"""
EMIT_BACKENDS = {"jax": "jax", "torch": "lightning", "mlx": "mlx"}


def test_generated_model_classes_run_the_new_layers(backend):
    """The model classes as the templates render them (``common/model.j2``) run the mask,
    ``init``, ``elu``, ``max_pool2d`` and ``positions`` on each backend and agree with the
    numpy interpreter of the IR."""
    from specc.compiler.emit import render as emit
    from specc.compiler.emit import models as emit_models
    from tests.graphs.helpers import build_ok
    from tests.graphs.interpreter import run as interpret

    graph = build_ok(GRAPH)["m"]
    table = emit.get_backend(EMIT_BACKENDS[backend.name])
    view = emit_models.model_view(graph, table.module_list)
    source = emit.environment().get_template("common/model.j2").module.model_classes(view, table)
    namespace: dict = {}
    runtime = f"from specc.runtime.{backend.name} import layers, preprocess, state"
    exec("\n".join(table.imports + (runtime,)) + "\n" + source, namespace)  # noqa: S102 - generated by specc
    model = namespace[view["root"]]()
    arrays = initialize(graph.parameters, seed=3)
    namespace["state"].load_state_dict(model, arrays)
    generator = np.random.default_rng(4)
    keep = np.ones((2, 6), bool)
    keep[1, 4:] = False
    inputs = {"x": f32(generator.normal(size=(2, 6, 8))), "keep": keep, "image": f32(generator.normal(size=(2, 8, 6, 2)))}
    outputs = model(*[backend.array(inputs[name], dtype=bool if name == "keep" else None) for name in ("x", "keep", "image")])
    expected = interpret(graph, inputs, {"B": 2}, seed=3)
    for actual, wanted in zip(outputs, expected):
        assert_close(backend.numpy(actual), wanted)
