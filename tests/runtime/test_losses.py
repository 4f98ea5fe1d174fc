"""Parity of ``specc.runtime.<backend>.losses`` with the numpy reference.

Values: fp32 backends against the float64 reference at rtol 1e-5, atol 1e-6 unless noted.
Gradients: each backend's autodiff against central finite differences of the float64
reference (so the backends also agree with each other) at rtol 1e-4, atol 1e-5: fp32
backpropagation through a few dozen operations loses about that much.
"""

from __future__ import annotations

import numpy as np
import pytest

from specc.runtime.reference import losses as reference

RTOL, ATOL = 1e-5, 1e-6
GRAD_RTOL, GRAD_ATOL = 1e-4, 1e-5


def close(backend, value, expected, rtol=RTOL, atol=ATOL):
    np.testing.assert_allclose(backend.numpy(value), expected, rtol=rtol, atol=atol)


def backend_gradients(backend, function, arrays):
    """Gradients of the scalar ``function(*backend_arrays)`` with respect to every array."""
    if backend.name == "jax":
        import jax

        values = [backend.array(a) for a in arrays]
        # jit: one compilation instead of one per primitive (the checks only read shapes).
        return [np.asarray(g) for g in jax.jit(jax.grad(function, argnums=tuple(range(len(arrays)))))(*values)]
    if backend.name == "torch":
        values = [backend.array(a).requires_grad_(True) for a in arrays]
        function(*values).backward()
        return [np.zeros(a.shape) if v.grad is None else v.grad.numpy() for a, v in zip(arrays, values)]
    import mlx.core as mx

    values = [backend.array(a) for a in arrays]
    gradients = mx.grad(function, argnums=list(range(len(arrays))))(*values)
    return [np.array(g) for g in (gradients if isinstance(gradients, (tuple, list)) else [gradients])]


def numeric_gradients(function, arrays, step=1e-6):
    """Central finite differences of a float64 numpy ``function(*arrays)``."""
    gradients = []
    for index, array in enumerate(arrays):
        gradient = np.zeros(array.shape)
        for position in np.ndindex(array.shape):
            shifted = [a.copy() for a in arrays]
            shifted[index][position] += step
            plus = function(*shifted)
            shifted[index][position] -= 2 * step
            gradient[position] = (plus - function(*shifted)) / (2 * step)
        gradients.append(gradient)
    return gradients


def check_gradients(backend, call, arrays):
    """Backend autodiff of ``call(losses, to_array, *arrays)`` against FD of the reference.

    ``call`` gets the losses module and a converter for its non-differentiated arrays
    (identity for the reference), so one lambda states the call for both.
    """
    losses = backend.module("losses")
    got = backend_gradients(backend, lambda *a: call(losses, backend.array, *a), arrays)
    expected = numeric_gradients(lambda *a: call(reference, np.asarray, *a), arrays)
    for value, wanted in zip(got, expected):
        np.testing.assert_allclose(value, wanted, rtol=GRAD_RTOL, atol=GRAD_ATOL)


