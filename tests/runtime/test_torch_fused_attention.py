"""Fused attention on torch: ``attention`` runs ``F.scaled_dot_product_attention`` (SDPA)
with the written-out path's results (causal triangle, boolean key mask, a query with no key
to attend giving 0 with zero gradients), and keeps the written-out path where SDPA cannot
run (a forward-mode tangent passes through: ``torch.func.jvp``, ``forward_ad``, nested
jvps) or would change the draws (a dropout on the attention weights in training).

The written-out path is reached here by passing an identity ``dropout`` callable (any
callable on the weights keeps it), the numpy oracle is ``reference.attention``.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F
from torch.autograd import forward_ad

from specc.runtime.reference import layers as reference
from specc.runtime.reference import losses as reference_losses
from specc.runtime.torch import functions
from specc.runtime.torch import layers, losses, state

from tests.runtime.attention_cases import HEADS, KEY_MASK, PARTIAL_MASK, identity
from tests.runtime.test_layers import assert_close, f32, finite_difference, random_arrays



@pytest.fixture
def fused_calls(monkeypatch):
    """Every call of ``F.scaled_dot_product_attention`` (its keyword arguments), counted."""
    calls = []
    original = F.scaled_dot_product_attention

    def counting(*arguments, **keywords):
        calls.append(keywords)
        return original(*arguments, **keywords)

    monkeypatch.setattr(F, "scaled_dot_product_attention", counting)
    return calls


def _tensors(*arrays, dtype=torch.float32):
    return [torch.tensor(np.asarray(array), dtype=dtype) for array in arrays]


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
def test_fused_path_runs_sdpa_and_equals_the_written_out_path(rng, fused_calls, case):
    causal, mask = CASES[case]
    q, k, v = _inputs(rng)
    mask_tensor = None if mask is None else torch.tensor(mask)
    tensors = _tensors(q, k, v)
    fused = functions.attention(*tensors, HEADS, causal, mask_tensor).numpy()
    assert len(fused_calls) == 1
    # causal alone goes to the kernel's own triangle, a key mask as a boolean mask
    assert fused_calls[0].get("is_causal", False) == (causal and mask is None)
    assert (fused_calls[0].get("attn_mask") is not None) == (mask is not None)
    written_out = functions.attention(*tensors, HEADS, causal, mask_tensor, identity).numpy()
    assert len(fused_calls) == 1
    assert_close(fused, written_out, rtol=1e-5, atol=1e-6)
    assert_close(fused, reference.attention(q, k, v, HEADS, causal, mask), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("query_steps, key_steps", [(3, 5), (5, 3)])
def test_causal_cross_attention_keeps_the_top_left_triangle(rng, fused_calls, query_steps, key_steps):
    q, k, v = _inputs(rng, query_steps, key_steps)
    fused = functions.attention(*_tensors(q, k, v), HEADS, True).numpy()
    assert len(fused_calls) == 1
    assert_close(fused, reference.attention(q, k, v, HEADS, True), rtol=1e-5, atol=1e-6)


def _output_and_gradients(q, k, v, mask, dropout=None):
    tensors = [tensor.requires_grad_(True) for tensor in _tensors(q, k, v)]
    output = functions.attention(*tensors, HEADS, True, torch.tensor(mask), dropout)
    (output**2).sum().backward()
    return output.detach().numpy(), [tensor.grad.numpy() for tensor in tensors]


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
    """Some SDPA kernels (CUDA, older versions) give NaN where every key is masked; the
    fused path never hands the kernel such a row, so output and gradients stay the
    written-out ones. The stand-in kernel masks with -inf, which gives NaN there."""

    def nan_kernel(query, key, value, attn_mask=None, is_causal=False):
        scores = query @ key.transpose(-1, -2) / np.sqrt(query.shape[-1])
        assert attn_mask is not None and not is_causal
        weights = torch.softmax(scores.masked_fill(~attn_mask, float("-inf")), dim=-1)
        return weights @ value

    q, k, v = _inputs(rng)
    written_output, written_gradients = _output_and_gradients(q, k, v, KEY_MASK, identity)
    monkeypatch.setattr(F, "scaled_dot_product_attention", nan_kernel)
    output, gradients = _output_and_gradients(q, k, v, KEY_MASK)
    assert_close(output, written_output)
    for gradient, expected in zip(gradients, written_gradients):
        assert_close(gradient, expected, rtol=1e-5, atol=1e-6)


def test_bfloat16_fused_path_agrees_within_bfloat16_rounding(rng, fused_calls):
    q, k, v = _inputs(rng)
    mask = torch.tensor(PARTIAL_MASK)
    tensors = _tensors(q, k, v, dtype=torch.bfloat16)
    fused = functions.attention(*tensors, HEADS, True, mask)
    assert fused.dtype == torch.bfloat16 and len(fused_calls) == 1
    written_out = functions.attention(*tensors, HEADS, True, mask, identity)
    expected = reference.attention(q, k, v, HEADS, True, PARTIAL_MASK)
    assert_close(fused.float().numpy(), expected, rtol=2e-2, atol=2e-2)
    assert_close(fused.float().numpy(), written_out.float().numpy(), rtol=3e-2, atol=3e-2)


def _expected(q, k, v, mask):
    return lambda query, key, value: reference.attention(query, key, value, HEADS, True, mask)


@pytest.mark.parametrize("mask", [None, KEY_MASK], ids=["causal", "causal and key mask"])
def test_jvp_takes_the_written_out_path_with_exact_tangents(rng, fused_calls, mask):
    q, k, v = _inputs(rng)
    tangents = _inputs(np.random.default_rng(1))
    mask_tensor = None if mask is None else torch.tensor(mask)

    def function(query, key, value):
        return functions.attention(query, key, value, HEADS, True, mask_tensor)

    output, tangent = torch.func.jvp(function, tuple(_tensors(q, k, v)), tuple(_tensors(*tangents)))
    assert fused_calls == []
    assert_close(output.numpy(), reference.attention(q, k, v, HEADS, True, mask))
    expected = finite_difference(_expected(q, k, v, mask), (q, k, v), tangents)
    assert_close(tangent.numpy(), expected, rtol=1e-4, atol=1e-5)
    # a tangent on the query alone (keys and values without one) is seen as well
    _, query_tangent = torch.func.jvp(
        lambda query: function(query, *_tensors(k, v)), tuple(_tensors(q)), tuple(_tensors(tangents[0]))
    )
    assert fused_calls == []
    query_only = finite_difference(lambda query: _expected(q, k, v, mask)(query, k, v), (q,), tangents[:1])
    assert_close(query_tangent.numpy(), query_only, rtol=1e-4, atol=1e-5)


def test_forward_ad_dual_tensors_take_the_written_out_path(rng, fused_calls):
    q, k, v = _inputs(rng)
    tangents = _inputs(np.random.default_rng(1))
    with forward_ad.dual_level():
        duals = [forward_ad.make_dual(p, t) for p, t in zip(_tensors(q, k, v), _tensors(*tangents))]
        output = functions.attention(*duals, HEADS, True, torch.tensor(KEY_MASK))
        tangent = forward_ad.unpack_dual(output).tangent.numpy()
    assert fused_calls == []
    expected = finite_difference(_expected(q, k, v, KEY_MASK), (q, k, v), tangents)
    assert_close(tangent, expected, rtol=1e-4, atol=1e-5)


def test_a_tangent_of_an_outer_jvp_alone_falls_back_to_the_written_out_path(rng, fused_calls):
    """Inside the inner jvp the attention inputs carry only the outer level's tangent, which
    ``unpack_dual`` cannot see: SDPA refuses them and the written-out path answers."""
    q, k, v = _inputs(rng)
    (tangent_q,) = _inputs(np.random.default_rng(1))[:1]
    key, value = _tensors(k, v)

    def inner(query):
        def shifted(offset):
            return functions.attention(query, key, value, HEADS, True) + offset

        return torch.func.jvp(shifted, (torch.zeros(1),), (torch.ones(1),))[0]

    output, tangent = torch.func.jvp(inner, tuple(_tensors(q)), tuple(_tensors(tangent_q)))
    assert len(fused_calls) == 1  # tried once, refused
    expected = finite_difference(lambda query: reference.attention(query, k, v, HEADS, True), (q,), (tangent_q,))
    assert_close(output.numpy(), reference.attention(q, k, v, HEADS, True))
    assert_close(tangent.numpy(), expected, rtol=1e-4, atol=1e-5)


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
    dropped = layer(*_tensors(x)).detach().numpy()
    assert fused_calls == []
    torch.manual_seed(0)
    functions.attention(*_tensors(x, x, x), HEADS, True, None, identity)  # any callable
    assert fused_calls == []
    layer.eval()  # the Dropout layer is the identity: SDPA
    evaluated = layer(*_tensors(x)).detach().numpy()
    assert len(fused_calls) == 1
    assert_close(evaluated, reference.multi_head_attention(x, arrays, HEADS, causal=True))
    assert not np.allclose(dropped, evaluated, atol=1e-4)


def test_mean_flow_loss_through_causal_attention_matches_the_reference(rng, fused_calls):
    """The mean-flow objective's jvp passes through the layer (the written-out path) and its
    loss equals the numpy oracle's (central-difference jvp)."""
    layer, arrays = _attention_layer(rng)
    x, noise = (f32(rng.normal(size=(2, 5, 8))) for _ in range(2))
    t, r = f32([0.7, 0.4]), f32([0.2, 0.1])

    def torch_model(z, time, gap):
        return layer(z * (1.0 + time[:, None, None]) + gap[:, None, None])

    def numpy_model(z, time, gap):
        shifted = z * (1.0 + time[:, None, None]) + gap[:, None, None]
        return reference.multi_head_attention(shifted, arrays, HEADS, causal=True)

    loss, _ = losses.mean_flow_loss(torch_model, *_tensors(x, noise, t, r))
    expected, _ = reference_losses.mean_flow_loss(numpy_model, x, noise, t, r)
    assert fused_calls == []
    assert np.isclose(loss.item(), expected, rtol=1e-4, atol=1e-6)
    loss.backward()
    assert all(torch.isfinite(parameter.grad).all() for parameter in layer.parameters())


