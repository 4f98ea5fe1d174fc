"""ODE samplers of flow models, written once for every backend.

The samplers only add, subtract and scale arrays and call the model, so one implementation
serves numpy, jax, torch and mlx; a backend supplies ``time_column(x, value)`` (a ``[B]``
array filled with ``value`` in ``x``'s dtype and device). Each backend's ``flows`` module
binds them with ``bind(time_column)``, so ``flows.rk4`` etc. have the same name, signature
and docstring everywhere.

Time convention: t = 0 is data, t = 1 is noise; samplers integrate from 1 down to 0 over
``t_k = 1 - k / steps``, ``dt = 1 / steps``.
"""

from __future__ import annotations

from types import SimpleNamespace

from specc.runtime import checks


def euler_step(velocity, x, t, dt, time_column):
    """``x <- x - dt * f(x, t)``."""
    return x - dt * velocity(x, time_column(x, t))


def heun_step(velocity, x, t, dt, time_column):
    """``a = f(x, t)``, ``b = f(x - dt * a, t - dt)``, ``x <- x - dt / 2 * (a + b)``."""
    first = velocity(x, time_column(x, t))
    second = velocity(x - dt * first, time_column(x, t - dt))
    return x - 0.5 * dt * (first + second)


def rk4_step(velocity, x, t, dt, time_column):
    """``k1 = f(x, t)``, ``k2 = f(x - dt/2 k1, t - dt/2)``, ``k3 = f(x - dt/2 k2, t - dt/2)``,
    ``k4 = f(x - dt k3, t - dt)``, ``x <- x - dt / 6 * (k1 + 2 k2 + 2 k3 + k4)``."""
    k1 = velocity(x, time_column(x, t))
    k2 = velocity(x - 0.5 * dt * k1, time_column(x, t - 0.5 * dt))
    k3 = velocity(x - 0.5 * dt * k2, time_column(x, t - 0.5 * dt))
    k4 = velocity(x - dt * k3, time_column(x, t - dt))
    return x - dt / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)


STEP_RULES = {"euler": euler_step, "heun": heun_step, "rk4": rk4_step}


def bind(time_column) -> SimpleNamespace:
    """The public samplers of one backend: ``integrate``, ``euler``, ``heun``, ``rk4``,
    ``mean_flow_sample`` and ``STEP_RULES``."""

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
            x = step_rule(velocity, x, 1.0 - k * dt, dt, time_column)
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
        return x1 - average_velocity(x1, time_column(x1, 1.0), time_column(x1, 0.0))

    return SimpleNamespace(
        integrate=integrate,
        euler=euler,
        heun=heun,
        rk4=rk4,
        mean_flow_sample=mean_flow_sample,
        STEP_RULES=STEP_RULES,
    )