SHAPES = [(3,), (4, 5), (2, 3, 4)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("p, reduce", [(1.0, "sum"), (0.5, "mean"), (0.0, "sum")])
def test_weighted_l2_matches_reference(backend, rng, shape, p, reduce):
    pred, target = rng.normal(size=shape), rng.normal(size=shape)
    target[0] = pred[0]  # a row with zero error
    got = backend.module("losses").weighted_l2(backend.array(pred), backend.array(target), p, 1e-3, reduce)
    close(backend, got, reference.weighted_l2(pred, target, p, 1e-3, reduce))


@pytest.mark.parametrize("reduce", ["sum", "mean"])
def test_weighted_l2_gradient_is_the_stop_gradient_formula(backend, rng, reduce):
    """``d/d pred = w_b * 2 (pred - target) / B`` (sum) or ``/ (B * n)`` (mean), w_b constant."""
    pred, target = rng.normal(size=(4, 3, 2)), rng.normal(size=(4, 3, 2))
    p, c = 0.7, 1e-2
    (gradient,) = backend_gradients(
        backend, lambda a: backend.module("losses").weighted_l2(a, backend.array(target), p, c, reduce), [pred]
    )
    squared = (pred - target) ** 2
    per_row = squared.sum(axis=(1, 2)) if reduce == "sum" else squared.mean(axis=(1, 2))
    scale = 1.0 if reduce == "sum" else 1.0 / 6
    weight = (1.0 / (per_row + c) ** p)[:, None, None]
    np.testing.assert_allclose(gradient, weight * 2 * (pred - target) * scale / 4, rtol=GRAD_RTOL, atol=GRAD_ATOL)


@pytest.mark.parametrize("name", ["mse", "l1", "kl_divergence"])
@pytest.mark.parametrize("shape", SHAPES)
def test_elementwise_losses(backend, rng, name, shape):
    first, second = rng.normal(size=shape), rng.normal(size=shape)
    got = getattr(backend.module("losses"), name)(backend.array(first), backend.array(second))
    close(backend, got, getattr(reference, name)(first, second))
    check_gradients(backend, lambda losses, to_array, a, b: getattr(losses, name)(a, b), [first, second])


def test_kl_divergence_is_zero_for_the_prior():
    assert reference.kl_divergence(np.zeros((2, 3)), np.zeros((2, 3))) == 0.0


@pytest.mark.parametrize("ignore_index, shape", [(None, (6,)), (2, (2, 5)), (99, (2, 5))])
def test_cross_entropy(backend, rng, ignore_index, shape):
    logits, labels = rng.normal(size=shape + (7,)) * 3, rng.integers(0, 7, size=shape)
    labels.flat[0] = 2
    got = backend.module("losses").cross_entropy(backend.array(logits), backend.array(labels), ignore_index)
    close(backend, got, reference.cross_entropy(logits, labels, ignore_index))
    check_gradients(
        backend, lambda losses, to_array, a: losses.cross_entropy(a, to_array(labels), ignore_index), [logits]
    )


def test_cross_entropy_with_every_label_ignored_is_zero(backend):
    logits, labels = np.ones((2, 3, 4)), np.zeros((2, 3), np.int64)
    assert reference.cross_entropy(logits, labels, 0) == 0.0
    close(backend, backend.module("losses").cross_entropy(backend.array(logits), backend.array(labels), 0), 0.0)


def test_cross_entropy_is_the_negative_log_likelihood():
    logits = np.log(np.array([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]]))
    np.testing.assert_allclose(reference.cross_entropy(logits, np.array([2, 0])), -(np.log(0.5) + np.log(0.6)) / 2)


def token_batch(rng, shape=(3, 6), vocabulary=14):
    logits = rng.normal(size=shape + (vocabulary,)) * 2
    targets = rng.integers(0, vocabulary, size=shape)
    return logits, targets


@pytest.mark.parametrize("use_mask", [False, True])
@pytest.mark.parametrize("lo", [0, 10])
def test_expected_codebook_and_scalar(backend, rng, use_mask, lo):
    logits, targets = token_batch(rng)
    codebook, mask = rng.normal(size=(4, 3)), rng.uniform(size=targets.shape) < 0.5
    mask_arguments = (mask,) if use_mask else ()
    losses = backend.module("losses")
    for name, table in (("expected_codebook", codebook), ("expected_scalar", codebook[:, 0])):
        expected = getattr(reference, name)(logits, targets, table, lo, *mask_arguments)
        backend_mask = tuple(backend.array(m) for m in mask_arguments)
        got = getattr(losses, name)(
            backend.array(logits), backend.array(targets), backend.array(table), lo, *backend_mask
        )
        close(backend, got, expected)
        check_gradients(
            backend,
            lambda losses, to_array, a, b: getattr(losses, name)(
                a, to_array(targets), b, lo, *map(to_array, mask_arguments)
            ),
            [logits, table],
        )


