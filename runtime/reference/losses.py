"""Losses (numpy reference): flow losses, token losses, adversarial and VAE losses.

Every backend module has the same names, signatures, defaults and error text (the
composites of ``specc.runtime.composites.losses`` bound to its ``ops``); this one is
written out in plain numpy as the oracle. All losses return a scalar (0-d array); the flow
losses return ``(loss, mse)`` where ``mse`` is the unweighted mean squared error of the same
prediction, for logging. ``sg(.)`` denotes stop-gradient (a no-op here; the backends apply
it exactly where written).

The reference has no autodiff: its JVP is a central finite difference in float64
(``h = 1e-6`` relative), which is what the backends' exact JVPs are tested against.
"""

from __future__ import annotations

import numpy as np

from specc.runtime import checks
from specc.runtime.reference import flows

__all__ = [
    "REDUCTIONS",
    "combined_token_loss",
    "cross_entropy",
    "expected_codebook",
    "expected_codebook_grouped",
    "expected_scalar",
    "feature_matching_loss",
    "flow_matching_loss",
    "hinge_discriminator_loss",
    "hinge_generator_loss",
    "improved_mean_flow_loss",
    "jvp",
    "kl_divergence",
    "l1",
    "mean_flow_loss",
    "mse",
    "multi_resolution_stft_loss",
    "stft_magnitude",
    "weighted_l2",
]

REDUCTIONS = ("sum", "mean")
JVP_STEP = 1e-6


def _row_reduce(values, reduce):
    axes = tuple(range(1, values.ndim))
    return values.sum(axis=axes) if reduce == "sum" else values.mean(axis=axes)


def weighted_l2(pred, target, p=1.0, c=1e-3, reduce="sum"):
    """Adaptively weighted L2.

    ``S_b = reduce over non-batch axes of (pred - target)^2``; ``w_b = sg(1 / (S_b + c)^p)``;
    loss = ``mean_b(w_b * S_b)``.

    Args:
      pred, target: ``[B, ...]``, same shape.
      p: weighting power; c: smoothing constant; reduce: ``"sum"`` or ``"mean"``.
    """
    checks.check_same_shape("weighted_l2", "pred", pred.shape, "target", target.shape)
    checks.check_choice("weighted_l2", "reduce", reduce, REDUCTIONS)
    per_row = _row_reduce((pred - target) ** 2, reduce)
    weight = 1.0 / (per_row + c) ** p
    return np.mean(weight * per_row)


def mse(pred, target):
    """``mean((pred - target)^2)`` over all elements."""
    checks.check_same_shape("mse", "pred", pred.shape, "target", target.shape)
    return np.mean((pred - target) ** 2)


def l1(pred, target):
    """``mean(|pred - target|)`` over all elements."""
    checks.check_same_shape("l1", "pred", pred.shape, "target", target.shape)
    return np.mean(np.abs(pred - target))


def _flow_regression(pred, target, weighted, p=1.0, c=1e-3, reduce="sum", loss=None):
    """``(loss, mse)``: the weighted L2 or MSE, or the user's ``loss(ops, pred, target)["loss"]``
    with the numpy ``ops`` of ``reference.ops``."""
    if loss is not None:
        from specc.runtime.reference import ops  # the array operations user code receives

        return loss(ops, pred, target)["loss"], mse(pred, target)
    value = weighted_l2(pred, target, p, c, reduce) if weighted else mse(pred, target)
    return value, mse(pred, target)


def jvp(function, primals, tangents):
    """``(f(primals), d/de f(primals + e * tangents) at e = 0)`` by a central difference."""
    step = JVP_STEP * max(1.0, max(float(np.max(np.abs(p))) for p in primals))
    plus = function(*[p + step * d for p, d in zip(primals, tangents)])
    minus = function(*[p - step * d for p, d in zip(primals, tangents)])
    return function(*primals), (plus - minus) / (2.0 * step)


def flow_matching_loss(
    model, x, noise, t, path="linear", noise_min=0.001, noise_max=0.999, weighted=True, loss=None
):
    """Flow matching: ``(x_t, v) = path(x, e, t)``; ``pred = model(x_t, t)``;
    loss = ``weighted_l2(pred, v)`` (p = 1, c = 1e-3, reduce = sum) or ``mse(pred, v)``.

    Args:
      model: callable ``model(x_t, t) -> velocity`` (the script binds conditions and
        ``h = 0`` for models that declare ``h``).
      x, noise: ``[B, ...]``; t: ``[B]``.

    Returns:
      ``(loss, mse)``.
    """
    x_t, velocity = flows.path_sample(x, noise, t, path, noise_min, noise_max)
    return _flow_regression(model(x_t, t), velocity, weighted, loss=loss)


