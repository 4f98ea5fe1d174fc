"""Flow paths, time maps, time embedding, guidance and ODE samplers (jax).

One time convention everywhere: t = 0 is data, t = 1 is noise; samplers integrate from
t = 1 down to t = 0. Every backend (jax, torch, mlx) has a module with the same names,
signatures, defaults and error text; ``specc.runtime.reference.flows`` documents the oracle.
The samplers run a Python loop over steps (wrap the velocity in ``jax.jit``).

Shapes: ``x`` and ``noise`` are ``[B, ...]``; ``t`` and ``r`` are ``[B]`` and are broadcast
over the non-batch axes of ``x``.
"""

from __future__ import annotations

import math

import jax
import numpy as np
import jax.numpy as jnp

from specc.runtime import checks

PATHS = ("linear", "uniform")


def broadcast_time(t, x):
    """Reshape ``t`` of shape ``[B]`` to ``[B, 1, ..., 1]`` so it broadcasts against ``x``."""
    return jnp.reshape(t, tuple(t.shape) + (1,) * (x.ndim - 1))


def path_sample(x, noise, t, kind="linear", noise_min=0.001, noise_max=0.999):
    """Noisy sample and target velocity of a flow path.

    linear:  ``x_t = (1 - t) * x + (noise_min + noise_max * t) * e``, ``v = noise_max * e - x``
    uniform: ``x_t = (1 - t) * x + t * e``, ``v = e - x``

    Args:
      x: data ``[B, ...]``.
      noise: standard normal draw ``e``, same shape as ``x``.
      t: times ``[B]`` in [0, 1] (0 = data, 1 = noise).
      kind: ``"linear"`` or ``"uniform"``.
      noise_min, noise_max: the linear path's noise levels (ignored by ``uniform``).

    Returns:
      ``(x_t, v)``, both shaped like ``x``.
    """
    checks.check_choice("path_sample", "kind", kind, PATHS)
    checks.check_same_shape("path_sample", "x", x.shape, "noise", noise.shape)
    checks.check_time_shape("path_sample", "t", t.shape, x.shape)
    time = broadcast_time(t, x)
    if kind == "uniform":
        return (1 - time) * x + time * noise, noise - x
    return (1 - time) * x + (noise_min + noise_max * time) * noise, noise_max * noise - x


def uniform_time(u):
    """``t = u`` for a standard uniform draw ``u ~ U[0, 1)`` of shape ``[B]``."""
    return jnp.asarray(u)


def logit_normal_time(n, mean=-0.4, std=1.0):
    """``t = sigmoid(mean + std * n)`` for a standard normal draw ``n`` of shape ``[B]``."""
    return jax.nn.sigmoid(mean + std * jnp.asarray(n))


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
    t = jnp.maximum(first, second)
    r = jnp.minimum(first, second)
    rows = jnp.arange(t.shape[0]) < math.floor(t.shape[0] * data_proportion)
    return t, jnp.where(rows, t, r)


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
    x = jnp.asarray(x)
    dtype = x.dtype if jnp.issubdtype(x.dtype, jnp.floating) else jnp.float32
    frequencies = jnp.asarray(np.exp(-math.log(10000.0) * np.arange(half) / half), dtype)
    angles = x[..., None].astype(dtype) * frequencies
    return jnp.concatenate([jnp.cos(angles), jnp.sin(angles)], axis=-1)


def cfg_combine(v_uncond, v_cond, scale):
    """Classifier-free guidance: ``v = (1 - scale) * v_uncond + scale * v_cond``."""
    checks.check_same_shape("cfg_combine", "v_uncond", v_uncond.shape, "v_cond", v_cond.shape)
    return (1 - scale) * v_uncond + scale * v_cond


def _time_column(x, value):
    return jnp.full((x.shape[0],), value, dtype=x.dtype)


def _euler_step(velocity, x, t, dt):
    return x - dt * velocity(x, _time_column(x, t))


def _heun_step(velocity, x, t, dt):
    first = velocity(x, _time_column(x, t))
    second = velocity(x - dt * first, _time_column(x, t - dt))
    return x - 0.5 * dt * (first + second)


def _rk4_step(velocity, x, t, dt):
    k1 = velocity(x, _time_column(x, t))
    k2 = velocity(x - 0.5 * dt * k1, _time_column(x, t - 0.5 * dt))
    k3 = velocity(x - 0.5 * dt * k2, _time_column(x, t - 0.5 * dt))
    k4 = velocity(x - dt * k3, _time_column(x, t - dt))
    return x - dt / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)


STEP_RULES = {"euler": _euler_step, "heun": _heun_step, "rk4": _rk4_step}


def integrate(velocity, x1, steps, method="euler"):
    """Integrate ``dx/dt = velocity(x, t)`` from noise ``x1`` at t = 1 to data at t = 0.

    ``t_k = 1 - k / steps``, ``dt = 1 / steps``, k = 0 .. steps - 1; ``velocity`` receives
    ``x`` and ``t`` as a ``[B]`` array filled with the current time.
    """
    checks.check_choice("integrate", "method", method, tuple(STEP_RULES))
    checks.check_positive_int("integrate", "steps", steps)
    step_rule = STEP_RULES[method]
    dt = 1.0 / steps
    x = x1
    for k in range(steps):
        x = step_rule(velocity, x, 1.0 - k * dt, dt)
    return x


def euler(velocity, x1, steps):
    """Euler: ``x_{k+1} = x_k - dt * f(x_k, t_k)`` over ``t_k = 1 - k / steps``."""
    return integrate(velocity, x1, steps, "euler")


def heun(velocity, x1, steps):
    """Heun: ``a = f(x, t)``, ``b = f(x - dt * a, t - dt)``, ``x <- x - dt / 2 * (a + b)``."""
    return integrate(velocity, x1, steps, "heun")


def rk4(velocity, x1, steps):
    """Classical Runge-Kutta 4 stepping backwards in time:
    ``k1 = f(x, t)``, ``k2 = f(x - dt/2 k1, t - dt/2)``, ``k3 = f(x - dt/2 k2, t - dt/2)``,
    ``k4 = f(x - dt k3, t - dt)``, ``x <- x - dt / 6 * (k1 + 2 k2 + 2 k3 + k4)``."""
    return integrate(velocity, x1, steps, "rk4")


def mean_flow_sample(average_velocity, x1):
    """One-step mean-flow sampling: ``x_0 = x_1 - u(x_1, t = 1, r = 0)``.

    ``average_velocity(x, t, r)`` gets ``t`` and ``r`` as ``[B]`` arrays.
    """
    return x1 - average_velocity(x1, _time_column(x1, 1.0), _time_column(x1, 0.0))
