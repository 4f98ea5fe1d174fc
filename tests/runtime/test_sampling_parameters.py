"""``GaussianSample`` (the reparameterised draw of ``gaussian_sample(mean, logvar)``) and
``FreeParameter`` (``parameter(shape, init)``) on every backend.

GaussianSample: ``mean + exp(logvar / 2) * eps``, eps ~ N(0, I), in training mode; exactly
``mean`` in evaluation mode. Training draws are checked statistically (the standardised
draws ``(z - mean) / exp(logvar / 2)`` are N(0, 1)) and the gradient w.r.t. mean and logvar
against the reference formula at the draw's own eps (recovered from z).
"""

from __future__ import annotations

import numpy as np
import pytest

from specc.compiler.ir import Parameter
from specc.runtime.init import initialize, layer_parameters
from specc.runtime.reference import layers as reference

from .test_layers import f32


def _mode(backend, layer, training: bool) -> None:
    """``model.train()`` / ``model.eval()``: every backend's module has both."""
    layer.train() if training else layer.eval()


def _sample(backend, layer, mean, logvar) -> np.ndarray:
    return backend.numpy(layer(backend.array(mean), backend.array(logvar)))


def _gradients(backend, layer, mean, logvar, upstream):
    """``z`` and the gradients of ``sum(upstream * z)`` w.r.t. mean and logvar, from ONE draw."""
    if backend.name == "torch":
        import torch

        tensors = [torch.tensor(value, dtype=torch.float32, requires_grad=True) for value in (mean, logvar)]
        z = layer(*tensors)
        torch.sum(torch.tensor(upstream, dtype=torch.float32) * z).backward()
        return z.detach().numpy(), tensors[0].grad.numpy(), tensors[1].grad.numpy()
    if backend.name == "jax":
        import jax
        import jax.numpy as jnp
        from flax import nnx

        graphdef, state = nnx.split(layer)

        def loss(m, lv):
            z = nnx.merge(graphdef, state, copy=True)(m, lv)
            return jnp.sum(jnp.asarray(upstream, jnp.float32) * z), z

        (_, z), grads = jax.value_and_grad(loss, argnums=(0, 1), has_aux=True)(
            jnp.asarray(mean, jnp.float32), jnp.asarray(logvar, jnp.float32))
        return np.asarray(z), np.asarray(grads[0]), np.asarray(grads[1])
    import mlx.core as mx

    def loss(m, lv):
        z = layer(m, lv)
        return mx.sum(mx.array(upstream, dtype=mx.float32) * z), z

    (_, z), grads = mx.value_and_grad(loss, argnums=[0, 1])(backend.array(mean), backend.array(logvar))
    return np.array(z), np.array(grads[0]), np.array(grads[1])


def test_evaluation_returns_the_mean_exactly(backend, rng):
    layer = backend.module("layers").GaussianSample()
    mean, logvar = f32(rng.normal(size=(2, 5, 3))), f32(rng.normal(size=(2, 5, 3)))
    _mode(backend, layer, False)
    np.testing.assert_array_equal(_sample(backend, layer, mean, logvar), mean.astype(np.float32))
    np.testing.assert_array_equal(reference.gaussian_sample(mean, logvar), mean)


def test_training_draws_are_gaussian_around_the_mean(backend, rng):
    """n = 20000 standardised draws: |mean| < 5 / sqrt(n) and |std - 1| < 5 / sqrt(2 n)."""
    layer = backend.module("layers").GaussianSample()
    backend.module("state").seed_dropout(layer, 11)
    mean = f32(rng.normal(size=(200, 100)) * 3.0)
    logvar = f32(rng.uniform(-3.0, 2.0, size=(200, 100)))
    _mode(backend, layer, True)
    first, second = _sample(backend, layer, mean, logvar), _sample(backend, layer, mean, logvar)
    standardised = (first.astype(np.float64) - mean) / np.exp(logvar / 2.0)
    count = standardised.size
    assert abs(standardised.mean()) < 5.0 / np.sqrt(count)
    assert abs(standardised.std() - 1.0) < 5.0 / np.sqrt(2.0 * count)
    assert np.mean(first == second) < 1e-3  # fresh noise on every call


def test_seeded_draws_repeat(backend, rng):
    """``state.seed_dropout(model, seed)`` seeds the sample's noise as it seeds dropout."""
    layer = backend.module("layers").GaussianSample()
    state = backend.module("state")
    mean, logvar = np.zeros((4, 6)), np.zeros((4, 6))
    draws = []
    for seed in (5, 5, 6):
        state.seed_dropout(layer, seed)
        draws.append(_sample(backend, layer, mean, logvar))
    np.testing.assert_array_equal(draws[0], draws[1])
    assert not np.allclose(draws[0], draws[2])