def mean_flow_loss(
    model, x, noise, t, r, gamma=0.5, c=1e-3, path="uniform", noise_min=0.001, noise_max=0.999, loss=None
):
    """MeanFlow on a flow path (the uniform one by default).

    ``(z, v) = path(x, e, t)``: uniform ``z = (1 - t) x + t e``, ``v = e - x``; linear
    ``z = (1 - t) x + (noise_min + noise_max t) e``, ``v = noise_max e - x`` (``v = dz/dt``
    on both); ``u(z, t, r) = model(z, t, t - r)``;
    ``(u, du_dt) = jvp(u, (z, t, r), (v, 1, 0))`` (total derivative: the t tangent also
    flows through ``h = t - r``); ``u_tgt = v - clip(t - r, 0, 1) * sg(du_dt)``;
    loss = ``weighted_l2(u, sg(u_tgt), p = 1 - gamma, c, reduce = mean)``.

    Args:
      model: callable ``model(z, t, h) -> average velocity``.
      x, noise: ``[B, ...]``; t, r: ``[B]`` with ``r <= t``.
      path: ``"uniform"`` or ``"linear"``; noise_min, noise_max: the linear path's levels.

    Returns:
      ``(loss, mse)`` with ``mse = mean((u - u_tgt)^2)``.
    """
    checks.check_time_shape("mean_flow_loss", "r", r.shape, x.shape)
    z, velocity = flows.path_sample(x, noise, t, path, noise_min, noise_max)
    average, derivative = jvp(
        lambda z_, t_, r_: model(z_, t_, t_ - r_), (z, t, r), (velocity, np.ones_like(t), np.zeros_like(r))
    )
    target = velocity - flows.broadcast_time(np.clip(t - r, 0.0, 1.0), x) * derivative
    return _flow_regression(average, target, True, 1.0 - gamma, c, "mean", loss)


def improved_mean_flow_loss(
    model, x, noise, t, r, path="linear", noise_min=0.001, noise_max=0.999, weighted=True, loss=None
):
    """Improved MeanFlow with a network-independent target.

    ``(x_t, v) = path(x, e, t)``; ``v_net = model(x_t, t, 0)``;
    ``(u, du_dt) = jvp(u, (x_t, t, r), (v_net, 1, 0))`` with ``u(z, t, r) = model(z, t, t - r)``;
    ``V = u + (t - r) * sg(du_dt)``; loss = ``weighted_l2(V, v)`` (p = 1, reduce = sum) or MSE.

    Returns:
      ``(loss, mse)`` with ``mse = mean((V - v)^2)``.
    """
    checks.check_time_shape("improved_mean_flow_loss", "r", r.shape, x.shape)
    x_t, velocity = flows.path_sample(x, noise, t, path, noise_min, noise_max)
    instantaneous = model(x_t, t, np.zeros_like(t))
    average, derivative = jvp(
        lambda z_, t_, r_: model(z_, t_, t_ - r_), (x_t, t, r), (instantaneous, np.ones_like(t), np.zeros_like(r))
    )
    compound = average + flows.broadcast_time(t - r, x) * derivative
    return _flow_regression(compound, velocity, weighted, loss=loss)


def _log_softmax(logits):
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _check_labels(function, logits, labels):
    checks.check_same_shape(function, "logits without the class axis", logits.shape[:-1], "labels", labels.shape)


def cross_entropy(logits, labels, ignore_index=None, label_smoothing=0.0):
    """Mean cross-entropy over the positions with ``labels != ignore_index``, with label
    smoothing (``torch.nn.functional.cross_entropy(..., label_smoothing=eps)``).

    ``log p = log_softmax(logits)``; with ``eps = label_smoothing`` and ``V`` classes, per
    position ``l = -(1 - eps) * log p[label] - eps * (1 / V) sum_c log p[c]``;
    loss = ``sum(l * keep) / max(count(keep), 1)`` with ``keep = labels != ignore_index``.

    Args:
      logits: ``[..., V]``; labels: ``[...]`` integer ids.
      ignore_index: label excluded from the mean (None: none). No positions left gives 0.
      label_smoothing: ``eps`` in [0, 1); 0 is the plain negative log-likelihood.
    """
    _check_labels("cross_entropy", logits, labels)
    checks.check_fraction("cross_entropy", "label_smoothing", label_smoothing)
    keep = np.ones(labels.shape, bool) if ignore_index is None else labels != ignore_index
    safe = np.where(keep, labels, 0)
    log_probabilities = _log_softmax(logits)
    picked = np.take_along_axis(log_probabilities, safe[..., None].astype(np.int64), axis=-1)[..., 0]
    uniform = log_probabilities.mean(axis=-1)
    per_position = -((1.0 - label_smoothing) * picked + label_smoothing * uniform)
    return (per_position * keep).sum() / max(int(keep.sum()), 1)


