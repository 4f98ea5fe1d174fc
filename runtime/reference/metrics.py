"""Evaluation metrics (numpy reference).

Every metric returns a 0-d array (here numpy; in a backend that backend's array type), so
it can stay on the device inside a compiled evaluation step; ``float(metric)`` turns it
into a Python number. The backends bind ``specc.runtime.composites.metrics`` to their
``ops``; this module is written out in plain numpy as the oracle. ``linear_assignment``
solves its matchings with scipy on the host on every backend (``tables.matched_distance``).
"""

from __future__ import annotations

import numpy as np

from specc.runtime import checks, tables
from specc.runtime.reference import losses

__all__ = [
    "accuracy",
    "chamfer",
    "linear_assignment",
    "log_spectral_distance",
    "mae",
    "mse",
    "perplexity",
    "spectral_distribution_distance",
    "tokens",
]


def accuracy(logits, labels, ignore_index=None):
    """Fraction of positions where ``argmax(logits) == labels`` (ties: the first maximum),
    over positions with ``labels != ignore_index``; 0 when there are none.

    Args:
      logits: ``[..., V]``; labels: ``[...]`` integer ids.
    """
    checks.check_same_shape("accuracy", "logits without the class axis", logits.shape[:-1], "labels", labels.shape)
    keep = np.ones(labels.shape, bool) if ignore_index is None else labels != ignore_index
    correct = (np.argmax(logits, axis=-1) == labels) & keep
    return np.asarray(correct.sum() / max(int(keep.sum()), 1), dtype=np.float64)


def mse(pred, target):
    """``mean((pred - target)^2)``."""
    checks.check_same_shape("mse", "pred", pred.shape, "target", target.shape)
    return np.mean((pred - target) ** 2)


def mae(pred, target):
    """``mean(|pred - target|)``."""
    checks.check_same_shape("mae", "pred", pred.shape, "target", target.shape)
    return np.mean(np.abs(pred - target))


def perplexity(logits, labels, ignore_index=None):
    """``exp(cross_entropy(logits, labels, ignore_index))`` (1 when no position counts)."""
    return np.exp(losses.cross_entropy(logits, labels, ignore_index))


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
        spectrum = np.fft.rfft(signal, axis=-1, norm="forward")
        return 10.0 * np.log10(np.maximum(spectrum.real**2 + spectrum.imag**2, eps))

    difference = decibels(pred_signal) - decibels(target_signal)
    return np.mean(np.sqrt(np.mean(difference**2, axis=-1)))


def tokens(values, params_per_token, function="tokens", name="pred"):
    """Split the last axis of ``[B, P]`` into ``params_per_token`` equal chunks and stack
    them as tokens: ``[B, k, params_per_token]`` with ``k = P / params_per_token`` and token
    j = ``(values[:, i * k + j] for i in range(params_per_token))`` (e.g. ``[f_1..f_k, a_1..a_k]``
    becomes the pairs ``(f_j, a_j)``)."""
    checks.check_rank(function, name, values.shape, 2)
    checks.check_divisible(function, f"the last axis of {name}", values.shape[-1], "params_per_token", params_per_token)
    count = values.shape[-1] // params_per_token
    return np.swapaxes(values.reshape(values.shape[0], params_per_token, count), 1, 2)


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
    return np.mean(squared.min(axis=1).mean(axis=-1) + squared.min(axis=2).mean(axis=-1))


def linear_assignment(pred, target, params_per_token):
    """Linear-assignment distance: tokens as in ``chamfer``, Euclidean (not squared)
    distances, the minimum-cost one-to-one matching per row (scipy's Hungarian solver on the
    host), mean matched distance per row, mean over rows."""
    squared = _token_distances("linear_assignment", pred, target, params_per_token)
    return np.mean(tables.matched_distance(np.sqrt(squared)))


def spectral_distribution_distance(samples, held_out, frame_length=256, eps=1e-10):
    """Distance in dB between the mean power spectra (Welch) of two sets of signals.

    The signals are not paired: it compares the distribution of generated audio with that
    of held-out audio through its mean power spectral density. For each set, every row of
    ``[..., L]`` is cut into Hann-windowed frames (``tables.welch_frames``: ``N = frame_length``,
    hop ``N / 2``) and
    ``S[k] = mean over rows r and frames f of |rfft(w * x_r[f N / 2 : f N / 2 + N])[k]|^2 / sum(w^2)``
    for ``k = 0 .. N / 2`` (white noise of variance s^2 has ``E[S] = s^2`` in every bin); then
    ``D = sqrt(mean over k of (10 log10(max(S_samples, eps)) - 10 log10(max(S_held_out, eps)))^2)``.

    0 for identical sets (and for any reordering of the rows), symmetric, in dB: scaling
    every signal by ``a`` moves it ``20 log10 |a|`` dB away. It sees neither phase nor how
    the spectrum is shared among rows (every row equal to the mean spectrum also scores 0).

    Args:
      samples: ``[..., L]`` generated signals; held_out: ``[..., L]`` data signals (any
      number of rows, the same length L >= frame_length).
    """
    tables.check_spectral_distribution_arguments(samples.shape, held_out.shape, eps)
    indices, window = tables.welch_frames(samples.shape[-1], frame_length)

    def decibels(signal):
        spectrum = np.fft.rfft(np.asarray(signal, dtype=np.float64)[..., indices] * window, axis=-1)
        power = (spectrum.real**2 + spectrum.imag**2) / np.sum(window**2)
        return 10.0 * np.log10(np.maximum(power.reshape(-1, power.shape[-1]).mean(axis=0), eps))

    return np.sqrt(np.mean((decibels(samples) - decibels(held_out)) ** 2))
