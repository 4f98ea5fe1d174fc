"""The random primitives of the graph language, drawn on the host with numpy: a time sampler
written in the spec (``time = graph("beta_time")``, docs/language.md "Time samplers in the
graph language") calls them with the data pipeline's generator, so the three backends
receive the same numbers.

Each takes the generator first and the shape of the draw second, and returns float32:

- ``uniform(rng, shape, low=0, high=1)``: ``low + (high - low) u``, ``u = rng.random(shape,
  float32)`` in [0, 1) (``low = 0, high = 1`` draws exactly the built-in ``time = uniform``);
- ``normal(rng, shape, mean=0, std=1)``: ``mean + std n``, ``n = rng.standard_normal(shape)``;
- ``beta(rng, shape, alpha, beta)``: ``rng.beta(alpha, beta, shape)``, density proportional to
  ``t^(alpha - 1) (1 - t)^(beta - 1)`` on [0, 1];
- ``logit_normal(rng, shape, mean=0, std=1)``: ``sigmoid(mean + std n)``, ``n =
  rng.standard_normal(shape)`` (``mean = -0.4, std = 1`` draws exactly the built-in
  ``time = logit_normal``).

Draws are taken in the order the sampler's statements call them, so a sampler is a pure
function of the generator's state.
"""

from __future__ import annotations

import numpy as np
from specc.runtime import checks
from specc.runtime.reference.flows import logit_normal_time


def uniform(rng: np.random.Generator, shape, low: float = 0.0, high: float = 1.0) -> np.ndarray:
    """``low + (high - low) u``, u ~ U[0, 1) (float32)."""
    if not high > low:
        raise ValueError(f"uniform: high ({high}) must be greater than low ({low})")
    drawn = rng.random(tuple(shape), dtype=np.float32)
    if low == 0.0 and high == 1.0:
        return drawn
    return (np.float32(low) + np.float32(high - low) * drawn).astype(np.float32)


def normal(rng: np.random.Generator, shape, mean: float = 0.0, std: float = 1.0) -> np.ndarray:
    """``mean + std n``, n ~ N(0, 1) (float32)."""
    checks.check_non_negative("normal", "std", std)
    return (mean + std * rng.standard_normal(tuple(shape))).astype(np.float32)


def beta(rng: np.random.Generator, shape, alpha: float, beta: float) -> np.ndarray:
    """t ~ Beta(alpha, beta) on [0, 1] (float32)."""
    checks.check_positive("beta", "alpha", alpha)
    checks.check_positive("beta", "beta", beta)
    return rng.beta(alpha, beta, tuple(shape)).astype(np.float32)


def logit_normal(rng: np.random.Generator, shape, mean: float = 0.0, std: float = 1.0) -> np.ndarray:
    """``sigmoid(mean + std n)``, n ~ N(0, 1) (float32)."""
    checks.check_positive("logit_normal", "std", std)
    return logit_normal_time(rng.standard_normal(tuple(shape)), mean, std).astype(np.float32)
