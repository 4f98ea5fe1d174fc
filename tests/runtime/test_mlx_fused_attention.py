"""Fused attention on MLX: ``attention`` runs ``mx.fast.scaled_dot_product_attention`` with
the written-out path's results (causal triangle top-left, boolean key mask, a query with no
key to attend giving 0 with zero gradients), ``mx.jvp`` and ``mx.vjp`` pass through it (the
mean-flow objectives), and a dropout on the attention weights in training keeps the
written-out path.

The written-out path is reached here by passing an identity ``dropout`` callable (any
callable on the weights keeps it), the numpy oracle is ``reference.attention``.
"""

from __future__ import annotations

import numpy as np
import pytest

mx = pytest.importorskip("mlx.core")

from specc.runtime.mlx import functions, layers, losses, state
from specc.runtime.reference import layers as reference
from specc.runtime.reference import losses as reference_losses

from tests.runtime.attention_cases import HEADS, KEY_MASK, PARTIAL_MASK, identity
from tests.runtime.test_layers import assert_close, f32, finite_difference, random_arrays



@pytest.fixture
def fused_calls(monkeypatch):
    """Every call of ``mx.fast.scaled_dot_product_attention`` (its ``mask``), counted."""
    calls = []
    original = mx.fast.scaled_dot_product_attention

    def counting(*arguments, **keywords):
        calls.append(keywords.get("mask"))
        return original(*arguments, **keywords)

    monkeypatch.setattr(mx.fast, "scaled_dot_product_attention", counting)
    return calls


def _arrays(*values, dtype=mx.float32):
    return [mx.array(np.asarray(value, np.float32)).astype(dtype) for value in values]


def _numpy(array):
    return np.array(array.astype(mx.float32))


def _inputs(rng, query_steps=5, key_steps=5, dim=8, batch=2):
    q = f32(rng.normal(size=(batch, query_steps, dim)))
    k, v = (f32(rng.normal(size=(batch, key_steps, dim))) for _ in range(2))
    return q, k, v


CASES = {
    "plain": (False, None),
    "causal": (True, None),
    "key mask": (False, PARTIAL_MASK),
    "causal and key mask": (True, PARTIAL_MASK),
    "fully masked rows": (True, KEY_MASK),
}


