"""Losses written once over an ``ops`` table: flow losses, token losses, adversarial and VAE
losses, spectral losses.

All losses return a 0-d array; the flow losses return ``(loss, mse)`` where ``mse`` is the
unweighted, stop-gradient mean squared error of the same prediction, for logging.
``sg(.)`` is ``ops.stop_gradient``, applied exactly where the formulas write it. Positions
are boolean masks, never dynamic shapes, so everything traces under ``jax.jit`` and
``mx.compile``.
"""

from __future__ import annotations

from specc.runtime import checks, tables
from specc.runtime.composites import flows

REDUCTIONS = ("sum", "mean")


def _row_reduce(ops, values, reduce):
    axes = tuple(range(1, values.ndim))
    return ops.sum(values, axes) if reduce == "sum" else ops.mean(values, axes)


def _masked_mean(ops, values, keep):
    """``sum(values * keep) / max(count(keep), 1)``: 0 when nothing is kept."""
    keep = ops.cast(keep, values.dtype)
    return ops.sum(values * keep) / ops.maximum(ops.sum(keep), 1.0)


# ----------------------------------------------------------------------------- regression


def weighted_l2(ops, pred, target, p=1.0, c=1e-3, reduce="sum"):
    """Adaptively weighted L2.

    ``S_b = reduce over non-batch axes of (pred - target)^2``; ``w_b = sg(1 / (S_b + c)^p)``;
    loss = ``mean_b(w_b * S_b)``.

    Args:
      pred, target: ``[B, ...]``, same shape.
      p: weighting power; c: smoothing constant; reduce: ``"sum"`` or ``"mean"``.
    """
    checks.check_same_shape("weighted_l2", "pred", pred.shape, "target", target.shape)
    checks.check_choice("weighted_l2", "reduce", reduce, REDUCTIONS)
    per_row = _row_reduce(ops, (pred - target) ** 2, reduce)
    weight = ops.stop_gradient(1.0 / (per_row + c) ** p)
    return ops.mean(weight * per_row)


def mse(ops, pred, target):
    """``mean((pred - target)^2)`` over all elements."""
    checks.check_same_shape("mse", "pred", pred.shape, "target", target.shape)
    return ops.mean((pred - target) ** 2)


def l1(ops, pred, target):
    """``mean(|pred - target|)`` over all elements."""
    checks.check_same_shape("l1", "pred", pred.shape, "target", target.shape)
    return ops.mean(ops.abs(pred - target))


def _flow_regression(ops, pred, target, weighted, p=1.0, c=1e-3, reduce="sum", loss=None):
    """``(loss, sg(mse))``: the weighted L2 or the MSE of ``pred`` on ``target``, or the user's
    ``loss`` (a function ``loss(ops, pred, target) -> {"loss": scalar}``, docs/language.md
    "Extending specc")."""
    if loss is not None:
        value = loss(ops, pred, target)["loss"]
    else:
        value = weighted_l2(ops, pred, target, p, c, reduce) if weighted else mse(ops, pred, target)
    return value, ops.stop_gradient(mse(ops, pred, target))


# ----------------------------------------------------------------------------- flow losses


def jvp(ops, function, primals, tangents):
    """``(f(primals), J_f(primals) . tangents)``: forward-mode AD on the backends, a central
    difference in the numpy table."""
    return ops.jvp(function, tuple(primals), tuple(tangents))


def flow_matching_loss(
    ops, model, x, noise, t, path="linear", noise_min=0.001, noise_max=0.999, weighted=True, loss=None
):
    """Flow matching: ``(x_t, v) = path(x, e, t)``; ``pred = model(x_t, t)``;
    loss = ``weighted_l2(pred, v)`` (p = 1, c = 1e-3, reduce = sum) or ``mse(pred, v)``.

    Args:
      model: callable ``model(x_t, t) -> velocity`` (the script binds conditions and
        ``h = 0`` for models that declare ``h``).
      x, noise: ``[B, ...]``; t: ``[B]``.
      loss: the user's loss (``python(...)``) instead of the weighted L2 / MSE:
        ``loss(ops, pred, v) -> {"loss": scalar}``.

    Returns:
      ``(loss, mse)``.
    """
    x_t, velocity = flows.path_sample(ops, x, noise, t, path, noise_min, noise_max)
    return _flow_regression(ops, model(x_t, t), velocity, weighted, loss=loss)