def test_expected_codebook_matches_its_formula():
    logits = np.array([[0.0, 1.0, 2.0, 0.5]])
    codebook = np.array([[1.0, 0.0], [0.0, 2.0]])
    probabilities = np.exp([1.0, 2.0]) / np.exp([1.0, 2.0]).sum()
    expected = ((probabilities @ codebook - codebook[1]) ** 2).mean()
    np.testing.assert_allclose(reference.expected_codebook(logits, np.array([2]), codebook, 1), expected)


def test_expected_losses_without_positions_are_zero(backend, rng):
    logits, _ = token_batch(rng)
    targets = np.zeros((3, 6), np.int64)  # every target is a special id outside the ranges
    codebook = rng.normal(size=(4, 3))
    losses = backend.module("losses")
    arrays = backend.array(logits), backend.array(targets)
    for value in (
        losses.expected_codebook(*arrays, backend.array(codebook), 5),
        losses.expected_scalar(*arrays, backend.array(codebook[:, 0]), 5),
        losses.expected_codebook_grouped(*arrays, backend.array(codebook), [2, 6, 10]),
        losses.expected_codebook(*arrays, backend.array(codebook), 0, backend.array(np.zeros((3, 6), bool))),
    ):
        assert np.isfinite(backend.numpy(value)) and float(backend.numpy(value)) == 0.0


@pytest.mark.parametrize("use_mask", [False, True])
def test_expected_codebook_grouped(backend, rng, use_mask):
    logits, targets = token_batch(rng, vocabulary=20)
    targets[targets >= 16] = 0  # the group at 16 has no positions and must not count
    codebook, mask = rng.normal(size=(4, 2)), rng.uniform(size=targets.shape) < 0.7
    los = [2, 8, 16]
    mask_arguments = (mask,) if use_mask else ()
    expected = reference.expected_codebook_grouped(logits, targets, codebook, los, *mask_arguments)
    present = [lo for lo in los if ((targets >= lo) & (targets < lo + 4) & (mask if use_mask else True)).any()]
    by_hand = np.mean([reference.expected_codebook(logits, targets, codebook, lo, *mask_arguments) for lo in present])
    np.testing.assert_allclose(expected, by_hand)
    backend_mask = tuple(backend.array(m) for m in mask_arguments)
    got = backend.module("losses").expected_codebook_grouped(
        backend.array(logits), backend.array(targets), backend.array(codebook), los, *backend_mask
    )
    close(backend, got, expected)
    check_gradients(
        backend,
        lambda losses, to_array, a, b: losses.expected_codebook_grouped(
            a, to_array(targets), b, los, *map(to_array, mask_arguments)
        ),
        [logits, codebook],
    )


@pytest.mark.parametrize("use_ce", [True, False])
def test_combined_token_loss(backend, rng, use_ce):
    logits, targets = token_batch(rng)
    codebook = rng.normal(size=(4, 3))
    losses = backend.module("losses")
    term = reference.expected_codebook(logits, targets, codebook, 5)
    expected = reference.combined_token_loss(logits, targets, [(0.1, term), (2.0, term)], 0, use_ce)
    backend_term = losses.expected_codebook(backend.array(logits), backend.array(targets), backend.array(codebook), 5)
    got = losses.combined_token_loss(
        backend.array(logits), backend.array(targets), [(0.1, backend_term), (2.0, backend_term)], 0, use_ce
    )
    close(backend, got, expected)
    ce = reference.cross_entropy(logits, targets, 0) if use_ce else 0.0
    np.testing.assert_allclose(expected, ce + 2.1 * term)


def discriminator_outputs(rng):
    """Two sub-discriminators with different output shapes; values kept away from the hinge kinks."""

    def away_from_kinks(shape):
        values = rng.uniform(-3, 3, size=shape)
        return np.where(np.abs(np.abs(values) - 1) < 0.05, values + 0.2, values)

    return [away_from_kinks((2, 5)), away_from_kinks((2, 3, 4))], [away_from_kinks((2, 5)), away_from_kinks((2, 3, 4))]