def _range_positions(function, logits, targets, lo, size, mask):
    checks.check_vocabulary_range(function, lo, size, logits.shape)
    _check_labels(function, logits, targets)
    inside = (targets >= lo) & (targets < lo + size)
    if mask is not None:
        checks.check_same_shape(function, "mask", mask.shape, "targets", targets.shape)
        inside = inside & mask.astype(bool)
    index = np.clip(targets - lo, 0, size - 1).astype(np.int64)
    probabilities = np.exp(_log_softmax(logits[..., lo : lo + size].astype(np.float64)))
    return inside, index, probabilities


def expected_codebook(logits, targets, codebook, lo, mask=None):
    """Expected-codebook MSE over the positions whose target lies in ``[lo, lo + V)``.

    ``p = softmax(logits[..., lo:lo+V])``; ``pred = p @ codebook``;
    ``true = codebook[target - lo]``; loss = mean over selected positions and D of
    ``(pred - true)^2``; 0 when no position is selected.

    Args:
      logits: ``[..., V_total]``; targets: ``[...]`` ids; codebook: ``[V, D]``; lo: first id.
      mask: optional boolean ``[...]``: positions drawn by the data pipeline (``sample_k``);
        only positions that are in range and in the mask count.
    """
    checks.check_rank("expected_codebook", "codebook", codebook.shape, 2)
    inside, index, probabilities = _range_positions("expected_codebook", logits, targets, lo, codebook.shape[0], mask)
    error = ((probabilities @ codebook - codebook[index]) ** 2).mean(axis=-1)
    return (error * inside).sum() / max(int(inside.sum()), 1)


def expected_scalar(logits, targets, centers, lo, mask=None):
    """Expected-scalar MSE: ``pred = sum(p * centers)``, ``true = centers[target - lo]``,
    mean of ``(pred - true)^2`` over the selected positions (0 when none). Arguments as in
    ``expected_codebook`` with ``centers`` of shape ``[V]``."""
    checks.check_rank("expected_scalar", "centers", centers.shape, 1)
    inside, index, probabilities = _range_positions("expected_scalar", logits, targets, lo, centers.shape[0], mask)
    error = (probabilities @ centers - centers[index]) ** 2
    return (error * inside).sum() / max(int(inside.sum()), 1)


def expected_codebook_grouped(logits, targets, codebook, los, mask=None):
    """Several id ranges ``[lo_g, lo_g + V)`` sharing one codebook: the mean of
    ``expected_codebook`` over the groups that have positions; 0 when none has any."""
    total, groups = 0.0, 0
    for lo in los:
        inside, _, _ = _range_positions("expected_codebook_grouped", logits, targets, lo, codebook.shape[0], mask)
        total = total + expected_codebook(logits, targets, codebook, lo, mask)
        groups += int(inside.any())
    return np.asarray(total / max(groups, 1))


def combined_token_loss(logits, labels, weighted_terms=(), ignore_index=0, use_ce=True):
    """``cross_entropy(logits, labels, ignore_index) + sum_i weight_i * term_i``.

    ``weighted_terms`` is a sequence of ``(weight, term)`` pairs of already computed scalar
    terms; ``use_ce = False`` drops the cross-entropy.
    """
    total = cross_entropy(logits, labels, ignore_index) if use_ce else 0.0
    for weight, term in weighted_terms:
        total = total + weight * term
    return np.asarray(total)


def hinge_discriminator_loss(real_logits_list, fake_logits_list):
    """``mean_k [mean(relu(1 - D_k(real))) + mean(relu(1 + D_k(fake)))]`` over K discriminators."""
    checks.check_same_length(
        "hinge_discriminator_loss", "real_logits_list", real_logits_list, "fake_logits_list", fake_logits_list
    )
    terms = [
        np.mean(np.maximum(1 - real, 0)) + np.mean(np.maximum(1 + fake, 0))
        for real, fake in zip(real_logits_list, fake_logits_list)
    ]
    return np.mean(terms)