@pytest.mark.parametrize("mask", [None, KEY_MASK], ids=["causal", "causal and key mask"])
def test_the_path_choice_compiles_without_a_graph_break(rng, mask):
    """``torch.compile(fullgraph=True)`` (Lightning's ``compile_model``) traces the tangent
    check and the fallback: a graph break would raise here."""
    q, k, v = _inputs(rng)
    mask_tensor = None if mask is None else torch.tensor(mask)

    def function(query, key, value):
        return functions.attention(query, key, value, HEADS, True, mask_tensor)

    compiled = torch.compile(function, fullgraph=True, backend="eager")
    output = compiled(*_tensors(q, k, v)).numpy()
    assert_close(output, reference.attention(q, k, v, HEADS, True, mask), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("bias", [True, False])
def test_layer_norm_runs_torchs_kernel_and_writes_itself_out_under_a_tangent(monkeypatch, bias):
    """LayerNorm: F.layer_norm (5x faster on a CPU) unless a tangent passes through it, where
    its written-out form keeps the gradients through the tangent equal to jax's and mlx's."""
    calls = []
    original = F.layer_norm
    monkeypatch.setattr(F, "layer_norm", lambda *arguments, **keywords: calls.append(1) or original(*arguments, **keywords))
    rng = np.random.default_rng(3)
    norm = layers.LayerNorm(6, bias=bias)
    arrays = random_arrays("LayerNorm", rng, dim=6, bias=bias)
    state.load_state_dict(norm, arrays)
    x = f32(rng.normal(size=(2, 3, 6)))
    expected = reference.layer_norm(x, arrays["weight"], arrays.get("bias"))
    assert_close(norm(torch.tensor(x, dtype=torch.float32)).detach().numpy(), expected)
    assert calls == [1]
    primal, tangent = torch.func.jvp(norm, (torch.tensor(x, dtype=torch.float32),), (torch.ones(2, 3, 6),))
    assert calls == [1]  # the written-out path
    assert_close(primal.detach().numpy(), expected)
