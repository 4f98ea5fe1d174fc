"""Flow paths, time maps, time embedding, guidance and ODE samplers (numpy reference).

One time convention everywhere: t = 0 is data, t = 1 is noise; samplers integrate from
t = 1 down to t = 0. Every backend (jax, torch, mlx) has a module with the same names,
signatures, defaults and error text (``specc.runtime.composites.flows`` bound to its
``ops``); this one is written out in plain numpy as the float64-capable oracle.

Shapes: ``x`` and ``noise`` are ``[B, ...]``; ``t`` and ``r`` are ``[B]`` and are broadcast
over the non-batch axes of ``x``.
"""

from __future__ import annotations

import math

import numpy as np

from specc.runtime import checks, samplers

__all__ = [
    "PATHS",
    "STEP_RULES",
    "broadcast_time",
    "cfg_combine",
    "euler",
    "heun",
    "integrate",
    "logit_normal_time",
    "mean_flow_sample",
    "mean_flow_time",
    "path_sample",
    "rk4",
    "sinusoidal",
    "uniform_time",
]

PATHS = ("linear", "uniform")


def broadcast_time(t, x):
    """Reshape ``t`` of shape ``[B]`` to ``[B, 1, ..., 1]`` so it broadcasts against ``x``."""
    return np.reshape(t, tuple(t.shape) + (1,) * (x.ndim - 1))


def path_sample(x, noise, t, kind="linear", noise_min=0.001, noise_max=0.999):
    """Noisy sample and target velocity of a flow path.

    linear:  ``x_t = (1 - t) * x + (noise_min + noise_max * t) * e``, ``v = noise_max * e - x``
    uniform: ``x_t = (1 - t) * x + t * e``, ``v = e - x``

    Args:
      x: data ``[B, ...]``.
      noise: standard normal draw ``e``, same shape as ``x``.
      t: times ``[B]`` in [0, 1] (0 = data, 1 = noise).
      kind: ``"linear"``, ``"uniform"`` or a user's path object (``interpolate(ops, x0, x1, t)``
        and ``target(ops, x0, x1, t)``, called with the numpy ``ops`` of ``reference.ops``).
      noise_min, noise_max: the linear path's noise levels (ignored by the others).

    Returns:
      ``(x_t, v)``, both shaped like ``x``.
    """
    if isinstance(kind, str):
        checks.check_choice("path_sample", "kind", kind, PATHS)
    checks.check_same_shape("path_sample", "x", x.shape, "noise", noise.shape)
    checks.check_time_shape("path_sample", "t", t.shape, x.shape)
    time = broadcast_time(t, x)
    if not isinstance(kind, str):
        from specc.runtime.reference import ops  # the array operations user code receives

        return kind.interpolate(ops, x, noise, time), kind.target(ops, x, noise, time)
    if kind == "uniform":
        return (1 - time) * x + time * noise, noise - x
    return (1 - time) * x + (noise_min + noise_max * time) * noise, noise_max * noise - x


def uniform_time(u):
    """``t = u`` for a standard uniform draw ``u ~ U[0, 1)`` of shape ``[B]``."""
    return np.asarray(u)


def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def logit_normal_time(n, mean=-0.4, std=1.0):
    """``t = sigmoid(mean + std * n)`` for a standard normal draw ``n`` of shape ``[B]``."""
    return _sigmoid(mean + std * np.asarray(n))


def mean_flow_time(n1, n2, mean=-0.4, std=1.0, data_proportion=0.5):
    """Mean-flow time pairs ``(t, r)`` with ``r <= t`` from two standard normal draws.

    ``a = sigmoid(mean + std * n1)``, ``b = sigmoid(mean + std * n2)``;
    ``t = max(a, b)``, ``r = min(a, b)``; the first ``floor(B * data_proportion)`` rows get
    ``r = t`` (plain flow-matching rows).

    Args:
      n1, n2: standard normal draws, both ``[B]``.

    Returns:
      ``(t, r)``, both ``[B]``.
    """
    checks.check_same_shape("mean_flow_time", "n1", n1.shape, "n2", n2.shape)
    checks.check_rank("mean_flow_time", "n1", n1.shape, 1)
    checks.check_unit_interval("mean_flow_time", "data_proportion", data_proportion)
    first = logit_normal_time(n1, mean, std)
    second = logit_normal_time(n2, mean, std)
    t = np.maximum(first, second)
    r = np.minimum(first, second)
    rows = np.arange(t.shape[0]) < math.floor(t.shape[0] * data_proportion)
    return t, np.where(rows, t, r)


def sinusoidal(x, dim):
    """Sinusoidal embedding, cosine first: ``concat(cos(x * f), sin(x * f))``.

    ``half = dim // 2``, ``f_i = exp(-ln(10000) * i / half)`` for ``i = 0 .. half - 1``; no
    x1000 scaling of ``x``.

    Args:
      x: values of any shape ``[...]`` (typically times ``[B]``).
      dim: positive even embedding size.

    Returns:
      ``[..., dim]``.
    """
    checks.check_even("sinusoidal", "dim", dim)
    half = dim // 2
    frequencies = np.exp(-math.log(10000.0) * np.arange(half) / half)
    angles = np.asarray(x, dtype=np.float64)[..., None] * frequencies
    return np.concatenate([np.cos(angles), np.sin(angles)], axis=-1)


def cfg_combine(v_uncond, v_cond, scale):
    """Classifier-free guidance: ``v = (1 - scale) * v_uncond + scale * v_cond``."""
    checks.check_same_shape("cfg_combine", "v_uncond", v_uncond.shape, "v_cond", v_cond.shape)
    return (1 - scale) * v_uncond + scale * v_cond


def _time_column(x, value):
    return np.full((x.shape[0],), value, dtype=x.dtype)


# The samplers are backend-neutral (they only add, scale and call the model): one
# implementation in specc.runtime.samplers, bound to this backend's time column.
_samplers = samplers.bind(_time_column)
STEP_RULES = _samplers.STEP_RULES
integrate = _samplers.integrate
euler = _samplers.euler
heun = _samplers.heun
rk4 = _samplers.rk4
mean_flow_sample = _samplers.mean_flow_sample