def test_hinge_losses(backend, rng):
    real, fake = discriminator_outputs(rng)
    losses = backend.module("losses")
    got = losses.hinge_discriminator_loss([backend.array(a) for a in real], [backend.array(a) for a in fake])
    close(backend, got, reference.hinge_discriminator_loss(real, fake))
    close(backend, losses.hinge_generator_loss([backend.array(a) for a in fake]), reference.hinge_generator_loss(fake))
    by_hand = np.mean([np.maximum(1 - r, 0).mean() + np.maximum(1 + f, 0).mean() for r, f in zip(real, fake)])
    np.testing.assert_allclose(reference.hinge_discriminator_loss(real, fake), by_hand)
    gradients = backend_gradients(backend, lambda a, b: losses.hinge_generator_loss([a, b]), fake)
    expected = numeric_gradients(lambda a, b: reference.hinge_generator_loss([a, b]), fake)
    for value, wanted in zip(gradients, expected):
        np.testing.assert_allclose(value, wanted, rtol=GRAD_RTOL, atol=GRAD_ATOL)
    gradients = backend_gradients(
        backend, lambda *a: losses.hinge_discriminator_loss(list(a[:2]), list(a[2:])), real + fake
    )
    expected = numeric_gradients(lambda *a: reference.hinge_discriminator_loss(list(a[:2]), list(a[2:])), real + fake)
    for value, wanted in zip(gradients, expected):
        np.testing.assert_allclose(value, wanted, rtol=GRAD_RTOL, atol=GRAD_ATOL)


def test_feature_matching_stops_the_gradient_on_the_real_side_only(backend, rng):
    real = [[rng.normal(size=(2, 4)), rng.normal(size=(2, 3, 2))], [rng.normal(size=(2, 6))]]
    fake = [[rng.normal(size=(2, 4)), rng.normal(size=(2, 3, 2))], [rng.normal(size=(2, 6))]]
    losses = backend.module("losses")

    def nest(arrays):
        return [[arrays[0], arrays[1]], [arrays[2]]]

    flat = real[0] + real[1] + fake[0] + fake[1]
    got = losses.feature_matching_loss(
        nest([backend.array(a) for a in flat[:3]]), nest([backend.array(a) for a in flat[3:]])
    )
    expected = reference.feature_matching_loss(real, fake)
    close(backend, got, expected)
    np.testing.assert_allclose(expected, np.mean([np.abs(f - r).mean() for r, f in zip(flat[:3], flat[3:])]))
    gradients = backend_gradients(backend, lambda *a: losses.feature_matching_loss(nest(a[:3]), nest(a[3:])), flat)
    for gradient in gradients[:3]:
        np.testing.assert_array_equal(gradient, 0.0)
    numeric = numeric_gradients(lambda *a: reference.feature_matching_loss(nest(a[:3]), nest(a[3:])), flat)
    for value, wanted in zip(gradients[3:], numeric[3:]):
        np.testing.assert_allclose(value, wanted, rtol=GRAD_RTOL, atol=GRAD_ATOL)


@pytest.mark.parametrize("shape, n_ffts", [((2, 40), [8, 16]), ((1, 30, 2), [8])])
def test_multi_resolution_stft_loss(backend, rng, shape, n_ffts):
    pred, target = rng.normal(size=shape), rng.normal(size=shape)
    got = backend.module("losses").multi_resolution_stft_loss(backend.array(pred), backend.array(target), n_ffts)
    # FFT and Frobenius norms over the whole batch in fp32: rtol 1e-4.
    close(backend, got, reference.multi_resolution_stft_loss(pred, target, n_ffts), rtol=1e-4)
    check_gradients(
        backend, lambda losses, to_array, a: losses.multi_resolution_stft_loss(a, to_array(target), n_ffts), [pred]
    )


def test_stft_matches_torch_stft():
    torch = pytest.importorskip("torch")
    signal = np.random.default_rng(3).normal(size=(2, 40))
    spectrum = torch.stft(
        torch.from_numpy(signal),
        16,
        hop_length=4,
        window=torch.hann_window(16, dtype=torch.float64),
        center=True,
        pad_mode="reflect",
        onesided=True,
        return_complex=True,
    )
    expected = np.sqrt(np.maximum(np.abs(spectrum.numpy()) ** 2, 1e-7)).transpose(0, 2, 1)
    np.testing.assert_allclose(reference.stft_magnitude(signal, 16), expected, rtol=1e-10)


