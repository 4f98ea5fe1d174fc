"""Evaluation metrics written once over an ``ops`` table.

Every metric returns a 0-d array (float32 on the backends) so it can stay on the device
inside a compiled evaluation step; ``float(metric)`` turns it into a Python number.
``linear_assignment`` moves its distance matrices to the host and solves the matchings
with scipy (``tables.matched_distance``), so it is not for ``jax.jit`` / ``mx.compile``.
"""

from __future__ import annotations

import numpy as np
from specc.runtime import checks, tables
from specc.runtime.composites import losses


def accuracy(ops, logits, labels, ignore_index=None):
    """Fraction of positions where ``argmax(logits) == labels`` (ties: the first maximum),
    over positions with ``labels != ignore_index``; 0 when there are none.

    Args:
      logits: ``[..., V]``; labels: ``[...]`` integer ids.
    """
    checks.check_same_shape("accuracy", "logits without the class axis", logits.shape[:-1], "labels", labels.shape)
    if ignore_index is None:
        keep = ops.full(labels.shape, True, labels, "bool")
    else:
        keep = labels != ignore_index
    correct = (ops.argmax(logits, axis=-1) == labels) & keep
    return ops.cast(ops.sum(correct), "float32") / ops.cast(ops.maximum(ops.sum(keep), 1), "float32")


def mse(ops, pred, target):
    """``mean((pred - target)^2)``."""
    checks.check_same_shape("mse", "pred", pred.shape, "target", target.shape)
    return ops.mean((pred - target) ** 2)


def mae(ops, pred, target):
    """``mean(|pred - target|)``."""
    checks.check_same_shape("mae", "pred", pred.shape, "target", target.shape)
    return ops.mean(ops.abs(pred - target))


def perplexity(ops, logits, labels, ignore_index=None):
    """``exp(cross_entropy(logits, labels, ignore_index))`` (1 when no position counts)."""
    return ops.exp(losses.cross_entropy(ops, logits, labels, ignore_index))


def _power(spectrum):
    return spectrum.real**2 + spectrum.imag**2


def log_spectral_distance(ops, pred_signal, target_signal, eps=1e-8):
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
        return 10.0 * ops.log10(ops.maximum(_power(ops.rfft(signal, axis=-1, norm="forward")), eps))

    difference = decibels(pred_signal) - decibels(target_signal)
    return ops.mean(ops.sqrt(ops.mean(difference**2, axis=-1)))


def tokens(ops, values, params_per_token, function="tokens", name="pred"):
    """Split the last axis of ``[B, P]`` into ``params_per_token`` equal chunks and stack
    them as tokens: ``[B, k, params_per_token]`` with ``k = P / params_per_token`` and token
    j = ``(values[:, i * k + j] for i in range(params_per_token))`` (e.g. ``[f_1..f_k, a_1..a_k]``
    becomes the pairs ``(f_j, a_j)``)."""
    checks.check_rank(function, name, values.shape, 2)
    checks.check_divisible(function, f"the last axis of {name}", values.shape[-1], "params_per_token", params_per_token)
    count = values.shape[-1] // params_per_token
    return ops.swapaxes(ops.reshape(values, (values.shape[0], params_per_token, count)), 1, 2)


def _token_distances(ops, function, pred, target, params_per_token):
    checks.check_same_shape(function, "pred", pred.shape, "target", target.shape)
    first = tokens(ops, pred, params_per_token, function, "pred")
    second = tokens(ops, target, params_per_token, function, "target")
    return ops.sum((first[:, :, None, :] - second[:, None, :, :]) ** 2, axis=-1)


def chamfer(ops, pred, target, params_per_token):
    """Chamfer distance between token sets.

    ``C[b, i, j] = |pred_token_i - target_token_j|^2``; per row
    ``mean_j min_i C + mean_i min_j C``; mean over rows.

    Args:
      pred, target: ``[B, P]`` with ``params_per_token`` dividing P.
    """
    squared = _token_distances(ops, "chamfer", pred, target, params_per_token)
    nearest_pred = ops.mean(ops.min(squared, axis=1), axis=-1)
    nearest_target = ops.mean(ops.min(squared, axis=2), axis=-1)
    return ops.mean(nearest_pred + nearest_target)


def linear_assignment(ops, pred, target, params_per_token):
    """Linear-assignment distance: tokens as in ``chamfer``, Euclidean (not squared)
    distances, the minimum-cost one-to-one matching per row (scipy's Hungarian solver on the
    host), mean matched distance per row, mean over rows."""
    squared = _token_distances(ops, "linear_assignment", pred, target, params_per_token)
    distances = np.sqrt(ops.to_numpy(squared).astype(np.float64))
    return ops.constant(np.mean(tables.matched_distance(distances)), pred, "float32")


def spectral_distribution_distance(ops, samples, held_out, frame_length=256, eps=1e-10):
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
    hann = ops.constant(window, samples, "float32")
    energy = float(np.sum(window**2))

    def decibels(signal):
        power = _power(ops.rfft(ops.take(signal, indices, axis=-1) * hann, axis=-1)) / energy
        mean_power = ops.mean(ops.reshape(power, (-1, power.shape[-1])), axis=0)
        return 10.0 * ops.log10(ops.maximum(mean_power, eps))

    return ops.sqrt(ops.mean((decibels(samples) - decibels(held_out)) ** 2))