def _average_velocity(model):
    """``u(z, t, r) = model(z, t, t - r)``: the t tangent also flows through ``h = t - r``."""
    return lambda point, time, start: model(point, time, time - start)


def mean_flow_loss(
    ops, model, x, noise, t, r, gamma=0.5, c=1e-3, path="uniform", noise_min=0.001, noise_max=0.999, loss=None
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
      loss: the user's loss instead of the weighted L2 (``loss(ops, u, sg(u_tgt))``).

    Returns:
      ``(loss, mse)`` with ``mse = mean((u - u_tgt)^2)``.
    """
    checks.check_time_shape("mean_flow_loss", "r", r.shape, x.shape)
    z, velocity = flows.path_sample(ops, x, noise, t, path, noise_min, noise_max)
    tangents = (velocity, ops.ones_like(t), ops.zeros_like(r))
    average, derivative = ops.jvp(_average_velocity(model), (z, t, r), tangents)
    gap = flows.broadcast_time(ops, ops.clip(t - r, 0.0, 1.0), x)
    target = velocity - gap * ops.stop_gradient(derivative)
    return _flow_regression(ops, average, ops.stop_gradient(target), True, 1.0 - gamma, c, "mean", loss)


def improved_mean_flow_loss(
    ops, model, x, noise, t, r, path="linear", noise_min=0.001, noise_max=0.999, weighted=True, loss=None
):
    """Improved MeanFlow with a network-independent target.

    ``(x_t, v) = path(x, e, t)``; ``v_net = model(x_t, t, 0)``;
    ``(u, du_dt) = jvp(u, (x_t, t, r), (v_net, 1, 0))`` with ``u(z, t, r) = model(z, t, t - r)``;
    ``V = u + (t - r) * sg(du_dt)``; loss = ``weighted_l2(V, v)`` (p = 1, reduce = sum) or MSE,
    or the user's ``loss(ops, V, v)``.

    Returns:
      ``(loss, mse)`` with ``mse = mean((V - v)^2)``.
    """
    checks.check_time_shape("improved_mean_flow_loss", "r", r.shape, x.shape)
    x_t, velocity = flows.path_sample(ops, x, noise, t, path, noise_min, noise_max)
    instantaneous = model(x_t, t, ops.zeros_like(t))
    tangents = (instantaneous, ops.ones_like(t), ops.zeros_like(r))
    average, derivative = ops.jvp(_average_velocity(model), (x_t, t, r), tangents)
    compound = average + flows.broadcast_time(ops, t - r, x) * ops.stop_gradient(derivative)
    return _flow_regression(ops, compound, velocity, weighted, loss=loss)


# ----------------------------------------------------------------------------- token losses


def _check_labels(function, logits, labels):
    checks.check_same_shape(function, "logits without the class axis", logits.shape[:-1], "labels", labels.shape)


def cross_entropy(ops, logits, labels, ignore_index=None, label_smoothing=0.0):
    """Mean cross-entropy over the positions with ``labels != ignore_index``, with label
    smoothing (``torch.nn.functional.cross_entropy(..., label_smoothing=eps)``).

    ``log p = log_softmax(logits)`` (float32 at least); with ``eps = label_smoothing`` and
    ``V`` classes, per position ``l = -(1 - eps) * log p[label] - eps * (1 / V) sum_c log p[c]``;
    loss = ``sum(l * keep) / max(count(keep), 1)`` with ``keep = labels != ignore_index``.

    Args:
      logits: ``[..., V]``; labels: ``[...]`` integer ids.
      ignore_index: label excluded from the mean (None: none). No positions left gives 0.
      label_smoothing: ``eps`` in [0, 1); 0 is the plain negative log-likelihood.
    """
    _check_labels("cross_entropy", logits, labels)
    checks.check_fraction("cross_entropy", "label_smoothing", label_smoothing)
    if ignore_index is None:
        keep = ops.full(labels.shape, True, labels, "bool")
    else:
        keep = labels != ignore_index
    log_probabilities = ops.log_softmax(ops.at_least_float32(logits), axis=-1)
    safe = ops.where(keep, labels, 0)
    picked = ops.take_along_axis(log_probabilities, safe[..., None], axis=-1)[..., 0]
    if label_smoothing:
        picked = (1.0 - label_smoothing) * picked + label_smoothing * ops.mean(log_probabilities, axis=-1)
    return -_masked_mean(ops, picked, keep)


def _range_positions(ops, function, logits, targets, lo, size, mask):
    checks.check_vocabulary_range(function, lo, size, logits.shape)
    _check_labels(function, logits, targets)
    inside = (targets >= lo) & (targets < lo + size)
    if mask is not None:
        checks.check_same_shape(function, "mask", mask.shape, "targets", targets.shape)
        inside = inside & ops.cast(mask, "bool")
    index = ops.clip(targets - lo, 0, size - 1)
    probabilities = ops.softmax(ops.cast(logits[..., lo : lo + size], "float32"), axis=-1)
    return inside, index, probabilities


def expected_codebook(ops, logits, targets, codebook, lo, mask=None):
    """Expected-codebook MSE over the positions whose target lies in ``[lo, lo + V)``.

    ``p = softmax(logits[..., lo:lo+V])`` (float32); ``pred = p @ codebook``;
    ``true = codebook[target - lo]``; loss = mean over selected positions and D of
    ``(pred - true)^2``; 0 when no position is selected.

    Args:
      logits: ``[..., V_total]``; targets: ``[...]`` ids; codebook: ``[V, D]``; lo: first id.
      mask: optional boolean ``[...]``: positions drawn by the data pipeline (``sample_k``);
        only positions that are in range and in the mask count.
    """
    checks.check_rank("expected_codebook", "codebook", codebook.shape, 2)
    size = codebook.shape[0]
    inside, index, probabilities = _range_positions(ops, "expected_codebook", logits, targets, lo, size, mask)
    codebook = ops.cast(codebook, "float32")
    error = ops.mean((probabilities @ codebook - ops.take(codebook, index, axis=0)) ** 2, axis=-1)
    return _masked_mean(ops, error, inside)


def expected_scalar(ops, logits, targets, centers, lo, mask=None):
    """Expected-scalar MSE: ``pred = sum(p * centers)``, ``true = centers[target - lo]``,
    mean of ``(pred - true)^2`` over the selected positions (0 when none). Arguments as in
    ``expected_codebook`` with ``centers`` of shape ``[V]``."""
    checks.check_rank("expected_scalar", "centers", centers.shape, 1)
    size = centers.shape[0]
    inside, index, probabilities = _range_positions(ops, "expected_scalar", logits, targets, lo, size, mask)
    centers = ops.cast(centers, "float32")
    error = (probabilities @ centers - ops.take(centers, index, axis=0)) ** 2
    return _masked_mean(ops, error, inside)


def expected_codebook_grouped(ops, logits, targets, codebook, los, mask=None):
    """Several id ranges ``[lo_g, lo_g + V)`` sharing one codebook: the mean of
    ``expected_codebook`` over the groups that have positions; 0 when none has any."""
    total = groups = ops.full((), 0.0, logits, "float32")
    for lo in los:
        inside, _, _ = _range_positions(
            ops, "expected_codebook_grouped", logits, targets, lo, codebook.shape[0], mask
        )
        total = total + expected_codebook(ops, logits, targets, codebook, lo, mask)
        groups = groups + ops.cast(ops.any(inside), "float32")
    return total / ops.maximum(groups, 1.0)


def combined_token_loss(ops, logits, labels, weighted_terms=(), ignore_index=0, use_ce=True):
    """``cross_entropy(logits, labels, ignore_index) + sum_i weight_i * term_i``.

    ``weighted_terms`` is a sequence of ``(weight, term)`` pairs of already computed scalar
    terms; ``use_ce = False`` drops the cross-entropy.
    """
    if use_ce:
        total = cross_entropy(ops, logits, labels, ignore_index)
    else:
        total = ops.full((), 0.0, logits, "float32")
    for weight, term in weighted_terms:
        total = total + weight * term
    return total


# ----------------------------------------------------------------------------- adversarial and VAE


def hinge_discriminator_loss(ops, real_logits_list, fake_logits_list):
    """``mean_k [mean(relu(1 - D_k(real))) + mean(relu(1 + D_k(fake)))]`` over K discriminators."""
    checks.check_same_length(
        "hinge_discriminator_loss", "real_logits_list", real_logits_list, "fake_logits_list", fake_logits_list
    )
    terms = [
        ops.mean(ops.relu(1 - real)) + ops.mean(ops.relu(1 + fake))
        for real, fake in zip(real_logits_list, fake_logits_list)
    ]
    return sum(terms) / len(terms)


def hinge_generator_loss(ops, fake_logits_list):
    """``mean_k mean(-D_k(fake))``."""
    checks.check_not_empty("hinge_generator_loss", "fake_logits_list", fake_logits_list)
    return sum(ops.mean(-fake) for fake in fake_logits_list) / len(fake_logits_list)


def feature_matching_loss(ops, real_features, fake_features):
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
            terms.append(ops.mean(ops.abs(fake - ops.stop_gradient(real))))
    return sum(terms) / len(terms)


def kl_divergence(ops, mu, logvar):
    """``mean(-0.5 * (1 + logvar - mu^2 - exp(logvar)))`` over all elements."""
    checks.check_same_shape("kl_divergence", "mu", mu.shape, "logvar", logvar.shape)
    return ops.mean(-0.5 * (1 + logvar - mu**2 - ops.exp(logvar)))


# ----------------------------------------------------------------------------- spectral


def _as_signal_rows(ops, function, name, signal):
    """``[B, T]`` stays; channels-last ``[B, T, C]`` becomes ``[B * C, T]``."""
    if signal.ndim == 3:
        return ops.reshape(ops.moveaxis(signal, 2, 1), (-1, signal.shape[1]))
    checks.check_rank(function, name, signal.shape, 2)
    return signal


def stft_magnitude(ops, signal, n_fft, eps=1e-7):
    """``sqrt(max(|STFT(signal)|^2, eps))`` of ``[B, T]`` -> ``[B, frames, n_fft // 2 + 1]``.

    STFT: periodic Hann window, ``center = True`` with reflect padding of ``n_fft // 2``,
    hop ``n_fft // 4``, one-sided, frames = ``1 + T // hop``. One gather of
    ``tables.stft_frame_indices`` does the reflect padding and the framing.
    """
    checks.check_stft_length("stft_magnitude", "signal", signal.shape, n_fft)
    index = tables.stft_frame_indices(signal.shape[1], n_fft, max(n_fft // 4, 1))
    frames = ops.take(signal, index, axis=1)
    spectrum = ops.rfft(frames * ops.constant(tables.stft_window(n_fft), signal), axis=-1)
    return ops.sqrt(ops.maximum(spectrum.real**2 + spectrum.imag**2, eps))


def multi_resolution_stft_loss(ops, pred, target, n_ffts, eps=1e-7):
    """Mean over resolutions of spectral convergence + log-magnitude L1.

    For each ``n_fft``: ``P = |STFT(pred)|``, ``T = |STFT(target)|`` (see ``stft_magnitude``);
    ``sc = ||T - P||_F / ||T||_F`` (over the whole batch), ``mag = mean |log T - log P|``.

    Args:
      pred, target: ``[B, T]`` signals (or channels-last ``[B, T, C]``), same shape.
      n_ffts: sequence of FFT sizes; hop = n_fft // 4.
    """
    checks.check_same_shape("multi_resolution_stft_loss", "pred", pred.shape, "target", target.shape)
    checks.check_not_empty("multi_resolution_stft_loss", "n_ffts", list(n_ffts))
    pred = _as_signal_rows(ops, "multi_resolution_stft_loss", "pred", pred)
    target = _as_signal_rows(ops, "multi_resolution_stft_loss", "target", target)
    terms = []
    for n_fft in n_ffts:
        predicted, true = stft_magnitude(ops, pred, n_fft, eps), stft_magnitude(ops, target, n_fft, eps)
        convergence = ops.sqrt(ops.sum((true - predicted) ** 2)) / ops.sqrt(ops.sum(true**2))
        terms.append(convergence + ops.mean(ops.abs(ops.log(true) - ops.log(predicted))))
    return sum(terms) / len(terms)