def test_multi_resolution_stft_loss_is_zero_for_equal_signals():
    signal = np.sin(np.arange(64) * 0.3)[None]
    assert reference.multi_resolution_stft_loss(signal, signal, [16]) == 0.0


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda l, a: l.weighted_l2(a(np.zeros((2, 3))), a(np.zeros((2, 4)))),
            "pred has shape [2, 3] but target has shape [2, 4]",
        ),
        (lambda l, a: l.weighted_l2(a(np.zeros((2, 3))), a(np.zeros((2, 3))), reduce="max"), "reduce must be one of"),
        (
            lambda l, a: l.cross_entropy(a(np.zeros((2, 3, 5))), a(np.zeros((2, 4), np.int64))),
            "labels has shape [2, 4]",
        ),
        (
            lambda l, a: l.expected_codebook(a(np.zeros((2, 6))), a(np.zeros(2, np.int64)), a(np.zeros((4, 3))), 3),
            "[3, 7) does not fit",
        ),
        (
            lambda l, a: l.expected_scalar(a(np.zeros((2, 6))), a(np.zeros(2, np.int64)), a(np.zeros((4, 3))), 0),
            "centers must have 1 axes",
        ),
        (
            lambda l, a: l.expected_codebook(
                a(np.zeros((2, 6))), a(np.zeros(2, np.int64)), a(np.zeros((4, 3))), 0, a(np.zeros(3, bool))
            ),
            "mask has shape [3]",
        ),
        (lambda l, a: l.hinge_discriminator_loss([a(np.zeros(2))], []), "real_logits_list has 1 entries"),
        (lambda l, a: l.feature_matching_loss([[a(np.zeros(2))]], [[a(np.zeros(3))]]), "real feature has shape [2]"),
        (lambda l, a: l.kl_divergence(a(np.zeros(2)), a(np.zeros(3))), "mu has shape [2]"),
        (
            lambda l, a: l.multi_resolution_stft_loss(a(np.zeros((1, 8))), a(np.zeros((1, 8))), [16]),
            "too short for n_fft = 16",
        ),
        (lambda l, a: l.multi_resolution_stft_loss(a(np.zeros(8)), a(np.zeros(8)), [4]), "pred must have 2 axes"),
        (
            lambda l, a: l.multi_resolution_stft_loss(a(np.zeros((1, 8))), a(np.zeros((1, 8))), []),
            "n_ffts must have at least one entry",
        ),
        (lambda l, a: l.hinge_generator_loss([]), "fake_logits_list must have at least one entry"),
        (
            lambda l, a: l.flow_matching_loss(None, a(np.zeros((2, 3))), a(np.zeros((2, 3))), a(np.zeros(2)), "cosine"),
            "kind must be one of",
        ),
        (
            lambda l, a: l.mean_flow_loss(
                None, a(np.zeros((2, 3))), a(np.zeros((2, 3))), a(np.zeros(2)), a(np.zeros(3))
            ),
            "r has shape [3]",
        ),
    ],
)
def test_errors_have_the_same_text_as_the_reference(backend, call, message):
    with pytest.raises(ValueError) as expected:
        call(reference, np.asarray)
    assert message in str(expected.value)
    with pytest.raises(ValueError) as got:
        call(backend.module("losses"), backend.array)
    assert str(got.value) == str(expected.value)


# ---- label smoothing: torch.nn.functional.cross_entropy(..., label_smoothing=eps) semantics ----

SMOOTHING_CASES = [(None, (6,)), (2, (2, 5)), (99, (3, 4))]


