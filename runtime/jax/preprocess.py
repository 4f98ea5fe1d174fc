"""Signal preprocessing for JAX (float32): MDCT / inverse MDCT, patching, normalisation,
STFT, mel spectrogram. Formulas are the reference's
(``specc.runtime.reference.preprocess``); tables and argument checks are shared
(``specc.runtime.tables``); here they are jit-compatible ``jax.numpy`` code.
"""

from __future__ import annotations

import jax.numpy as jnp
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
    return jnp.asarray(table, dtype=jnp.float32)


def mdct(x, window: int):
    """MDCT, hop N, frames of 2N, sine window: [B, T] -> [B, ceil(T / N) + 1, N].

    ``X[f, k] = sum_n w[n] x_f[n] cos(pi / N * (n + 0.5 + N / 2) * (k + 0.5))`` after
    padding N zeros in front and zeros behind up to a multiple of N plus N.
    """
    frames = tables.check_mdct(x.shape, window)
    padded = jnp.pad(x, ((0, 0), (window, (frames + 1) * window - window - x.shape[1])))
    blocks = padded.reshape(x.shape[0], frames + 1, window)
    framed = jnp.concatenate([blocks[:, :-1], blocks[:, 1:]], axis=-1)
    return (framed * _constant(tables.sine_window(window))) @ _constant(tables.mdct_basis(window))


def imdct(X, length: int):
    """Inverse MDCT: ``(2 / N) * w * (X @ C^T)`` overlap-added with hop N, padding removed."""
    tables.check_imdct(X.shape, length)
    batch, frames, window = X.shape
    pieces = (2.0 / window) * (X @ _constant(tables.mdct_basis(window)).T)
    pieces = pieces * _constant(tables.sine_window(window))
    zeros = jnp.zeros((batch, 1, window), dtype=pieces.dtype)
    blocks = jnp.concatenate([pieces[:, :, :window], zeros], axis=1) + jnp.concatenate(
        [zeros, pieces[:, :, window:]], axis=1
    )
    return blocks.reshape(batch, (frames + 1) * window)[:, window : window + length]


def reshape_patches(x, patch: int):
    """Right-pad [B, T] with zeros to a multiple of p and reshape to [B, ceil(T / p), p]."""
    tables.check_patches(x.shape, patch)
    count = -(-x.shape[1] // patch)
    padded = jnp.pad(x, ((0, 0), (0, count * patch - x.shape[1])))
    return padded.reshape(x.shape[0], count, patch)


def merge_patches(x, length: int):
    """Inverse of :func:`reshape_patches`: [B, P, p] -> [B, P * p] cut to ``length``."""
    tables.check_merge_patches(x.shape, length)
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
    tables.check_stft(x.shape, n_fft, hop, window)
    indices = tables.stft_frame_indices(x.shape[1], n_fft, hop)
    framed = x[:, indices] * _constant(tables.stft_window(n_fft, window))
    spectrum = jnp.fft.rfft(framed, axis=-1)
    return jnp.stack([spectrum.real, spectrum.imag], axis=-1).astype(x.dtype)


def complex_power(x):
    """``re^2 + im^2`` of a [..., 2] array."""
    tables.check_complex("complex_power", x.shape)
    return x[..., 0] ** 2 + x[..., 1] ** 2


def complex_magnitude(x, eps: float = 0.0):
    """``sqrt(re^2 + im^2 + eps)`` of a [..., 2] array."""
    tables.check_complex("complex_magnitude", x.shape)
    return jnp.sqrt(x[..., 0] ** 2 + x[..., 1] ** 2 + eps)


def mel_spectrogram(
    x, sample_rate: int, n_fft: int, hop: int, n_mels: int, f_min: float = 0.0, f_max=None, log: bool = True
):
    """``log(|stft|^2 @ mel_filterbank + 1e-6)`` (HTK, unnormalised): [B, T] -> [B, frames, n_mels]."""
    tables.check_stft(x.shape, n_fft, hop, "hann", "mel_spectrogram")
    f_max = tables.check_mel(sample_rate, n_mels, f_min, f_max)
    filterbank = tables.mel_filterbank(sample_rate, n_fft, n_mels, float(f_min), f_max)
    mel = complex_power(stft(x, n_fft, hop)) @ _constant(filterbank)
    return jnp.log(mel + tables.LOG_OFFSET) if log else mel