@pytest.mark.parametrize("case", list(CASES))
def test_fused_path_runs_the_kernel_and_equals_the_written_out_path(rng, fused_calls, case):
    causal, mask = CASES[case]
    q, k, v = _inputs(rng)
    mask_array = None if mask is None else mx.array(mask)
    arrays = _arrays(q, k, v)
    fused = _numpy(functions.attention(*arrays, HEADS, causal, mask_array))
    assert len(fused_calls) == 1
    # causal alone is the kernel's own "causal", a key mask a boolean array
    expected_mask = ("causal" if causal else None) if mask is None else "array"
    seen = fused_calls[0] if fused_calls[0] is None or isinstance(fused_calls[0], str) else "array"
    assert seen == expected_mask
    written_out = _numpy(functions.attention(*arrays, HEADS, causal, mask_array, identity))
    assert len(fused_calls) == 1
    assert_close(fused, written_out, rtol=1e-5, atol=1e-6)
    assert_close(fused, reference.attention(q, k, v, HEADS, causal, mask), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("query_steps, key_steps", [(3, 5), (5, 3)])
def test_causal_cross_attention_keeps_the_top_left_triangle(rng, fused_calls, query_steps, key_steps):
    """MLX's "causal" aligns the triangle bottom-right; with other lengths the fused path
    passes the top-left triangle as a boolean mask."""
    q, k, v = _inputs(rng, query_steps, key_steps)
    fused = _numpy(functions.attention(*_arrays(q, k, v), HEADS, True))
    assert len(fused_calls) == 1 and not isinstance(fused_calls[0], str)
    assert_close(fused, reference.attention(q, k, v, HEADS, True), rtol=1e-5, atol=1e-6)


def _output_and_gradients(q, k, v, mask, dropout=None):
    def loss(query, key, value):
        output = functions.attention(query, key, value, HEADS, True, mx.array(mask), dropout)
        return mx.sum(output**2), output

    (_, output), gradients = mx.value_and_grad(loss, argnums=(0, 1, 2))(*_arrays(q, k, v))
    return _numpy(output), [_numpy(gradient) for gradient in gradients]


def test_a_query_without_keys_outputs_zero_with_the_written_out_gradients(rng, fused_calls):
    q, k, v = _inputs(rng)
    output, gradients = _output_and_gradients(q, k, v, KEY_MASK)
    assert len(fused_calls) == 1
    assert np.all(output[1] == 0.0) and np.all(output[0, 0] == 0.0)
    assert not np.allclose(output[0, 1:], 0.0)
    written_output, written_gradients = _output_and_gradients(q, k, v, KEY_MASK, identity)
    assert_close(output, written_output)
    for gradient, expected in zip(gradients, written_gradients):
        assert np.all(np.isfinite(gradient))
        assert_close(gradient, expected, rtol=1e-5, atol=1e-6)
    assert np.all(gradients[0][1] == 0.0) and np.all(gradients[0][0, 0] == 0.0)  # queries
    assert np.all(gradients[2][1] == 0.0)  # values nobody attends


def test_a_kernel_that_returns_nan_for_rows_without_keys_changes_nothing(rng, monkeypatch):
    """A kernel that masks with -inf gives NaN where every key is masked; the fused path
    never hands the kernel such a row, so output and gradients stay the written-out ones."""

    def nan_kernel(query, key, value, *, scale, mask=None):
        assert mask is not None and not isinstance(mask, str)
        scores = mx.matmul(query, key.transpose(0, 1, 3, 2)) * scale
        weights = mx.softmax(mx.where(mask, scores, -mx.inf), axis=-1)
        return mx.matmul(weights, value)

    q, k, v = _inputs(rng)
    written_output, written_gradients = _output_and_gradients(q, k, v, KEY_MASK, identity)
    monkeypatch.setattr(mx.fast, "scaled_dot_product_attention", nan_kernel)
    output, gradients = _output_and_gradients(q, k, v, KEY_MASK)
    assert_close(output, written_output)
    for gradient, expected in zip(gradients, written_gradients):
        assert_close(gradient, expected, rtol=1e-5, atol=1e-6)


def test_bfloat16_fused_path_agrees_within_bfloat16_rounding(rng, fused_calls):
    q, k, v = _inputs(rng)
    mask = mx.array(PARTIAL_MASK)
    arrays = _arrays(q, k, v, dtype=mx.bfloat16)
    fused = functions.attention(*arrays, HEADS, True, mask)
    assert fused.dtype == mx.bfloat16 and len(fused_calls) == 1
    written_out = functions.attention(*arrays, HEADS, True, mask, identity)
    expected = reference.attention(q, k, v, HEADS, True, PARTIAL_MASK)
    assert_close(_numpy(fused), expected, rtol=2e-2, atol=2e-2)
    assert_close(_numpy(fused), _numpy(written_out), rtol=3e-2, atol=3e-2)


def _expected(mask):
    return lambda query, key, value: reference.attention(query, key, value, HEADS, True, mask)


@pytest.mark.parametrize("mask", [None, KEY_MASK], ids=["causal", "causal and key mask"])
def test_jvp_passes_through_the_fused_path_with_exact_tangents(rng, fused_calls, mask):
    q, k, v = _inputs(rng)
    tangents = _inputs(np.random.default_rng(1))
    mask_array = None if mask is None else mx.array(mask)

    def function(query, key, value):
        return functions.attention(query, key, value, HEADS, True, mask_array)

    (output,), (tangent,) = mx.jvp(function, _arrays(q, k, v), _arrays(*tangents))
    assert len(fused_calls) == 1
    assert_close(_numpy(output), reference.attention(q, k, v, HEADS, True, mask))
    expected = finite_difference(_expected(mask), (q, k, v), tangents)
    assert_close(_numpy(tangent), expected, rtol=1e-4, atol=1e-5)
    written_out = mx.jvp(
        lambda *values: functions.attention(*values, HEADS, True, mask_array, identity),
        _arrays(q, k, v),
        _arrays(*tangents),
    )[1][0]
    assert_close(_numpy(tangent), _numpy(written_out), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mask", [None, KEY_MASK], ids=["causal", "causal and key mask"])
def test_the_fused_path_compiles_with_the_same_results(rng, mask):
    q, k, v = _inputs(rng)
    mask_array = None if mask is None else mx.array(mask)

    def function(query, key, value):
        return functions.attention(query, key, value, HEADS, True, mask_array)

    output = _numpy(mx.compile(function)(*_arrays(q, k, v)))
    assert_close(output, reference.attention(q, k, v, HEADS, True, mask), rtol=1e-5, atol=1e-6)


def _attention_layer(rng, dropout=0.0):
    arrays = random_arrays("MultiHeadAttention", rng, dim=8, num_heads=HEADS, causal=True, dropout=dropout)
    layer = layers.MultiHeadAttention(8, HEADS, causal=True, dropout=dropout)
    state.load_state_dict(layer, arrays)
    return layer, arrays


def test_attention_dropout_in_training_keeps_the_written_out_path(rng, fused_calls):
    layer, arrays = _attention_layer(rng, dropout=0.5)
    x = f32(rng.normal(size=(2, 6, 8)))
    layer.train()
    state.seed_dropout(layer, 3)
    dropped = _numpy(layer(*_arrays(x)))
    assert fused_calls == []
    layer.eval()  # the Dropout layer is the identity: the fused kernel
    evaluated = _numpy(layer(*_arrays(x)))
    assert len(fused_calls) == 1
    assert_close(evaluated, reference.multi_head_attention(x, arrays, HEADS, causal=True))
    assert not np.allclose(dropped, evaluated, atol=1e-4)


def test_mean_flow_loss_through_causal_attention_matches_the_reference(rng, fused_calls):
    """The mean-flow objective's jvp passes through the fused kernel and its loss and
    gradients are finite and equal the numpy oracle's (central-difference jvp)."""
    layer, arrays = _attention_layer(rng)
    x, noise = (f32(rng.normal(size=(2, 5, 8))) for _ in range(2))
    t, r = f32([0.7, 0.4]), f32([0.2, 0.1])

    def mlx_model(z, time, gap):
        return layer(z * (1.0 + time[:, None, None]) + gap[:, None, None])

    def numpy_model(z, time, gap):
        shifted = z * (1.0 + time[:, None, None]) + gap[:, None, None]
        return reference.multi_head_attention(shifted, arrays, HEADS, causal=True)

    loss, _ = losses.mean_flow_loss(mlx_model, *_arrays(x, noise, t, r))
    expected, _ = reference_losses.mean_flow_loss(numpy_model, x, noise, t, r)
    assert len(fused_calls) >= 1
    assert np.isclose(loss.item(), expected, rtol=1e-4, atol=1e-6)

    def parameter_loss(parameters):
        layer.update(parameters)
        return losses.mean_flow_loss(mlx_model, *_arrays(x, noise, t, r))[0]

    gradients = mx.grad(parameter_loss)(layer.trainable_parameters())
    flat = [value for _, module in gradients.items() for value in module.values()]
    assert flat and all(np.all(np.isfinite(_numpy(value))) for value in flat)