def test_gradient_matches_the_reference_formula(backend, rng):
    layer = backend.module("layers").GaussianSample()
    backend.module("state").seed_dropout(layer, 2)
    mean, logvar = f32(rng.normal(size=(3, 4))), f32(rng.normal(size=(3, 4)) * 0.5)
    upstream = f32(rng.normal(size=(3, 4)))
    z, grad_mean, grad_logvar = _gradients(backend, layer, mean, logvar, upstream)
    noise = (z.astype(np.float64) - mean) / np.exp(logvar / 2.0)  # this draw's eps
    np.testing.assert_allclose(z, reference.gaussian_sample(mean, logvar, noise), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grad_mean, upstream, rtol=1e-6)
    np.testing.assert_allclose(grad_logvar, upstream * np.exp(logvar / 2.0) * noise / 2.0, rtol=1e-4, atol=1e-6)


def test_reference_gradient_with_fixed_noise_matches_finite_differences(rng):
    mean, logvar, noise = rng.normal(size=(3, 4)), rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    step = 1e-6

    def loss(m, lv):
        return np.sum(reference.gaussian_sample(m, lv, noise))

    bump = np.zeros((3, 4))
    bump[1, 2] = step
    numeric_mean = (loss(mean + bump, logvar) - loss(mean - bump, logvar)) / (2 * step)
    numeric_logvar = (loss(mean, logvar + bump) - loss(mean, logvar - bump)) / (2 * step)
    assert numeric_mean == pytest.approx(1.0, rel=1e-8)
    assert numeric_logvar == pytest.approx(np.exp(logvar[1, 2] / 2) * noise[1, 2] / 2, rel=1e-7)


def test_shape_mismatch_is_named(backend):
    layer = backend.module("layers").GaussianSample()
    with pytest.raises(ValueError, match=r"GaussianSample: mean has shape \[2, 3\] but logvar has shape \[2, 4\]; they must be equal"):
        _sample(backend, layer, np.zeros((2, 3)), np.zeros((2, 4)))


# ----------------------------------------------------------------------------- free parameters


def test_free_parameter_table():
    assert layer_parameters("FreeParameter", shape=(1, 1, 4)) == (Parameter("weight", (1, 1, 4), "zeros", 1, 1.0),)
    assert layer_parameters("FreeParameter", shape=[3], init="normal", std=0.02) == (
        Parameter("weight", (3,), "normal", 1, 0.02),)
    with pytest.raises(ValueError, match="FreeParameter: std = 0.5 needs a random init, got 'ones'"):
        layer_parameters("FreeParameter", shape=(3,), init="ones", std=0.5)
    with pytest.raises(ValueError, match="FreeParameter: shape must be a positive integer, got 0"):
        layer_parameters("FreeParameter", shape=(3, 0))


def test_normal_init_has_the_asked_std():
    (parameter,) = layer_parameters("FreeParameter", shape=(200, 100), init="normal", std=0.02)
    (values,) = initialize([("gamma_0.weight", parameter)], 0).values()
    assert values.dtype == np.float32 and values.shape == (200, 100)
    assert abs(values.std() - 0.02) < 5 * 0.02 / np.sqrt(2 * values.size)
    assert abs(values.mean()) < 5 * 0.02 / np.sqrt(values.size)


@pytest.mark.parametrize("init", ["zeros", "ones", "normal"])
def test_free_parameter_loads_saves_and_returns_its_array(backend, init):
    layer = backend.module("layers").FreeParameter((1, 2, 3), init=init, std=0.5 if init == "normal" else 1.0)
    state = backend.module("state")
    assert {name: array.shape for name, array in state.state_dict(layer).items()} == {"weight": (1, 2, 3)}
    arrays = initialize([("weight", p) for p in layer_parameters("FreeParameter", shape=(1, 2, 3), init=init,
                                                                  std=0.5 if init == "normal" else 1.0)], 4)
    state.load_state_dict(layer, arrays)
    np.testing.assert_array_equal(backend.numpy(layer()), arrays["weight"])
    np.testing.assert_array_equal(state.state_dict(layer)["weight"], arrays["weight"])
    assert state.parameter_count(layer) == 6
    expected = {"zeros": np.zeros((1, 2, 3)), "ones": np.ones((1, 2, 3))}.get(init)
    if expected is not None:
        np.testing.assert_array_equal(arrays["weight"], expected)


def test_mlx_random_key_restores_exactly():
    """A checkpoint can carry MLX's global key: restoring it repeats the following draws."""
    import mlx.core as mx

    from specc.runtime.mlx import state

    mx.random.seed(3)
    mx.random.normal((4,))
    words = state.random_key_words()
    expected = np.array(mx.random.normal((5,)))
    mx.random.seed(99)
    state.restore_random_key(words)
    np.testing.assert_array_equal(np.array(mx.random.normal((5,))), expected)
    assert state.random_key_words() != words
