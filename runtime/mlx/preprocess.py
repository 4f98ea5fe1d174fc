"""Signal preprocessing for MLX (float32): MDCT / inverse MDCT, patching, normalisation,
STFT, mel spectrogram. Formulas are the reference's
(``specc.runtime.reference.preprocess``); tables and argument checks are shared
(``specc.runtime.tables``).
"""

from __future__ import annotations

import mlx.core as mx
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


def _constant(table: np.ndarray):
    return mx.array(table.astype(np.float32))


def mdct(x, window: int):
    """MDCT, hop N, frames of 2N, sine window: [B, T] -> [B, ceil(T / N) + 1, N].

    ``X[f, k] = sum_n w[n] x_f[n] cos(pi / N * (n + 0.5 + N / 2) * (k + 0.5))`` after
    padding N zeros in front and zeros behind up to a multiple of N plus N.
    """
    frames = tables.check_mdct(tuple(x.shape), window)
    padded = mx.pad(x, [(0, 0), (window, (frames + 1) * window - window - x.shape[1])])
    blocks = padded.reshape(x.shape[0], frames + 1, window)
    framed = mx.concatenate([blocks[:, :-1], blocks[:, 1:]], axis=-1)
    return (framed * _constant(tables.sine_window(window))) @ _constant(tables.mdct_basis(window))


def imdct(X, length: int):
    """Inverse MDCT: ``(2 / N) * w * (X @ C^T)`` overlap-added with hop N, padding removed."""
    tables.check_imdct(tuple(X.shape), length)
    batch, frames, window = X.shape
    pieces = (2.0 / window) * (X @ _constant(tables.mdct_basis(window).T))
    pieces = pieces * _constant(tables.sine_window(window))
    blocks = mx.pad(pieces[:, :, :window], [(0, 0), (0, 1), (0, 0)]) + mx.pad(
        pieces[:, :, window:], [(0, 0), (1, 0), (0, 0)]
    )
    return blocks.reshape(batch, (frames + 1) * window)[:, window : window + length]


def reshape_patches(x, patch: int):
    """Right-pad [B, T] with zeros to a multiple of p and reshape to [B, ceil(T / p), p]."""
    tables.check_patches(tuple(x.shape), patch)
    count = -(-x.shape[1] // patch)
    return mx.pad(x, [(0, 0), (0, count * patch - x.shape[1])]).reshape(x.shape[0], count, patch)


def merge_patches(x, length: int):
    """Inverse of :func:`reshape_patches`: [B, P, p] -> [B, P * p] cut to ``length``."""
    tables.check_merge_patches(tuple(x.shape), length)
    return x.reshape(x.shape[0], -1)[:, :length]


def normalize(x, mean, std):
    """``(x - mean) / std``."""
    return (x - mean) / std


def denormalize(x, mean, std):
    """``x * std + mean``."""
    return x * std + mean


def stft(x, n_fft: int, hop: int, window: str = "hann"):
    """One-sided centred STFT (reflect padding n_fft // 2, periodic Hann), torch.stft's
    defaults: [B, T] -> [B, frames, n_fft // 2 + 1, 2] with [real, imag] last."""
    tables.check_stft(tuple(x.shape), n_fft, hop, window)
    indices = mx.array(tables.stft_frame_indices(x.shape[1], n_fft, hop).astype(np.int32))
    framed = x[:, indices] * _constant(tables.stft_window(n_fft, window))
    spectrum = mx.fft.rfft(framed, axis=-1)
    return mx.stack([mx.real(spectrum), mx.imag(spectrum)], axis=-1)


def complex_power(x):
    """``re^2 + im^2`` of a [..., 2] array."""
    tables.check_complex("complex_power", tuple(x.shape))
    return x[..., 0] ** 2 + x[..., 1] ** 2


def complex_magnitude(x, eps: float = 0.0):
    """``sqrt(re^2 + im^2 + eps)`` of a [..., 2] array."""
    tables.check_complex("complex_magnitude", tuple(x.shape))
    return mx.sqrt(x[..., 0] ** 2 + x[..., 1] ** 2 + eps)


def mel_spectrogram(
    x, sample_rate: int, n_fft: int, hop: int, n_mels: int, f_min: float = 0.0, f_max=None, log: bool = True
):
    """``log(|stft|^2 @ mel_filterbank + 1e-6)`` (HTK, unnormalised): [B, T] -> [B, frames, n_mels]."""
    tables.check_stft(tuple(x.shape), n_fft, hop, "hann", "mel_spectrogram")
    f_max = tables.check_mel(sample_rate, n_mels, f_min, f_max)
    filterbank = tables.mel_filterbank(sample_rate, n_fft, n_mels, float(f_min), f_max)
    mel = complex_power(stft(x, n_fft, hop)) @ _constant(filterbank)
    return mx.log(mel + tables.LOG_OFFSET) if log else mel
