"""Seed 000's composability guide, written for specc: a custom noise schedule (the
exponential interpolation), a custom time sampling strategy (a beta distribution) and the
loss of a custom loss strategy (a pseudo-Huber regression of the velocity).

Named by specs/examples/seed000_custom.mf with ``python("seed000_extensions.py", ...)``.
``specc lint`` reads this file without running it; the generated script imports it.

- A path receives ``ops`` (the array operations of the backend the script runs on: the same
  code runs on JAX, PyTorch and MLX), the data ``x0``, the noise ``x1`` and the time ``t``
  already shaped ``[B, 1, ...]`` to broadcast against them (t = 0 is data, t = 1 noise).
- A loss receives ``ops``, the model's prediction and the path's target; it returns a scalar.
- A time sampler draws on the host with numpy from the generator the data pipeline hands
  it, so every backend trains on the same times and a resumed run draws the same ones.
"""

import numpy as np


class ExponentialPath:
    """``x_t = (1 - t) * x0 + exp(t) * x1``; the regression target ``x1 - x0`` (the guide's
    ``CustomNoiseSchedule``)."""

    def interpolate(self, ops, x0, x1, t):
        return (1.0 - t) * x0 + ops.exp(t) * x1

    def target(self, ops, x0, x1, t):
        return x1 - x0


class BetaTime:
    """``t ~ Beta(concentration, concentration)`` (the guide's ``CustomTimeSampling``)."""

    def __init__(self, concentration=0.5):
        self.concentration = concentration

    def sample(self, rng, size):
        return rng.beta(self.concentration, self.concentration, size).astype(np.float32)


def pseudo_huber(ops, prediction, target, delta=1.0):
    """``mean(delta^2 * (sqrt(1 + (d / delta)^2) - 1))``, ``d = prediction - target``: quadratic
    near zero, linear far away (the loss of the guide's ``CustomLossStrategy``)."""
    scaled = (prediction - target) / delta
    return ops.mean(delta * delta * (ops.sqrt(1.0 + scaled * scaled) - 1.0))
