"""Preprocessing: MDCT round trip, patches, STFT (against torch.stft), mel filterbank, and
every backend against the float64 reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from specc.runtime import tables
from specc.runtime.reference import preprocess as reference

# float32 sums of up to 2N (MDCT) or n_fft (FFT) products of O(1) values: a few float32 ulps
# of the largest coefficient, relative to the largest coefficient of the output
FLOAT32_RTOL = 1e-4


def close_to(actual, expected, rtol=FLOAT32_RTOL):
    scale = max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale)


def direct_mdct(x, window):
    """COMPONENTS.md's formula with explicit loops over frames (tiny sizes only)."""
    frames = math.ceil(x.shape[1] / window) + 1
    padded = np.concatenate(
        [np.zeros((x.shape[0], window)), x, np.zeros((x.shape[0], (frames + 1) * window))], 1
    )
    output = np.zeros((x.shape[0], frames, window))
    for frame in range(frames):
        segment = padded[:, frame * window : frame * window + 2 * window]
        for k in range(window):
            for n in range(2 * window):
                weight = math.sin(math.pi * (n + 0.5) / (2 * window))
                output[:, frame, k] += (
                    weight * segment[:, n] * math.cos(math.pi / window * (n + 0.5 + window / 2) * (k + 0.5))
                )
    return output


