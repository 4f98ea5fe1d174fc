"""``PositionalEmbedding(max_length, dim)``: parity with ``reference.positional_embedding`` on
jax, torch and mlx (eager, ``jax.jit``, ``mx.compile``), forward-mode AD with tangents on the
input and on the table, identical error text, and a causal LM block
(embedding -> positions -> causal attention -> linear)."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from specc.runtime import init
from specc.runtime.reference import layers as reference

from .conftest import BACKENDS, _load
from .test_layers import assert_close, build, f32, finite_difference, jvp


def compiled(backend, function):
    """``jax.jit`` / ``mx.compile`` of ``function``; torch runs eagerly."""
    if backend.name == "jax":
        import jax

        return jax.jit(function)
    if backend.name == "mlx":
        import mlx.core as mx

        return mx.compile(function)
    return function


def with_table(backend, layer):
    """``apply(x, weight)``: the layer's forward with its table replaced (for AD)."""
    if backend.name == "torch":
        import torch.func

        return lambda x, weight: torch.func.functional_call(layer, {"weight": weight}, (x,))
    if backend.name == "jax":
        from flax import nnx

        import jax

        graph, state = nnx.split(layer)

        def apply(x, weight):  # the only leaf of the state is the table
            return nnx.merge(graph, jax.tree.map(lambda _: weight, state))(x)

        return apply

    def assign(x, weight):
        layer.weight = weight
        return layer(x)

    return assign


@pytest.mark.parametrize("steps", [1, 5, 8])
@pytest.mark.parametrize("mode", ["eager", "compiled"])
def test_matches_reference(backend, rng, steps, mode):
    layer, arrays = build(backend, "PositionalEmbedding", rng, max_length=8, dim=4)
    x = f32(rng.normal(size=(3, steps, 4)))
    function = (lambda value: layer(value)) if mode == "eager" else compiled(backend, lambda value: layer(value))
    output = backend.numpy(function(backend.array(x)))
    expected = reference.positional_embedding(x, arrays["weight"])
    assert_close(output, expected)
    # every batch row gets the same table rows
    assert_close(output - x, np.broadcast_to(arrays["weight"][:steps], (3, steps, 4)), atol=1e-6)


def test_reference_is_x_plus_the_first_rows():
    x = np.arange(2 * 3 * 2, dtype=np.float64).reshape(2, 3, 2)
    weight = np.array([[10.0, 20.0], [30.0, 40.0], [50.0, 60.0], [70.0, 80.0]])
    expected = x + np.array([[10.0, 20.0], [30.0, 40.0], [50.0, 60.0]])
    np.testing.assert_array_equal(reference.positional_embedding(x, weight), expected)


def test_jvp_matches_finite_differences(backend, rng):
    layer, arrays = build(backend, "PositionalEmbedding", rng, max_length=6, dim=4)
    x, x_tangent = f32(rng.normal(size=(2, 5, 4))), f32(rng.normal(size=(2, 5, 4)))
    weight_tangent = f32(rng.normal(size=(6, 4)))
    primals, tangents = (x, arrays["weight"]), (x_tangent, weight_tangent)
    output, tangent = jvp(backend, with_table(backend, layer), primals, tangents)
    assert_close(output, reference.positional_embedding(*primals))
    expected = finite_difference(reference.positional_embedding, primals, tangents)
    assert_close(tangent, expected, rtol=1e-4, atol=1e-5)
    # only the first T rows of the table reach the output
    assert_close(tangent, x_tangent + weight_tangent[:5], rtol=1e-5)


def causal_block(backend, rng, vocabulary=11, max_length=8, dim=4):
    """embedding -> positional embedding -> causal attention (residual) -> linear."""
    embed, embed_arrays = build(backend, "Embedding", rng, num_embeddings=vocabulary, dim=dim)
    positions, position_arrays = build(backend, "PositionalEmbedding", rng, max_length=max_length, dim=dim)
    attend, attend_arrays = build(backend, "MultiHeadAttention", rng, dim=dim, num_heads=2, causal=True)
    head, head_arrays = build(backend, "Linear", rng, in_features=dim, out_features=vocabulary)

    def hidden(h):
        return head(h + attend(h))

    def model(ids):
        return hidden(positions(embed(ids)))

    def expected_hidden(h):
        h = h + reference.multi_head_attention(h, attend_arrays, 2, causal=True)
        return reference.linear(h, head_arrays["weight"], head_arrays["bias"])

    def expected(ids):
        h = reference.embedding(ids, embed_arrays["weight"])
        return expected_hidden(reference.positional_embedding(h, position_arrays["weight"]))

    return model, expected, positions, hidden, expected_hidden


def test_causal_block_compiled_matches_reference(backend, rng):
    model, expected, _, _, _ = causal_block(backend, rng)
    ids = rng.integers(0, 11, size=(2, 6))
    output = backend.numpy(compiled(backend, model)(backend.array(ids, np.int32)))
    assert_close(output, expected(ids), rtol=1e-4, atol=1e-5)


