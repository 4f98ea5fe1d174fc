"""Evaluation metrics (jax).

Same names, signatures, defaults and error text as ``specc.runtime.reference.metrics``.
Every metric returns a 0-d ``jax.Array`` (float32) so it can stay on the device;
``float(metric)`` turns it into a Python number. ``linear_assignment`` moves its distance
matrices to the host and solves the matchings with scipy (not jit-compatible).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from specc.runtime import checks
from specc.runtime.jax import losses
from specc.runtime.reference.metrics import (
    check_spectral_distribution_arguments,
    matched_distance,
    welch_frames,
)


def accuracy(logits, labels, ignore_index=None):
    """Fraction of positions where ``argmax(logits) == labels`` (ties: the first maximum),
    over positions with ``labels != ignore_index``; 0 when there are none.

    Args:
      logits: ``[..., V]``; labels: ``[...]`` integer ids.
    """
    checks.check_same_shape("accuracy", "logits without the class axis", logits.shape[:-1], "labels", labels.shape)
    keep = jnp.ones(labels.shape, bool) if ignore_index is None else labels != ignore_index
    correct = (jnp.argmax(logits, axis=-1) == labels) & keep
    return correct.sum().astype(jnp.float32) / jnp.maximum(keep.sum(), 1).astype(jnp.float32)


def mse(pred, target):
    """``mean((pred - target)^2)``."""
    checks.check_same_shape("mse", "pred", pred.shape, "target", target.shape)
    return jnp.mean((pred - target) ** 2)


def mae(pred, target):
    """``mean(|pred - target|)``."""
    checks.check_same_shape("mae", "pred", pred.shape, "target", target.shape)
    return jnp.mean(jnp.abs(pred - target))


def perplexity(logits, labels, ignore_index=None):
    """``exp(cross_entropy(logits, labels, ignore_index))`` (1 when no position counts)."""
    return jnp.exp(losses.cross_entropy(logits, labels, ignore_index))


def log_spectral_distance(pred_signal, target_signal, eps=1e-8):
    """Log-spectral distance in dB.

    ``P = rfft(pred, norm = "forward")``, ``T = rfft(target, norm = "forward")`` over the last
    axis; ``dB(z) = 10 log10(max(|z|^2, eps))``; per row ``sqrt(mean over bins of
    (dB(P) - dB(T))^2)``; mean over rows (all leading axes).

    Args:
      pred_signal, target_signal: ``[B, L]`` (or ``[..., L]``), same shape.
    """
    checks.check_same_shape(
        "log_spectral_distance", "pred_signal", pred_signal.shape, "target_signal", target_signal.shape
    )
    checks.check_min_rank("log_spectral_distance", "pred_signal", pred_signal.shape, 1)

    def decibels(signal):
        spectrum = jnp.fft.rfft(signal, axis=-1, norm="forward")
        return 10.0 * jnp.log10(jnp.maximum(spectrum.real**2 + spectrum.imag**2, eps))

    difference = decibels(pred_signal) - decibels(target_signal)
    return jnp.mean(jnp.sqrt(jnp.mean(difference**2, axis=-1)))


def tokens(values, params_per_token, function="tokens", name="pred"):
    """Split the last axis of ``[B, P]`` into ``params_per_token`` equal chunks and stack
    them as tokens ``[B, P / params_per_token, params_per_token]`` (``[f_1..f_k, a_1..a_k]``
    becomes the pairs ``(f_j, a_j)``)."""
    checks.check_rank(function, name, values.shape, 2)
    checks.check_divisible(function, f"the last axis of {name}", values.shape[-1], "params_per_token", params_per_token)
    count = values.shape[-1] // params_per_token
    return jnp.swapaxes(values.reshape(values.shape[0], params_per_token, count), 1, 2)


def _token_distances(function, pred, target, params_per_token):
    checks.check_same_shape(function, "pred", pred.shape, "target", target.shape)
    first = tokens(pred, params_per_token, function, "pred")
    second = tokens(target, params_per_token, function, "target")
    return ((first[:, :, None, :] - second[:, None, :, :]) ** 2).sum(axis=-1)


def chamfer(pred, target, params_per_token):
    """Chamfer distance between token sets.

    ``C[b, i, j] = |pred_token_i - target_token_j|^2``; per row
    ``mean_j min_i C + mean_i min_j C``; mean over rows.

    Args:
      pred, target: ``[B, P]`` with ``params_per_token`` dividing P.
    """
    squared = _token_distances("chamfer", pred, target, params_per_token)
    return jnp.mean(squared.min(axis=1).mean(axis=-1) + squared.min(axis=2).mean(axis=-1))


def linear_assignment(pred, target, params_per_token):
    """Linear-assignment distance: tokens as in ``chamfer``, Euclidean (not squared)
    distances, the minimum-cost one-to-one matching per row (scipy's Hungarian solver on the
    host), mean matched distance per row, mean over rows."""
    squared = _token_distances("linear_assignment", pred, target, params_per_token)
    distances = np.sqrt(np.asarray(squared, dtype=np.float64))
    return jnp.asarray(np.mean(matched_distance(distances)), jnp.float32)


def spectral_distribution_distance(samples, held_out, frame_length=256, eps=1e-10):
    """Distance in dB between the mean power spectra (Welch) of two sets of signals.

    Same formula as ``specc.runtime.reference.metrics.spectral_distribution_distance``:
    Hann frames of ``N = frame_length``, hop ``N / 2`` (``welch_frames``);
    ``S[k] = mean over rows and frames of |rfft(w * frame)[k]|^2 / sum(w^2)``;
    ``sqrt(mean over k of (10 log10(max(S_samples, eps)) - 10 log10(max(S_held_out, eps)))^2)``.

    Args:
      samples: ``[..., L]`` generated signals; held_out: ``[..., L]`` data signals (any
      number of rows, the same length L >= frame_length).
    """
    check_spectral_distribution_arguments(samples.shape, held_out.shape, eps)
    indices, window = welch_frames(samples.shape[-1], frame_length)
    frame_indices, hann = jnp.asarray(indices), jnp.asarray(window, jnp.float32)

    def decibels(signal):
        spectrum = jnp.fft.rfft(signal[..., frame_indices] * hann, axis=-1)
        power = (spectrum.real**2 + spectrum.imag**2) / float(np.sum(window**2))
        return 10.0 * jnp.log10(jnp.maximum(power.reshape(-1, power.shape[-1]).mean(axis=0), eps))

    return jnp.sqrt(jnp.mean((decibels(samples) - decibels(held_out)) ** 2))
