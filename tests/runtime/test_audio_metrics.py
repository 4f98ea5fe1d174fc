"""``spectral_distribution_distance``: parity of every backend with the numpy reference,
its formula on signals whose spectra are known, its properties and its error messages.

fp32 backends against the float64 reference at rtol 1e-5, atol 1e-6 (the mean power of
many frames is well conditioned, unlike the per-bin dB of ``log_spectral_distance``).
"""

from __future__ import annotations

import numpy as np
import pytest

from specc.runtime.reference import metrics as reference

RTOL, ATOL = 1e-5, 1e-6
SAMPLE_RATE = 16000


def close(backend, value, expected):
    got = backend.numpy(value)
    assert got.shape == (), f"metrics return 0-d arrays, got shape {got.shape}"
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=ATOL)


def tones(rng, rows, length, low, high, noise=0.1):
    """Rows of ``sin(2 pi f n / sr + phase) + noise * e`` with f uniform in [low, high) Hz."""
    frequency = rng.uniform(low, high, size=(rows, 1))
    phase = rng.uniform(0, 2 * np.pi, size=(rows, 1))
    time = np.arange(length) / SAMPLE_RATE
    return np.sin(2 * np.pi * frequency * time + phase) + noise * rng.normal(size=(rows, length))


@pytest.mark.parametrize(
    "samples_shape, held_out_shape, frame_length",
    [((6, 1024), (6, 1024), 256), ((3, 500), (7, 500), 64), ((2, 3, 130), (4, 130), 16), ((96,), (2, 96), 96)],
)
def test_parity_with_the_reference(backend, rng, samples_shape, held_out_shape, frame_length):
    samples = rng.normal(size=samples_shape) * np.linspace(0.2, 2.0, samples_shape[-1])
    held_out = tones(rng, int(np.prod(held_out_shape[:-1])), held_out_shape[-1], 300, 2000).reshape(held_out_shape)
    metrics = backend.module("metrics")
    expected = reference.spectral_distribution_distance(samples, held_out, frame_length)
    assert expected > 1.0  # a real difference, not a value near 0 where rtol means little
    got = metrics.spectral_distribution_distance(backend.array(samples), backend.array(held_out), frame_length)
    close(backend, got, expected)


def test_parity_with_the_default_frame_and_a_floor(backend, rng):
    samples, held_out = np.zeros((4, 1024)), tones(rng, 4, 1024, 100, 4000)
    samples[0, 512] = 1.0  # an impulse: a flat spectrum of power 1 / (4 rows * 7 frames * sum(w^2))
    metrics = backend.module("metrics")
    for eps in (1e-10, 1e-2):  # the impulse's power, 3.7e-4, is floored at 1e-2
        expected = reference.spectral_distribution_distance(samples, held_out, eps=eps)
        close(
            backend,
            metrics.spectral_distribution_distance(backend.array(samples), backend.array(held_out), eps=eps),
            expected,
        )


def test_white_noise_has_its_variance_in_every_bin():
    """``S = sigma^2`` in expectation: two noise sets of variances 1 and 100 are 20 dB apart
    in every bin, exactly when the second is the first scaled by 10."""
    rng = np.random.default_rng(3)
    noise = rng.normal(size=(64, 2048))
    np.testing.assert_allclose(reference.spectral_distribution_distance(noise, 10.0 * noise), 20.0, rtol=1e-12)
    np.testing.assert_allclose(
        reference.spectral_distribution_distance(0.5 * noise, noise), 20 * np.log10(2), rtol=1e-12
    )
    # an independent draw of the same distribution is close (the estimator's spread), far below 20 dB
    assert reference.spectral_distribution_distance(noise, rng.normal(size=(64, 2048))) < 0.5