def test_causal_block_jvp_through_positions(backend, rng):
    _, _, positions, hidden, expected_hidden = causal_block(backend, rng)
    table = with_table(backend, positions)
    x, x_tangent = f32(rng.normal(size=(2, 6, 4))), f32(rng.normal(size=(2, 6, 4)))
    weight = f32(rng.normal(size=(8, 4)))
    weight_tangent = f32(rng.normal(size=(8, 4)))

    def model(h, w):
        return hidden(table(h, w))

    def expected(h, w):
        return expected_hidden(reference.positional_embedding(h, w))

    output, tangent = jvp(backend, model, (x, weight), (x_tangent, weight_tangent))
    assert_close(output, expected(x, weight), rtol=1e-4, atol=1e-5)
    finite = finite_difference(expected, (x, weight), (x_tangent, weight_tangent))
    assert_close(tangent, finite, rtol=1e-4, atol=1e-4)


CALL_ERRORS = {
    "too_long": (
        (2, 9, 4),
        r"^PositionalEmbedding: input of shape \[2, 9, 4\] has 9 positions but max_length is 8$",
    ),
    "channels": (
        (2, 3, 5),
        r"^PositionalEmbedding: expected 4 channels on the last axis, got input of shape \[2, 3, 5\]$",
    ),
    "rank": ((3, 4), r"^PositionalEmbedding: input must have 3 axes, got shape \[3, 4\]$"),
}


@pytest.mark.parametrize("case", sorted(CALL_ERRORS))
@pytest.mark.parametrize("mode", ["eager", "compiled"])
def test_call_errors_are_identical(backend, case, mode):
    shape, message = CALL_ERRORS[case]
    layer = backend.module("layers").PositionalEmbedding(8, 4)
    function = (lambda value: layer(value)) if mode == "eager" else compiled(backend, lambda value: layer(value))
    with pytest.raises(ValueError, match=message) as expected:
        reference.positional_embedding(np.zeros(shape), np.zeros((8, 4)))
    with pytest.raises(ValueError) as raised:
        function(backend.array(np.zeros(shape)))
    # str() is the message itself; jax.jit only attaches a traceback note (__notes__)
    assert str(raised.value) == str(expected.value)


@pytest.mark.parametrize(
    "arguments, message",
    [
        (dict(max_length=0, dim=4), r"^PositionalEmbedding: max_length must be a positive integer, got 0$"),
        (dict(max_length=8, dim=2.5), r"^PositionalEmbedding: dim must be a positive integer, got 2.5$"),
    ],
)
def test_constructor_errors_are_identical(backend, arguments, message):
    with pytest.raises(ValueError, match=message):
        init.layer_parameters("PositionalEmbedding", **arguments)
    with pytest.raises(ValueError, match=message):
        backend.module("layers").PositionalEmbedding(**arguments)


def test_parameter_table_and_zero_filled_construction(backend):
    (parameter,) = init.layer_parameters("PositionalEmbedding", max_length=8, dim=4)
    assert (parameter.name, tuple(parameter.shape), parameter.init, parameter.fan_in) == ("weight", (8, 4), "normal", 1)
    arrays = backend.module("state").state_dict(backend.module("layers").PositionalEmbedding(8, 4))
    assert list(arrays) == ["weight"] and arrays["weight"].shape == (8, 4) and not arrays["weight"].any()


def test_initialised_table_gives_the_same_output_on_every_backend():
    (parameter,) = init.layer_parameters("PositionalEmbedding", max_length=6, dim=3)
    arrays = init.initialize([("weight", parameter)], seed=5)
    assert abs(float(np.std(arrays["weight"])) - 1.0) < 0.6  # drawn from N(0, 1), not zeros
    x = np.random.default_rng(2).normal(size=(2, 4, 3)).astype(np.float32)
    expected = reference.positional_embedding(x.astype(np.float64), arrays["weight"].astype(np.float64))
    for name in BACKENDS:
        backend = _load(name)
        layer = backend.module("layers").PositionalEmbedding(6, 3)
        backend.module("state").load_state_dict(layer, arrays)
        assert_close(backend.numpy(layer(backend.array(x))), expected)


def test_signatures_are_identical_across_backends():
    signatures = set()
    for name in BACKENDS:
        cls = _load(name).module("layers").PositionalEmbedding
        signatures.add(tuple((p.name, p.default) for p in inspect.signature(cls.__init__).parameters.values()))
    assert signatures == {(("self", inspect.Parameter.empty), ("max_length", inspect.Parameter.empty),
                           ("dim", inspect.Parameter.empty))}
    assert list(inspect.signature(reference.positional_embedding).parameters) == ["x", "weight"]
