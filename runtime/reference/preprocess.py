"""Signal preprocessing (numpy reference, float64): MDCT / inverse MDCT, patching,
normalisation, STFT, mel spectrogram.

Signals are ``[B, T]``; every output is channels-last. The constant tables (windows, MDCT
basis, STFT frame indices, mel filterbank) and the argument checks live in
``specc.runtime.tables``, shared with the jax, torch and mlx runtimes, so every
implementation uses the same numbers and raises the same messages.
"""

from __future__ import annotations

import numpy as np

from specc.runtime import tables

__all__ = [
    "complex_magnitude",
    "complex_power",
    "denormalize",
    "imdct",
    "mdct",
    "mel_spectrogram",
    "merge_patches",
    "normalize",
    "reshape_patches",
    "stft",
]


# ----------------------------------------------------------------------------- transforms
def mdct(x, window: int):
    """MDCT with hop N, frames of 2N samples and a sine window: [B, T] -> [B, F, N].

    The signal is padded with N zeros in front and zeros behind up to a multiple of N plus
    N, so ``F = ceil(T / N) + 1``;
    ``X[f, k] = sum_n w[n] x_f[n] cos(pi / N * (n + 0.5 + N / 2) * (k + 0.5))``, n < 2N, k < N.
    """
    x = np.asarray(x, dtype=np.float64)
    frames = tables.check_mdct(x.shape, window)
    padded = np.zeros((x.shape[0], (frames + 1) * window))
    padded[:, window : window + x.shape[1]] = x
    framed = np.lib.stride_tricks.sliding_window_view(padded, 2 * window, axis=1)[:, ::window]
    return np.einsum("bfn,n,nk->bfk", framed, tables.sine_window(window), tables.mdct_basis(window))


def imdct(X, length: int):
    """Inverse of :func:`mdct`: [B, F, N] -> [B, length].

    ``y_f[n] = (2 / N) * w[n] * sum_k X[f, k] cos(pi / N * (n + 0.5 + N / 2) * (k + 0.5))``;
    frames are overlap-added with hop N, then the N leading samples of padding are dropped
    and the result cut to ``length``: ``imdct(mdct(x), T) == x``.
    """
    X = np.asarray(X, dtype=np.float64)
    tables.check_imdct(X.shape, length)
    batch, frames, window = X.shape
    pieces = (2.0 / window) * np.einsum("bfk,nk->bfn", X, tables.mdct_basis(window)) * tables.sine_window(window)
    output = np.zeros((batch, (frames + 1) * window))
    for frame in range(frames):
        output[:, frame * window : (frame + 2) * window] += pieces[:, frame]
    return output[:, window : window + length]


def reshape_patches(x, patch: int):
    """Right-pad [B, T] with zeros to a multiple of p and reshape to [B, ceil(T / p), p]."""
    x = np.asarray(x)
    tables.check_patches(x.shape, patch)
    count = -(-x.shape[1] // patch)
    padded = np.zeros((x.shape[0], count * patch), dtype=x.dtype)
    padded[:, : x.shape[1]] = x
    return padded.reshape(x.shape[0], count, patch)


def merge_patches(x, length: int):
    """Inverse of :func:`reshape_patches`: [B, P, p] -> [B, P * p] cut to ``length``."""
    x = np.asarray(x)
    tables.check_merge_patches(x.shape, length)
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
    tables.check_stft(x.shape, n_fft, hop, window)
    half = n_fft // 2
    padded = np.pad(x, ((0, 0), (half, half)), mode="reflect")
    framed = np.lib.stride_tricks.sliding_window_view(padded, n_fft, axis=1)[:, ::hop]
    spectrum = np.fft.rfft(framed * tables.stft_window(n_fft, window), axis=-1)
    return np.stack([spectrum.real, spectrum.imag], axis=-1)


def complex_power(x):
    """``re^2 + im^2`` of a [..., 2] array of [real, imag] pairs."""
    x = np.asarray(x)
    tables.check_complex("complex_power", x.shape)
    return x[..., 0] ** 2 + x[..., 1] ** 2


def complex_magnitude(x, eps: float = 0.0):
    """``sqrt(re^2 + im^2 + eps)`` of a [..., 2] array (eps > 0 keeps the gradient finite at 0)."""
    x = np.asarray(x)
    tables.check_complex("complex_magnitude", x.shape)
    return np.sqrt(x[..., 0] ** 2 + x[..., 1] ** 2 + eps)


def mel_spectrogram(
    x, sample_rate: int, n_fft: int, hop: int, n_mels: int, f_min: float = 0.0, f_max=None, log: bool = True
):
    """Mel spectrogram, torchaudio's defaults: [B, T] -> [B, frames, n_mels].

    Power ``|stft(x, n_fft, hop)|^2`` times the mel filterbank (``tables.mel_filterbank``); then
    ``log(mel + 1e-6)`` when ``log``. ``f_max`` defaults to ``sample_rate // 2``.
    """
    x = np.asarray(x, dtype=np.float64)
    tables.check_stft(x.shape, n_fft, hop, "hann", "mel_spectrogram")
    f_max = tables.check_mel(sample_rate, n_mels, f_min, f_max)
    filterbank = tables.mel_filterbank(sample_rate, n_fft, n_mels, float(f_min), f_max)
    mel = complex_power(stft(x, n_fft, hop)) @ filterbank
    return np.log(mel + tables.LOG_OFFSET) if log else mel