@pytest.mark.parametrize("label_smoothing", [0.0, 0.1, 0.35])
@pytest.mark.parametrize("ignore_index, shape", SMOOTHING_CASES)
def test_cross_entropy_label_smoothing_matches_torch(rng, label_smoothing, ignore_index, shape):
    torch = pytest.importorskip("torch")
    logits, labels = rng.normal(size=shape + (7,)) * 3, rng.integers(0, 7, size=shape)
    labels.flat[0] = 2
    expected = torch.nn.functional.cross_entropy(
        torch.from_numpy(logits.reshape(-1, 7)),
        torch.from_numpy(labels.reshape(-1)),
        ignore_index=-100 if ignore_index is None else ignore_index,
        label_smoothing=label_smoothing,
    )
    got = reference.cross_entropy(logits, labels, ignore_index, label_smoothing)
    np.testing.assert_allclose(got, expected.item(), rtol=1e-12)


def test_cross_entropy_label_smoothing_formula():
    """``(1 - eps) * nll + eps * mean over classes of -log p``, averaged over kept rows."""
    logits = np.log(np.array([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1], [0.1, 0.1, 0.8]]))
    labels, eps = np.array([2, 0, 1]), 0.2  # the third row's label, 1, is ignored
    nll = -np.log([0.5, 0.6])
    uniform = -np.log([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]]).mean(axis=-1)
    expected = np.mean((1 - eps) * nll + eps * uniform)
    np.testing.assert_allclose(reference.cross_entropy(logits, labels, 1, eps), expected, rtol=1e-12)


@pytest.mark.parametrize("ignore_index, shape", SMOOTHING_CASES)
def test_cross_entropy_label_smoothing_matches_reference(backend, rng, ignore_index, shape):
    logits, labels = rng.normal(size=shape + (7,)) * 3, rng.integers(0, 7, size=shape)
    labels.flat[0] = 2
    losses = backend.module("losses")
    got = losses.cross_entropy(backend.array(logits), backend.array(labels), ignore_index, 0.1)
    close(backend, got, reference.cross_entropy(logits, labels, ignore_index, 0.1))
    check_gradients(
        backend,
        lambda losses, to_array, a: losses.cross_entropy(a, to_array(labels), ignore_index, label_smoothing=0.1),
        [logits],
    )


def test_cross_entropy_label_smoothing_with_every_label_ignored_is_zero(backend):
    logits, labels = np.ones((2, 3, 4)), np.zeros((2, 3), np.int64)
    assert reference.cross_entropy(logits, labels, 0, 0.3) == 0.0
    got = backend.module("losses").cross_entropy(backend.array(logits), backend.array(labels), 0, 0.3)
    close(backend, got, 0.0)


@pytest.mark.parametrize("label_smoothing", [1.0, -0.1])
def test_cross_entropy_label_smoothing_outside_the_unit_interval_is_refused(backend, label_smoothing):
    logits, labels = np.zeros((2, 3)), np.zeros(2, np.int64)
    with pytest.raises(ValueError) as expected:
        reference.cross_entropy(logits, labels, label_smoothing=label_smoothing)
    assert "label_smoothing must be in [0, 1)" in str(expected.value)
    with pytest.raises(ValueError) as got:
        backend.module("losses").cross_entropy(
            backend.array(logits), backend.array(labels), label_smoothing=label_smoothing
        )
    assert str(got.value) == str(expected.value)


def test_cross_entropy_label_smoothing_agrees_across_backends(rng):
    """jax, torch and mlx give the same smoothed loss (and torch's own F.cross_entropy)."""
    from tests.runtime.conftest import BACKENDS, _load

    torch = pytest.importorskip("torch")
    logits, labels = rng.normal(size=(3, 5, 9)) * 2, rng.integers(0, 9, size=(3, 5))
    values = {}
    for name in BACKENDS:
        backend = _load(name)
        loss = backend.module("losses").cross_entropy(backend.array(logits), backend.array(labels), 4, 0.2)
        values[name] = float(backend.numpy(loss))
    values["torch.nn.functional"] = torch.nn.functional.cross_entropy(
        torch.from_numpy(logits.reshape(-1, 9)).float(), torch.from_numpy(labels.reshape(-1)), ignore_index=4,
        label_smoothing=0.2,
    ).item()
    np.testing.assert_allclose(list(values.values()), values["torch"], rtol=1e-6, err_msg=str(values))
