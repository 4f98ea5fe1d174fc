"""Flow paths, time maps, time embedding and guidance, written once over an ``ops`` table.

One time convention everywhere: t = 0 is data, t = 1 is noise; samplers integrate from
t = 1 down to t = 0. Shapes: ``x`` and ``noise`` are ``[B, ...]``; ``t`` and ``r`` are
``[B]`` and are broadcast over the non-batch axes of ``x``. The ODE samplers only add, scale
and call the model: ``samplers(ops)`` binds ``specc.runtime.samplers`` to the backend's
``[B]`` time column.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
from specc.runtime import checks
from specc.runtime import samplers as ode_samplers

PATHS = ("linear", "uniform")


def broadcast_time(ops, t, x):
    """Reshape ``t`` of shape ``[B]`` to ``[B, 1, ..., 1]`` so it broadcasts against ``x``."""
    return ops.reshape(t, tuple(t.shape) + (1,) * (x.ndim - 1))


def path_sample(ops, x, noise, t, kind="linear", noise_min=0.001, noise_max=0.999):
    """Noisy sample and target velocity of a flow path.

    linear:  ``x_t = (1 - t) * x + (noise_min + noise_max * t) * e``, ``v = noise_max * e - x``
    uniform: ``x_t = (1 - t) * x + t * e``, ``v = e - x``

    a user's path (``python(...)``, docs/language.md "Extending specc"): an object with
    ``interpolate(ops, x0, x1, t)`` and ``target(ops, x0, x1, t)``, called with ``x0 = x``,
    ``x1 = e`` and ``t`` broadcast to ``[B, 1, ..., 1]``; each must return ``x``'s shape. A
    path written in the spec (``graph(...)``) is a function ``(x0, x1, t) -> (x_t, v)``,
    shape-checked when the spec is.

    Args:
      x: data ``[B, ...]``.
      noise: standard normal draw ``e``, same shape as ``x``.
      t: times ``[B]`` in [0, 1] (0 = data, 1 = noise).
      kind: ``"linear"``, ``"uniform"``, a user's path object or a spec's path function.
      noise_min, noise_max: the linear path's noise levels (ignored by the others).

    Returns:
      ``(x_t, v)``, both shaped like ``x``.
    """
    if isinstance(kind, str):
        checks.check_choice("path_sample", "kind", kind, PATHS)
    checks.check_same_shape("path_sample", "x", x.shape, "noise", noise.shape)
    checks.check_time_shape("path_sample", "t", t.shape, x.shape)
    time = broadcast_time(ops, t, x)
    if callable(kind) and not hasattr(kind, "interpolate"):  # a path written in the spec: (x0, x1, t) -> (x_t, v)
        return kind(x, noise, time)
    if not isinstance(kind, str):
        return _user_path(ops, kind, x, noise, time)
    if kind == "uniform":
        return (1 - time) * x + time * noise, noise - x
    return (1 - time) * x + (noise_min + noise_max * time) * noise, noise_max * noise - x


def _user_path(ops, path, x, noise, time):
    """``(path.interpolate(ops, x, e, t), path.target(ops, x, e, t))``, each checked to have
    ``x``'s shape; an exception or another shape ends the run with one line naming the user's
    file and line (``specc.runtime.extensions.UserCodeError``)."""
    from specc.runtime import extensions

    values = []
    for method in ("interpolate", "target"):
        value = extensions.call_method(path, method, ops, x, noise, time)
        if tuple(getattr(value, "shape", ())) != tuple(x.shape):
            file, line = extensions.where_defined(getattr(path, method))
            raise extensions.UserCodeError(
                f"{file}:{line}: {type(path).__name__}.{method} returned shape "
                f"{tuple(getattr(value, 'shape', ()))}, but x has shape {tuple(x.shape)}"
            )
        values.append(value)
    return values[0], values[1]


def uniform_time(ops, u):
    """``t = u`` for a standard uniform draw ``u ~ U[0, 1)`` of shape ``[B]``."""
    return ops.as_array(u)


def logit_normal_time(ops, n, mean=-0.4, std=1.0):
    """``t = sigmoid(mean + std * n)`` for a standard normal draw ``n`` of shape ``[B]``."""
    return ops.sigmoid(mean + std * ops.as_array(n))


def mean_flow_time(ops, n1, n2, mean=-0.4, std=1.0, data_proportion=0.5):
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
    first = logit_normal_time(ops, n1, mean, std)
    second = logit_normal_time(ops, n2, mean, std)
    t = ops.maximum(first, second)
    r = ops.minimum(first, second)
    rows = ops.arange(t.shape[0], t) < math.floor(t.shape[0] * data_proportion)
    return t, ops.where(rows, t, r)


def sinusoidal(ops, x, dim):
    """Sinusoidal embedding, cosine first: ``concat(cos(x * f), sin(x * f))``.

    ``half = dim // 2``, ``f_i = exp(-ln(10000) * i / half)`` for ``i = 0 .. half - 1``; no
    x1000 scaling of ``x``. Computed in ``x``'s dtype when it is floating, else float32.

    Args:
      x: values of any shape ``[...]`` (typically times ``[B]``).
      dim: positive even embedding size.

    Returns:
      ``[..., dim]``.
    """
    checks.check_even("sinusoidal", "dim", dim)
    half = dim // 2
    x = ops.as_floating(ops.as_array(x))
    frequencies = ops.constant(np.exp(-math.log(10000.0) * np.arange(half) / half), x)
    angles = x[..., None] * frequencies
    return ops.concatenate([ops.cos(angles), ops.sin(angles)], axis=-1)


def cfg_combine(ops, v_uncond, v_cond, scale):
    """Classifier-free guidance: ``v = (1 - scale) * v_uncond + scale * v_cond``."""
    checks.check_same_shape("cfg_combine", "v_uncond", v_uncond.shape, "v_cond", v_cond.shape)
    return (1 - scale) * v_uncond + scale * v_cond


def samplers(ops) -> SimpleNamespace:
    """The ODE samplers of ``specc.runtime.samplers`` (``integrate``, ``euler``, ``heun``,
    ``rk4``, ``mean_flow_sample``, ``STEP_RULES``) on this backend: the time column of a
    batch ``x`` is ``full([B], t)`` in ``x``'s dtype and device."""
    return ode_samplers.bind(lambda x, value: ops.full((x.shape[0],), value, x))