def hinge_generator_loss(fake_logits_list):
    """``mean_k mean(-D_k(fake))``."""
    checks.check_not_empty("hinge_generator_loss", "fake_logits_list", fake_logits_list)
    return np.mean([np.mean(-fake) for fake in fake_logits_list])


def feature_matching_loss(real_features, fake_features):
    """Mean over every feature map of every sub-discriminator of ``mean(|F_fake - sg(F_real)|)``.

    Args:
      real_features, fake_features: lists (one per sub-discriminator) of lists of arrays.
    """
    checks.check_same_length("feature_matching_loss", "real_features", real_features, "fake_features", fake_features)
    terms = []
    for real_maps, fake_maps in zip(real_features, fake_features):
        checks.check_same_length(
            "feature_matching_loss", "real feature maps", real_maps, "fake feature maps", fake_maps
        )
        for real, fake in zip(real_maps, fake_maps):
            checks.check_same_shape("feature_matching_loss", "real feature", real.shape, "fake feature", fake.shape)
            terms.append(np.mean(np.abs(fake - real)))
    return np.mean(terms)


def kl_divergence(mu, logvar):
    """``mean(-0.5 * (1 + logvar - mu^2 - exp(logvar)))`` over all elements."""
    checks.check_same_shape("kl_divergence", "mu", mu.shape, "logvar", logvar.shape)
    return np.mean(-0.5 * (1 + logvar - mu**2 - np.exp(logvar)))


def _as_signal_rows(function, name, signal):
    """``[B, T]`` stays; channels-last ``[B, T, C]`` becomes ``[B * C, T]``."""
    if signal.ndim == 3:
        return np.moveaxis(signal, 2, 1).reshape(-1, signal.shape[1])
    checks.check_rank(function, name, signal.shape, 2)
    return signal


def _hann_window(n_fft):
    """Periodic Hann window ``w[n] = 0.5 - 0.5 cos(2 pi n / n_fft)``."""
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n_fft) / n_fft)


def stft_magnitude(signal, n_fft, eps=1e-7):
    """``sqrt(max(|STFT(signal)|^2, eps))`` of ``[B, T]`` -> ``[B, frames, n_fft // 2 + 1]``.

    STFT: periodic Hann window, ``center = True`` with reflect padding of ``n_fft // 2``,
    hop ``n_fft // 4``, one-sided, frames = ``1 + T // hop``.
    """
    checks.check_stft_length("stft_magnitude", "signal", signal.shape, n_fft)
    hop = max(n_fft // 4, 1)
    padded = np.pad(signal, ((0, 0), (n_fft // 2, n_fft // 2)), mode="reflect")
    count = 1 + (padded.shape[1] - n_fft) // hop
    index = np.arange(count)[:, None] * hop + np.arange(n_fft)[None, :]
    spectrum = np.fft.rfft(padded[:, index] * _hann_window(n_fft), axis=-1)
    return np.sqrt(np.maximum(spectrum.real**2 + spectrum.imag**2, eps))


def multi_resolution_stft_loss(pred, target, n_ffts, eps=1e-7):
    """Mean over resolutions of spectral convergence + log-magnitude L1.

    For each ``n_fft``: ``P = |STFT(pred)|``, ``T = |STFT(target)|`` (see ``stft_magnitude``);
    ``sc = ||T - P||_F / ||T||_F`` (over the whole batch), ``mag = mean |log T - log P|``.

    Args:
      pred, target: ``[B, T]`` signals (or channels-last ``[B, T, C]``), same shape.
      n_ffts: sequence of FFT sizes; hop = n_fft // 4.
    """
    checks.check_same_shape("multi_resolution_stft_loss", "pred", pred.shape, "target", target.shape)
    checks.check_not_empty("multi_resolution_stft_loss", "n_ffts", list(n_ffts))
    pred = _as_signal_rows("multi_resolution_stft_loss", "pred", pred)
    target = _as_signal_rows("multi_resolution_stft_loss", "target", target)
    terms = []
    for n_fft in n_ffts:
        predicted, true = stft_magnitude(pred, n_fft, eps), stft_magnitude(target, n_fft, eps)
        convergence = np.sqrt(np.sum((true - predicted) ** 2)) / np.sqrt(np.sum(true**2))
        terms.append(convergence + np.mean(np.abs(np.log(true) - np.log(predicted))))
    return np.mean(terms)
