"""Host-side numpy tables and argument checks shared by the numpy reference and every backend.

Constant tables (MDCT sine window and basis, STFT windows and frame indices, the mel
filterbank, Welch frames) are float64 numpy arrays built once per size; each backend turns
them into its own arrays, so every implementation uses the same numbers. The checks work
on shapes and plain values, so every implementation raises the same message for the same
mistake. ``matched_distance`` solves assignments with scipy on the host.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy.optimize import linear_sum_assignment
from specc.runtime import checks

WINDOWS = ("hann", "rectangular")
LOG_OFFSET = 1e-6


# ----------------------------------------------------------------------------- preprocess checks
def check_mdct(shape, window: int) -> int:
    """Check ``mdct``'s arguments; return the number of frames ``F = ceil(T / N) + 1``."""
    checks.check_rank("mdct", "x", shape, 2)
    checks.check_positive("mdct", "window", window)
    return mdct_frames(shape[1], window)


def check_imdct(shape, length: int) -> None:
    checks.check_rank("imdct", "X", shape, 3)
    checks.check_positive("imdct", "length", length)
    expected = mdct_frames(length, shape[2])
    if shape[1] != expected:
        raise ValueError(
            f"imdct: X has {shape[1]} frames but a signal of length {length} with window "
            f"{shape[2]} has {expected} frames (ceil(length / window) + 1)"
        )


def check_patches(shape, patch: int) -> None:
    checks.check_rank("reshape_patches", "x", shape, 2)
    checks.check_positive("reshape_patches", "patch", patch)


def check_merge_patches(shape, length: int) -> None:
    checks.check_rank("merge_patches", "x", shape, 3)
    checks.check_positive("merge_patches", "length", length)
    if shape[1] * shape[2] < length:
        raise ValueError(
            f"merge_patches: x of shape {checks.format_shape(shape)} holds {shape[1] * shape[2]} "
            f"samples, fewer than length = {length}"
        )


