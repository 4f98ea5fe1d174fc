"""Parity of ``specc.runtime.<backend>.metrics`` with the numpy reference, and properties.

fp32 backends against the float64 reference at rtol 1e-5, atol 1e-6 unless noted.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from specc.runtime.reference import metrics as reference

RTOL, ATOL = 1e-5, 1e-6


def close(backend, value, expected, rtol=RTOL, atol=ATOL):
    got = backend.numpy(value)
    assert got.shape == (), f"metrics return 0-d arrays, got shape {got.shape}"
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol)


@pytest.mark.parametrize("ignore_index", [None, 1])
@pytest.mark.parametrize("shape", [(8,), (3, 4)])
def test_accuracy_and_perplexity(backend, rng, ignore_index, shape):
    logits, labels = rng.normal(size=shape + (5,)), rng.integers(0, 5, size=shape)
    labels.flat[0] = np.argmax(logits.reshape(-1, 5)[0])
    metrics = backend.module("metrics")
    arrays = backend.array(logits), backend.array(labels)
    close(backend, metrics.accuracy(*arrays, ignore_index), reference.accuracy(logits, labels, ignore_index))
    close(backend, metrics.perplexity(*arrays, ignore_index), reference.perplexity(logits, labels, ignore_index))


def test_accuracy_ties_take_the_first_maximum(backend):
    logits = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0], [0.0, 0.0, 0.0]])
    labels = np.array([1, 1, 0])
    assert float(reference.accuracy(logits, labels)) == pytest.approx(2 / 3)
    close(backend, backend.module("metrics").accuracy(backend.array(logits), backend.array(labels)), 2 / 3)


def test_accuracy_and_perplexity_without_positions(backend):
    logits, labels = np.ones((2, 3)), np.array([0, 0])
    metrics = backend.module("metrics")
    close(backend, metrics.accuracy(backend.array(logits), backend.array(labels), 0), 0.0)
    close(backend, metrics.perplexity(backend.array(logits), backend.array(labels), 0), 1.0)


def test_perplexity_of_a_uniform_prediction_is_the_vocabulary_size():
    np.testing.assert_allclose(reference.perplexity(np.zeros((4, 7)), np.arange(4)), 7.0)


@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 3, 2)])
def test_mse_and_mae(backend, rng, shape):
    pred, target = rng.normal(size=shape), rng.normal(size=shape)
    metrics = backend.module("metrics")
    close(backend, metrics.mse(backend.array(pred), backend.array(target)), np.mean((pred - target) ** 2))
    close(backend, metrics.mae(backend.array(pred), backend.array(target)), np.mean(np.abs(pred - target)))


@pytest.mark.parametrize("shape", [(3, 32), (2, 2, 17), (1, 8)])
def test_log_spectral_distance(backend, rng, shape):
    pred, target = rng.normal(size=shape), rng.normal(size=shape)
    pred[0] = target[0]  # identical rows: distance 0
    got = backend.module("metrics").log_spectral_distance(backend.array(pred), backend.array(target))
    # dB of fp32 FFT powers: a relative error of 1e-6 in |z|^2 is 4e-6 dB; rtol 1e-4 leaves room.
    close(backend, got, reference.log_spectral_distance(pred, target), rtol=1e-4, atol=1e-4)


def test_log_spectral_distance_formula():
    signal = np.zeros((1, 4))
    signal[0, 0] = 4.0  # rfft(norm="forward") = [1, 1, 1]: 0 dB in every bin
    # the target's spectrum is 0: floored at eps = 1e-8, i.e. -80 dB in every bin
    np.testing.assert_allclose(reference.log_spectral_distance(signal, np.zeros((1, 4))), 80.0)
    assert reference.log_spectral_distance(signal, signal) == 0.0


def test_tokens_pair_frequencies_with_amplitudes():
    values = np.array([[1.0, 2.0, 3.0, 10.0, 20.0, 30.0]])
    np.testing.assert_array_equal(reference.tokens(values, 2), [[[1.0, 10.0], [2.0, 20.0], [3.0, 30.0]]])


@pytest.mark.parametrize("params_per_token, width", [(2, 8), (1, 5), (3, 9)])
def test_chamfer_and_linear_assignment(backend, rng, params_per_token, width):
    pred, target = rng.normal(size=(4, width)), rng.normal(size=(4, width))
    metrics = backend.module("metrics")
    arrays = backend.array(pred), backend.array(target)
    close(backend, metrics.chamfer(*arrays, params_per_token), reference.chamfer(pred, target, params_per_token))
    close(
        backend,
        metrics.linear_assignment(*arrays, params_per_token),
        reference.linear_assignment(pred, target, params_per_token),
    )


def brute_force_assignment(pred, target, params_per_token):
    """Minimum over every permutation of the mean matched Euclidean distance, mean over rows."""
    first, second = reference.tokens(pred, params_per_token), reference.tokens(target, params_per_token)
    best = []
    for row_first, row_second in zip(first, second):
        count = row_first.shape[0]
        best.append(
            min(
                np.mean([np.linalg.norm(row_first[i] - row_second[j]) for i, j in enumerate(order)])
                for order in itertools.permutations(range(count))
            )
        )
    return np.mean(best)


def brute_force_chamfer(pred, target, params_per_token):
    first, second = reference.tokens(pred, params_per_token), reference.tokens(target, params_per_token)
    values = []
    for row_first, row_second in zip(first, second):
        squared = np.array([[np.sum((a - b) ** 2) for b in row_second] for a in row_first])
        values.append(squared.min(axis=0).mean() + squared.min(axis=1).mean())
    return np.mean(values)


def test_token_metrics_against_brute_force(rng):
    pred, target = rng.normal(size=(3, 8)), rng.normal(size=(3, 8))
    np.testing.assert_allclose(reference.linear_assignment(pred, target, 2), brute_force_assignment(pred, target, 2))
    np.testing.assert_allclose(reference.chamfer(pred, target, 2), brute_force_chamfer(pred, target, 2))


def test_token_metrics_ignore_the_order_of_tokens(backend, rng):
    """Permuting tokens (frequency and amplitude together) gives distance 0; ties in the cost
    (two equal tokens) do not matter."""
    target = rng.normal(size=(2, 8))
    target[0, 1], target[0, 5] = target[0, 0], target[0, 4]  # token 1 == token 0 in row 0
    order = [2, 0, 3, 1]
    pred = np.concatenate([target[:, :4][:, order], target[:, 4:][:, order]], axis=1)
    metrics = backend.module("metrics")
    for name in ("chamfer", "linear_assignment"):
        close(backend, getattr(metrics, name)(backend.array(pred), backend.array(target), 2), 0.0)


def test_linear_assignment_is_at_least_the_nearest_neighbour_distance(rng):
    pred, target = rng.normal(size=(5, 6)), rng.normal(size=(5, 6))
    distances = np.sqrt(((reference.tokens(pred, 2)[:, :, None] - reference.tokens(target, 2)[:, None]) ** 2).sum(-1))
    assert reference.linear_assignment(pred, target, 2) >= distances.min(axis=2).mean() - 1e-12


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda m, a: m.chamfer(a(np.zeros((2, 6))), a(np.zeros((2, 6))), 4),
            "params_per_token = 4 does not divide the last axis of pred of size 6",
        ),
        (
            lambda m, a: m.linear_assignment(a(np.zeros((2, 6))), a(np.zeros((2, 8))), 2),
            "pred has shape [2, 6] but target has shape [2, 8]",
        ),
        (lambda m, a: m.chamfer(a(np.zeros(6)), a(np.zeros(6)), 2), "pred must have 2 axes"),
        (
            lambda m, a: m.log_spectral_distance(a(np.zeros((2, 6))), a(np.zeros((2, 5)))),
            "pred_signal has shape [2, 6]",
        ),
        (lambda m, a: m.accuracy(a(np.zeros((2, 6))), a(np.zeros(3, np.int64))), "labels has shape [3]"),
        (lambda m, a: m.mae(a(np.zeros(2)), a(np.zeros(3))), "pred has shape [2] but target has shape [3]"),
    ],
)
def test_errors_have_the_same_text_as_the_reference(backend, call, message):
    with pytest.raises(ValueError) as expected:
        call(reference, np.asarray)
    assert message in str(expected.value)
    with pytest.raises(ValueError) as got:
        call(backend.module("metrics"), backend.array)
    assert str(got.value) == str(expected.value)
