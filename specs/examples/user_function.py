"""User functions for specs/examples/user_function.mf, called inside the model.

Each is declared in the spec with ``extern`` (its tensor inputs and outputs with dimension
names, its hyperparameters with defaults), so every call is shape-checked before anything
runs. ``ops`` is the array operations of the backend the script runs on
(``specc.runtime.<backend>.ops``): the same function trains on JAX, PyTorch and MLX.
"""

import math

SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


def gelu_tanh(ops, x):
    """GELU, tanh approximation: x / 2 * (1 + tanh(u)) = x * sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3)."""
    return x * ops.sigmoid(2.0 * SQRT_2_OVER_PI * (x + 0.044715 * x * x * x))


def mix(ops, a, b, scale=1.0):
    """``a + scale * b``."""
    return a + scale * b