def check_stft(shape, n_fft: int, hop: int, window: str, function: str = "stft") -> None:
    checks.check_rank(function, "x", shape, 2)
    checks.check_positive(function, "n_fft", n_fft)
    checks.check_positive(function, "hop", hop)
    checks.check_choice(function, "window", window, WINDOWS)
    checks.check_longer_than(function, "x's time axis", shape[1], "n_fft // 2", n_fft // 2)


def check_complex(function: str, shape) -> None:
    checks.check_min_rank(function, "x", shape, 1)
    if shape[-1] != 2:
        raise ValueError(
            f"{function}: the last axis of x must hold [real, imag] (size 2), got shape "
            f"{checks.format_shape(shape)}"
        )


def check_mel(sample_rate, n_mels, f_min, f_max) -> float:
    """Check the mel arguments; return the resolved ``f_max`` (``sample_rate // 2`` by default)."""
    checks.check_positive("mel_spectrogram", "sample_rate", sample_rate)
    checks.check_positive("mel_spectrogram", "n_mels", n_mels)
    checks.check_non_negative("mel_spectrogram", "f_min", f_min)
    f_max = float(sample_rate // 2) if f_max is None else float(f_max)
    if not f_min < f_max <= sample_rate / 2:
        raise ValueError(
            f"mel_spectrogram: need f_min < f_max <= sample_rate / 2, got f_min = {f_min}, "
            f"f_max = {f_max}, sample_rate = {sample_rate}"
        )
    return f_max


# ----------------------------------------------------------------------------- preprocess tables
def mdct_frames(length: int, window: int) -> int:
    """``F = ceil(length / window) + 1``."""
    return -(-int(length) // int(window)) + 1


@functools.lru_cache(maxsize=32)
def sine_window(window: int) -> np.ndarray:
    """``w[n] = sin(pi * (n + 0.5) / (2N))``, n < 2N (Princen-Bradley: w[n]^2 + w[n+N]^2 = 1)."""
    return np.sin(np.pi * (np.arange(2 * window) + 0.5) / (2 * window))


@functools.lru_cache(maxsize=32)
def mdct_basis(window: int) -> np.ndarray:
    """``C[n, k] = cos(pi / N * (n + 0.5 + N / 2) * (k + 0.5))``, shape [2N, N]."""
    n = np.arange(2 * window)[:, None]
    k = np.arange(window)[None, :]
    return np.cos(np.pi / window * (n + 0.5 + window / 2) * (k + 0.5))


@functools.lru_cache(maxsize=32)
def stft_window(n_fft: int, window: str = "hann") -> np.ndarray:
    """Periodic Hann ``0.5 - 0.5 * cos(2 pi n / n_fft)`` (torch.hann_window's default) or ones."""
    if window == "rectangular":
        return np.ones(n_fft)
    return 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)


def stft_frames(length: int, n_fft: int, hop: int) -> int:
    """Frames of a centred STFT: ``1 + (T + 2 * (n_fft // 2) - n_fft) // hop``."""
    return 1 + (length + 2 * (n_fft // 2) - n_fft) // hop


@functools.lru_cache(maxsize=32)
def stft_frame_indices(length: int, n_fft: int, hop: int) -> np.ndarray:
    """Indices into the unpadded signal of every sample of every frame, [frames, n_fft].

    Frame f, sample n reads padded position ``p = f * hop + n``, i.e. signal position
    ``q = p - n_fft // 2`` reflected at both ends (``-q`` below 0, ``2 (T - 1) - q`` above
    T - 1): one gather does the reflect padding and the framing.
    """
    frames = stft_frames(length, n_fft, hop)
    position = np.arange(frames)[:, None] * hop + np.arange(n_fft)[None, :] - n_fft // 2
    position = np.abs(position)
    return np.where(position > length - 1, 2 * (length - 1) - position, position)


def hz_to_mel(frequency):
    """HTK mel scale: ``2595 * log10(1 + f / 700)``."""
    return 2595.0 * np.log10(1.0 + np.asarray(frequency, dtype=np.float64) / 700.0)


def mel_to_hz(mel):
    """Inverse HTK mel scale: ``700 * (10 ** (m / 2595) - 1)``."""
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


@functools.lru_cache(maxsize=32)
def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, f_min: float, f_max: float) -> np.ndarray:
    """HTK triangular filterbank without normalisation (torchaudio's ``melscale_fbanks``
    defaults), shape [n_fft // 2 + 1, n_mels].

    Bin frequencies ``linspace(0, sample_rate // 2, n_freqs)``; ``n_mels + 2`` points evenly
    spaced in mel between f_min and f_max give the corners ``f_0 < f_1 < ...``; filter m is
    ``max(0, min((f - f_m) / (f_{m+1} - f_m), (f_{m+2} - f) / (f_{m+2} - f_{m+1})))``.
    """
    frequencies = np.linspace(0, sample_rate // 2, n_fft // 2 + 1)
    corners = mel_to_hz(np.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2))
    widths = np.diff(corners)
    slopes = corners[None, :] - frequencies[:, None]
    rising = -slopes[:, :-2] / widths[:-1]
    falling = slopes[:, 2:] / widths[1:]
    return np.maximum(0.0, np.minimum(rising, falling))


# ----------------------------------------------------------------------------- metrics
SPECTRAL_DISTRIBUTION = "spectral_distribution_distance"


def welch_frames(length, frame_length, name="samples"):
    """Frame indices ``[F, N]`` and the periodic Hann window ``[N]`` (float64) of Welch's method.

    ``N = frame_length`` (a positive even integer), hop ``N / 2``,
    ``F = 1 + floor((L - N) / (N / 2))`` frames (the tail that fills no frame is dropped);
    ``indices[f, n] = f N / 2 + n``; ``w[n] = 0.5 - 0.5 cos(2 pi n / N)``.
    """
    checks.check_even(SPECTRAL_DISTRIBUTION, "frame_length", frame_length)
    checks.check_at_least(SPECTRAL_DISTRIBUTION, f"the last axis of {name}", length, "frame_length", frame_length)
    hop = frame_length // 2
    count = 1 + (length - frame_length) // hop
    indices = hop * np.arange(count)[:, None] + np.arange(frame_length)[None, :]
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(frame_length) / frame_length)
    return indices, window


def check_spectral_distribution_arguments(samples_shape, held_out_shape, eps):
    """The argument checks of ``spectral_distribution_distance`` (shapes and ``eps``)."""
    checks.check_min_rank(SPECTRAL_DISTRIBUTION, "samples", samples_shape, 1)
    checks.check_min_rank(SPECTRAL_DISTRIBUTION, "held_out", held_out_shape, 1)
    checks.check_same_shape(
        SPECTRAL_DISTRIBUTION,
        "the last axis of samples",
        tuple(samples_shape)[-1:],
        "the last axis of held_out",
        tuple(held_out_shape)[-1:],
    )
    checks.check_positive(SPECTRAL_DISTRIBUTION, "eps", eps)


def matched_distance(distances):
    """Mean Euclidean distance of the optimal (Hungarian) matching of each row of
    ``distances [B, k, k]`` (host numpy / scipy), as a float64 ``[B]`` array."""
    rows = []
    for matrix in np.asarray(distances, dtype=np.float64):
        first, second = linear_sum_assignment(matrix)
        rows.append(matrix[first, second].mean())
    return np.asarray(rows)
