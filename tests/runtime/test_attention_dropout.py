"""Dropout on the attention weights: ``attention(..., dropout=f)`` applies ``f`` to the
softmax output (after the causal and key masks) on every backend as the numpy reference
does, and ``MultiHeadAttention(dropout=p)`` is the identity in evaluation, seeded and
reproducible in training, and keeps the causal mask."""

from __future__ import annotations

import numpy as np
import pytest
from specc.runtime.init import layer_parameters
from specc.runtime.reference import layers as reference

from tests.runtime.test_layers import assert_close, build, f32, run


def test_the_dropout_function_sees_the_masked_softmax_weights(backend, rng):
    batch, steps, dim, heads = 2, 5, 8, 2
    q, k, v = (f32(rng.normal(size=(batch, steps, dim))) for _ in range(3))
    keep = rng.uniform(size=(batch, heads, steps, steps)) > 0.4
    scale = f32(keep / 0.6)
    key_mask = np.ones((batch, steps), bool)
    key_mask[1, 3:] = False
    seen = {}

    def backend_dropout(weights):
        seen["weights"] = backend.numpy(weights)
        return weights * backend.array(scale)

    actual = backend.numpy(
        backend.module("layers").attention(
            *(backend.array(value) for value in (q, k, v)),
            heads,
            True,
            backend.array(key_mask),
            backend_dropout,
        )
    )
    expected = reference.attention(q, k, v, heads, True, key_mask, lambda weights: weights * scale)
    assert_close(actual, expected)
    plain = reference.attention(q, k, v, heads, True, key_mask)
    assert not np.allclose(expected, plain)
    # what the function received: rows of softmax weights, zero where causal or the mask hides a key
    weights = seen["weights"]
    assert weights.shape == (batch, heads, steps, steps)
    assert np.all(weights[:, :, np.triu_indices(steps, 1)[0], np.triu_indices(steps, 1)[1]] == 0)
    assert np.all(weights[1, :, :, 3:] == 0)
    np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-5)


def _attention(backend, rng, rate):
    return build(backend, "MultiHeadAttention", rng, dim=8, num_heads=2, causal=True, dropout=rate)


def test_attention_dropout_is_the_identity_in_evaluation(backend, rng):
    layer, arrays = _attention(backend, rng, 0.5)
    assert sorted(backend.module("state").state_dict(layer)) == sorted(arrays)  # no parameters of its own
    layer.eval()
    x = f32(rng.normal(size=(2, 6, 8)))
    assert_close(run(backend, layer, x), reference.multi_head_attention(x, arrays, 2, causal=True))


def test_attention_dropout_in_training_is_seeded_and_causal(backend, rng):
    layer, arrays = _attention(backend, rng, 0.5)
    layer.train()
    state = backend.module("state")
    x = f32(rng.normal(size=(2, 6, 8)))
    changed = x.copy()
    changed[:, -1] += 5.0
    state.seed_dropout(layer, 3)
    first = backend.numpy(layer(backend.array(x)))
    state.seed_dropout(layer, 3)
    again = backend.numpy(layer(backend.array(x)))
    state.seed_dropout(layer, 3)
    moved = backend.numpy(layer(backend.array(changed)))
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, reference.multi_head_attention(x, arrays, 2, causal=True), atol=1e-4)
    np.testing.assert_allclose(first[:, :-1], moved[:, :-1], rtol=1e-5, atol=1e-6)  # the future stays hidden


def test_attention_dropout_rate_is_checked():
    with pytest.raises(ValueError, match=r"^MultiHeadAttention: dropout must be in \[0, 1\), got 1.0$"):
        layer_parameters("MultiHeadAttention", dim=4, num_heads=2, dropout=1.0)
