"""Mixed precision on the JAX convolutions: ``lax.conv_general_dilated`` refuses operands of
two dtypes, so the runtime promotes them to their common type as a matmul would (a bf16 run
can feed a float32 activation — e.g. from an MDCT basis — into a bf16 kernel)."""

import numpy as np
import pytest

jnp = pytest.importorskip("jax.numpy")

from specc.runtime import init  # noqa: E402
from specc.runtime.jax import layers, state  # noqa: E402


@pytest.mark.parametrize("kind, arguments, shape", [
    ("Conv1d", dict(in_channels=2, out_channels=3, kernel_size=3), (2, 8, 2)),
    ("ConvTranspose1d", dict(in_channels=2, out_channels=3, kernel_size=3, stride=2), (2, 8, 2)),
])
def test_convolution_accepts_an_input_of_another_float_dtype(kind, arguments, shape):
    layer = getattr(layers, kind)(**arguments)
    names = [(name, parameter) for name, parameter in
             ((p.name, p) for p in init.layer_parameters(kind, **arguments))]
    state.load_state_dict(layer, init.initialize(names, seed=0))
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    full = np.asarray(layer(jnp.asarray(x)))
    mixed = layer(jnp.asarray(x, dtype=jnp.bfloat16))
    assert mixed.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(mixed), full, rtol=0.05, atol=0.05)  # bf16 input rounding