def test_mdct_matches_direct_formula(rng):
    x = rng.standard_normal((2, 13))
    result = reference.mdct(x, 4)
    assert result.shape == (2, math.ceil(13 / 4) + 1, 4)
    np.testing.assert_allclose(result, direct_mdct(x, 4), atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(length=st.integers(1, 70), window=st.integers(1, 16), seed=st.integers(0, 2**16))
def test_imdct_inverts_mdct_for_every_sample(length, window, seed):
    x = np.random.default_rng(seed).standard_normal((2, length))
    spectrum = reference.mdct(x, window)
    assert spectrum.shape == (2, -(-length // window) + 1, window)
    np.testing.assert_allclose(reference.imdct(spectrum, length), x, atol=1e-11)


def test_patches_round_trip(rng):
    x = rng.standard_normal((3, 10))
    patches = reference.reshape_patches(x, 4)
    assert patches.shape == (3, 3, 4)
    np.testing.assert_array_equal(patches[:, 2, 2:], 0.0)  # right padding
    np.testing.assert_array_equal(patches.reshape(3, 12)[:, :10], x)
    np.testing.assert_array_equal(reference.merge_patches(patches, 10), x)


def test_stft_matches_torch_stft_defaults(rng):
    import torch

    x = rng.standard_normal((2, 101))
    for n_fft, hop in [(32, 8), (31, 5), (16, 16)]:
        expected = torch.stft(
            torch.from_numpy(x),
            n_fft,
            hop,
            window=torch.hann_window(n_fft, dtype=torch.float64),
            return_complex=True,
        )
        expected = torch.view_as_real(expected).numpy().transpose(0, 2, 1, 3)
        result = reference.stft(x, n_fft, hop)
        assert result.shape == (2, tables.stft_frames(101, n_fft, hop), n_fft // 2 + 1, 2)
        np.testing.assert_allclose(result, expected, atol=1e-10)


def test_mel_filterbank_matches_definition():
    sample_rate, n_fft, n_mels, f_min, f_max = 8000, 64, 6, 100.0, 3500.0
    bank = tables.mel_filterbank(sample_rate, n_fft, n_mels, f_min, f_max)
    mel = lambda f: 2595.0 * math.log10(1 + f / 700)  # noqa: E731
    hz = lambda m: 700.0 * (10 ** (m / 2595) - 1)  # noqa: E731
    corners = [hz(mel(f_min) + (mel(f_max) - mel(f_min)) * i / (n_mels + 1)) for i in range(n_mels + 2)]
    for j in range(n_fft // 2 + 1):
        frequency = j * (sample_rate // 2) / (n_fft // 2)
        for m in range(n_mels):
            low, centre, high = corners[m : m + 3]
            expected = max(0.0, min((frequency - low) / (centre - low), (high - frequency) / (high - centre)))
            assert bank[j, m] == pytest.approx(expected, abs=1e-12)


def test_mel_spectrogram_is_log_of_filtered_power(rng):
    x = rng.standard_normal((2, 256))
    power = reference.complex_power(reference.stft(x, 64, 16))
    bank = tables.mel_filterbank(16000, 64, 8, 0.0, 8000.0)
    expected = np.log(np.einsum("bfj,jm->bfm", power, bank) + 1e-6)
    np.testing.assert_allclose(reference.mel_spectrogram(x, 16000, 64, 16, 8), expected, rtol=1e-12)
    assert reference.mel_spectrogram(x, 16000, 64, 16, 8, log=False).shape == (2, 17, 8)


def test_complex_magnitude(rng):
    spectrum = rng.standard_normal((3, 5, 2))
    np.testing.assert_allclose(
        reference.complex_magnitude(spectrum), np.abs(spectrum[..., 0] + 1j * spectrum[..., 1])
    )


# ----------------------------------------------------------------------------- backends
@pytest.mark.parametrize("length, window", [(50, 8), (64, 16), (7, 4)])
def test_backend_mdct_and_round_trip(backend, rng, length, window):
    preprocess = backend.module("preprocess")
    x = rng.standard_normal((2, length))
    spectrum = backend.numpy(preprocess.mdct(backend.array(x), window))
    close_to(spectrum, reference.mdct(x, window))
    restored = backend.numpy(preprocess.imdct(backend.array(spectrum), length))
    close_to(restored, x)  # float32 round trip: every sample back to ~1e-6


def test_backend_patches_and_normalize(backend, rng):
    preprocess = backend.module("preprocess")
    x = rng.standard_normal((2, 11)).astype(np.float32)
    patches = backend.numpy(preprocess.reshape_patches(backend.array(x), 4))
    np.testing.assert_array_equal(patches, reference.reshape_patches(x, 4))
    merged = backend.numpy(preprocess.merge_patches(backend.array(patches), 11))
    np.testing.assert_array_equal(merged, x)
    normalized = backend.numpy(preprocess.normalize(backend.array(x), 0.5, 2.0))
    np.testing.assert_allclose(normalized, (x - 0.5) / 2.0, rtol=1e-6)
    restored = backend.numpy(preprocess.denormalize(backend.array(normalized), 0.5, 2.0))
    np.testing.assert_allclose(restored, x, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("n_fft, hop, window", [(32, 8, "hann"), (15, 4, "hann"), (16, 16, "rectangular")])
def test_backend_stft(backend, rng, n_fft, hop, window):
    preprocess = backend.module("preprocess")
    x = rng.standard_normal((2, 90))
    result = backend.numpy(preprocess.stft(backend.array(x), n_fft, hop, window))
    close_to(result, reference.stft(x, n_fft, hop, window))
    magnitude = backend.numpy(preprocess.complex_magnitude(backend.array(result)))
    close_to(magnitude, reference.complex_magnitude(result))


def test_backend_mel_spectrogram(backend, rng):
    preprocess = backend.module("preprocess")
    x = rng.standard_normal((2, 300))
    result = backend.numpy(preprocess.mel_spectrogram(backend.array(x), 16000, 64, 16, 10, f_min=20.0))
    # log of a float32 power: relative error 1e-5 of the power is 1e-5 absolute in the log
    np.testing.assert_allclose(result, reference.mel_spectrogram(x, 16000, 64, 16, 10, f_min=20.0), atol=1e-4)


def test_jax_transforms_under_jit(rng):
    import jax

    from specc.runtime.jax import preprocess

    x = rng.standard_normal((2, 40)).astype(np.float32)
    spectrum = jax.jit(lambda signal: preprocess.mdct(signal, 8))(x)
    close_to(np.asarray(jax.jit(lambda s: preprocess.imdct(s, 40))(spectrum)), x)
    close_to(np.asarray(jax.jit(lambda s: preprocess.stft(s, 16, 4))(x)), reference.stft(x, 16, 4))


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda m, a: m.imdct(a(np.zeros((1, 3, 4))), 20),
            "imdct: X has 3 frames but a signal of length 20 with window 4 has 6 frames (ceil(length / window) + 1)",
        ),
        (
            lambda m, a: m.stft(a(np.zeros((1, 8))), 32, 4),
            "stft: x's time axis of size 8 must be greater than n_fft // 2 = 16",
        ),
        (
            lambda m, a: m.stft(a(np.zeros((1, 80))), 32, 4, "hamming"),
            "stft: window must be one of 'hann', 'rectangular', got 'hamming'",
        ),
        (
            lambda m, a: m.complex_magnitude(a(np.zeros((2, 3)))),
            "complex_magnitude: the last axis of x must hold [real, imag] (size 2), got shape [2, 3]",
        ),
        (lambda m, a: m.mdct(a(np.zeros((4,))), 2), "mdct: x must have 2 axes, got shape [4]"),
        (
            lambda m, a: m.mel_spectrogram(a(np.zeros((1, 80))), 16000, 32, 8, 4, f_max=9000),
            "mel_spectrogram: need f_min < f_max <= sample_rate / 2, got f_min = 0.0, f_max = 9000.0, sample_rate = 16000",
        ),
    ],
)
def test_errors_identical_on_every_backend(backend, call, message):
    for module, to_array in ((reference, np.asarray), (backend.module("preprocess"), backend.array)):
        with pytest.raises(ValueError) as error:
            call(module, to_array)
        assert str(error.value) == message