def test_formula_on_a_constant_and_an_alternating_signal():
    """Periodic Hann ``w`` has ``rfft(w) = [N / 2, -N / 4, 0, ...]``. A constant 2: every frame
    is ``2 w``, so ``S[0] = N^2 / sum(w^2)``, ``S[1] = N^2 / 4 / sum(w^2)``, 0 elsewhere
    (floored at eps). ``(-1)^n``: the same shifted to Nyquist, ``S[N / 2] = N^2 / 4 / sum(w^2)``,
    ``S[N / 2 - 1] = N^2 / 16 / sum(w^2)``."""
    frame_length, eps = 8, 1e-10
    energy = 3 * frame_length / 8  # sum(w^2) of a periodic Hann window
    constant = np.full(frame_length // 2 + 1, eps)
    constant[:2] = [frame_length**2 / energy, frame_length**2 / 4 / energy]
    alternating = np.full(frame_length // 2 + 1, eps)
    alternating[-2:] = [frame_length**2 / 16 / energy, frame_length**2 / 4 / energy]
    expected = np.sqrt(np.mean((10 * np.log10(constant) - 10 * np.log10(alternating)) ** 2))
    signal = (-1.0) ** np.arange(32)
    got = reference.spectral_distribution_distance(np.full((1, 32), 2.0), signal[None, :], frame_length, eps)
    np.testing.assert_allclose(got, expected, rtol=1e-9)


def test_zero_for_identical_sets_and_any_order_of_rows(rng):
    audio = tones(rng, 16, 1024, 100, 4000)
    assert reference.spectral_distribution_distance(audio, audio) == 0.0
    assert reference.spectral_distribution_distance(audio, audio[::-1]) == pytest.approx(0.0, abs=1e-12)


def test_symmetric(backend, rng):
    first, second = tones(rng, 8, 1024, 100, 400), tones(rng, 8, 1024, 1000, 4000)
    forward = reference.spectral_distribution_distance(first, second)
    assert reference.spectral_distribution_distance(second, first) == pytest.approx(forward, rel=1e-12)
    metrics = backend.module("metrics")
    close(backend, metrics.spectral_distribution_distance(backend.array(second), backend.array(first)), forward)


def test_grows_with_a_spectral_shift():
    """Tones in [f, 2 f) against held-out tones in [1000, 2000) Hz: 0-ish at f = 1000 (the
    sampling spread of two independent sets), then larger the further the band moves."""
    rng = np.random.default_rng(5)
    held_out = tones(rng, 256, 1024, 1000, 2000)
    distances = [
        reference.spectral_distribution_distance(tones(rng, 256, 1024, low, 2 * low), held_out)
        for low in (1000, 1200, 1600, 2400, 3200)
    ]
    assert distances == sorted(distances), distances
    assert distances[0] < 2.0 < 10.0 < distances[-1], distances


def test_rows_that_match_the_data_beat_noise_and_silence(rng):
    """The synthetic audio of the spec: held-out data is closer to other data than to white
    noise (the untrained one-step sampler's output) or to the data's own noise floor."""
    from specc.runtime.data import make_source

    source = make_source("synthetic_audio", sample_rate=SAMPLE_RATE, length=1024, sizes=(64, 256, 256))
    validation = source.get("val", np.arange(256))["audio"].astype(np.float64)
    test = source.get("test", np.arange(256))["audio"].astype(np.float64)
    data_distance = reference.spectral_distribution_distance(validation, test)
    noise_distance = reference.spectral_distribution_distance(rng.normal(size=(256, 1024)), validation)
    floor_distance = reference.spectral_distribution_distance(0.1 * rng.normal(size=(256, 1024)), validation)
    assert data_distance < 3.0 < 8.0 < floor_distance < noise_distance, (data_distance, floor_distance, noise_distance)


@pytest.mark.parametrize(
    "samples_shape, held_out_shape, frame_length, eps, message",
    [
        (
            (2, 100),
            (2, 120),
            16,
            1e-10,
            "spectral_distribution_distance: the last axis of samples has shape [100] but the last "
            "axis of held_out has shape [120]; they must be equal",
        ),
        (
            (2, 100),
            (2, 100),
            15,
            1e-10,
            "spectral_distribution_distance: frame_length must be a positive even integer, got 15",
        ),
        (
            (2, 100),
            (2, 100),
            128,
            1e-10,
            "spectral_distribution_distance: the last axis of samples of size 100 must be at least frame_length = 128",
        ),
        (
            (2, 100),
            (2, 100),
            16,
            0.0,
            "spectral_distribution_distance: eps must be positive, got 0.0",
        ),
        (
            (),
            (2, 100),
            16,
            1e-10,
            "spectral_distribution_distance: samples must have at least 1 axes, got shape []",
        ),
    ],
)
def test_error_messages(backend, samples_shape, held_out_shape, frame_length, eps, message):
    samples, held_out = np.ones(samples_shape), np.ones(held_out_shape)
    metrics = backend.module("metrics")
    # torch.tensor keeps a 0-d array 0-d (backend.array's ascontiguousarray makes it [1])
    wrap_backend = backend.framework.tensor if backend.name == "torch" else backend.array
    for module, wrap in ((reference, np.asarray), (metrics, wrap_backend)):
        with pytest.raises(ValueError) as error:
            module.spectral_distribution_distance(wrap(samples), wrap(held_out), frame_length, eps)
        assert str(error.value) == message
