"""Signal preprocessing (numpy reference, float64): MDCT / inverse MDCT, patching,
normalisation, STFT, mel spectrogram.

Signals are ``[B, T]``; every output is channels-last. The constant tables (windows, MDCT
basis, STFT frame indices, mel filterbank) and the argument checks defined here are shared
by the jax, torch and mlx runtimes, so every backend uses the same numbers and raises the
same messages.
"""

from __future__ import annotations

import functools

import numpy as np

from specc.runtime import checks

WINDOWS = ("hann", "rectangular")
LOG_OFFSET = 1e-6


# ----------------------------------------------------------------------------- checks
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


# ----------------------------------------------------------------------------- tables
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


# ----------------------------------------------------------------------------- transforms
def mdct(x, window: int):
    """MDCT with hop N, frames of 2N samples and a sine window: [B, T] -> [B, F, N].

    The signal is padded with N zeros in front and zeros behind up to a multiple of N plus
    N, so ``F = ceil(T / N) + 1``;
    ``X[f, k] = sum_n w[n] x_f[n] cos(pi / N * (n + 0.5 + N / 2) * (k + 0.5))``, n < 2N, k < N.
    """
    x = np.asarray(x, dtype=np.float64)
    frames = check_mdct(x.shape, window)
    padded = np.zeros((x.shape[0], (frames + 1) * window))
    padded[:, window : window + x.shape[1]] = x
    framed = np.lib.stride_tricks.sliding_window_view(padded, 2 * window, axis=1)[:, ::window]
    return np.einsum("bfn,n,nk->bfk", framed, sine_window(window), mdct_basis(window))


def imdct(X, length: int):
    """Inverse of :func:`mdct`: [B, F, N] -> [B, length].

    ``y_f[n] = (2 / N) * w[n] * sum_k X[f, k] cos(pi / N * (n + 0.5 + N / 2) * (k + 0.5))``;
    frames are overlap-added with hop N, then the N leading samples of padding are dropped
    and the result cut to ``length``: ``imdct(mdct(x), T) == x``.
    """
    X = np.asarray(X, dtype=np.float64)
    check_imdct(X.shape, length)
    batch, frames, window = X.shape
    pieces = (2.0 / window) * np.einsum("bfk,nk->bfn", X, mdct_basis(window)) * sine_window(window)
    output = np.zeros((batch, (frames + 1) * window))
    for frame in range(frames):
        output[:, frame * window : (frame + 2) * window] += pieces[:, frame]
    return output[:, window : window + length]


def reshape_patches(x, patch: int):
    """Right-pad [B, T] with zeros to a multiple of p and reshape to [B, ceil(T / p), p]."""
    x = np.asarray(x)
    check_patches(x.shape, patch)
    count = -(-x.shape[1] // patch)
    padded = np.zeros((x.shape[0], count * patch), dtype=x.dtype)
    padded[:, : x.shape[1]] = x
    return padded.reshape(x.shape[0], count, patch)


def merge_patches(x, length: int):
    """Inverse of :func:`reshape_patches`: [B, P, p] -> [B, P * p] cut to ``length``."""
    x = np.asarray(x)
    check_merge_patches(x.shape, length)
    return x.reshape(x.shape[0], -1)[:, :length]


def normalize(x, mean, std):
    """``(x - mean) / std`` (mean and std broadcast against x)."""
    return (np.asarray(x) - mean) / std


def denormalize(x, mean, std):
    """Inverse of :func:`normalize`: ``x * std + mean``."""
    return np.asarray(x) * std + mean


def stft(x, n_fft: int, hop: int, window: str = "hann"):
    """One-sided STFT, torch.stft's defaults: [B, T] -> [B, frames, n_fft // 2 + 1, 2].

    Reflect-pad n_fft // 2 samples on both sides (``center=True``), frames of n_fft with hop
    ``hop`` (``frames = 1 + T // hop`` for even n_fft), periodic Hann window, unnormalised
    ``X[f, j] = sum_n w[n] x_f[n] exp(-2 pi i j n / n_fft)``; [real, imag] on the last axis.
    """
    x = np.asarray(x, dtype=np.float64)
    check_stft(x.shape, n_fft, hop, window)
    half = n_fft // 2
    padded = np.pad(x, ((0, 0), (half, half)), mode="reflect")
    framed = np.lib.stride_tricks.sliding_window_view(padded, n_fft, axis=1)[:, ::hop]
    spectrum = np.fft.rfft(framed * stft_window(n_fft, window), axis=-1)
    return np.stack([spectrum.real, spectrum.imag], axis=-1)


def complex_power(x):
    """``re^2 + im^2`` of a [..., 2] array of [real, imag] pairs."""
    x = np.asarray(x)
    check_complex("complex_power", x.shape)
    return x[..., 0] ** 2 + x[..., 1] ** 2


def complex_magnitude(x, eps: float = 0.0):
    """``sqrt(re^2 + im^2 + eps)`` of a [..., 2] array (eps > 0 keeps the gradient finite at 0)."""
    x = np.asarray(x)
    check_complex("complex_magnitude", x.shape)
    return np.sqrt(x[..., 0] ** 2 + x[..., 1] ** 2 + eps)


def mel_spectrogram(
    x, sample_rate: int, n_fft: int, hop: int, n_mels: int, f_min: float = 0.0, f_max=None, log: bool = True
):
    """Mel spectrogram, torchaudio's defaults: [B, T] -> [B, frames, n_mels].

    Power ``|stft(x, n_fft, hop)|^2`` times the :func:`mel_filterbank`; then
    ``log(mel + 1e-6)`` when ``log``. ``f_max`` defaults to ``sample_rate // 2``.
    """
    x = np.asarray(x, dtype=np.float64)
    check_stft(x.shape, n_fft, hop, "hann", "mel_spectrogram")
    f_max = check_mel(sample_rate, n_mels, f_min, f_max)
    mel = complex_power(stft(x, n_fft, hop)) @ mel_filterbank(sample_rate, n_fft, n_mels, float(f_min), f_max)
    return np.log(mel + LOG_OFFSET) if log else mel
