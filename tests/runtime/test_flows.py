"""Parity of ``specc.runtime.<backend>.flows`` with the numpy reference, and properties.

fp32 backends against the float64 reference at rtol 1e-5, atol 1e-6 unless noted.
"""

from __future__ import annotations

import importlib
import math
import types

import numpy as np
import pytest

from specc.runtime.reference import flows as reference
from specc.runtime.reference import losses as reference_losses
from tests.runtime.test_losses import GRAD_ATOL, GRAD_RTOL, backend_gradients, numeric_gradients

RTOL, ATOL = 1e-5, 1e-6
SHAPES = [(3,), (4, 5), (2, 3, 4)]


def close(backend, value, expected, rtol=RTOL, atol=ATOL):
    np.testing.assert_allclose(backend.numpy(value), expected, rtol=rtol, atol=atol)


def times_with_edges(rng, size):
    """Random times in [0, 1] whose first two rows are exactly 0 and 1."""
    t = rng.uniform(size=size)
    t[:2] = [0.0, 1.0][: min(2, size)]
    return t


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("kind", ["linear", "uniform"])
def test_path_sample_matches_reference(backend, rng, shape, kind):
    x, noise = rng.normal(size=shape), rng.normal(size=shape)
    t = times_with_edges(rng, shape[0])
    flows = backend.module("flows")
    x_t, velocity = flows.path_sample(backend.array(x), backend.array(noise), backend.array(t), kind, 0.01, 0.98)
    expected_x_t, expected_velocity = reference.path_sample(x, noise, t, kind, 0.01, 0.98)
    close(backend, x_t, expected_x_t)
    close(backend, velocity, expected_velocity)


def test_path_sample_formulas_at_the_ends():
    x, noise = np.array([[2.0, -1.0], [0.5, 3.0]]), np.array([[1.0, 1.0], [-2.0, 0.0]])
    x_t, velocity = reference.path_sample(x, noise, np.array([0.0, 1.0]), "linear", 0.001, 0.999)
    np.testing.assert_allclose(x_t[0], x[0] + 0.001 * noise[0])
    np.testing.assert_allclose(x_t[1], 1.0 * noise[1])
    np.testing.assert_allclose(velocity, 0.999 * noise - x)
    x_t, velocity = reference.path_sample(x, noise, np.array([0.0, 1.0]), "uniform")
    np.testing.assert_allclose(x_t, [x[0], noise[1]])
    np.testing.assert_allclose(velocity, noise - x)


def test_path_velocity_is_the_time_derivative():
    rng = np.random.default_rng(1)
    x, noise, t = rng.normal(size=(3, 4)), rng.normal(size=(3, 4)), rng.uniform(0.1, 0.9, size=3)
    for kind in reference.PATHS:
        forward, _ = reference.path_sample(x, noise, t + 1e-6, kind)
        backward, velocity = reference.path_sample(x, noise, t - 1e-6, kind)
        np.testing.assert_allclose((forward - backward) / 2e-6, velocity, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda f, a: f.path_sample(a(np.zeros((2, 3))), a(np.zeros((2, 4))), a(np.zeros(2))),
            "noise has shape [2, 4]",
        ),
        (lambda f, a: f.path_sample(a(np.zeros((2, 3))), a(np.zeros((2, 3))), a(np.zeros(3))), "t has shape [3]"),
        (
            lambda f, a: f.path_sample(a(np.zeros((2, 3))), a(np.zeros((2, 3))), a(np.zeros(2)), "cosine"),
            "kind must be one of",
        ),
        (lambda f, a: f.sinusoidal(a(np.zeros(3)), 7), "dim must be a positive even integer, got 7"),
        (lambda f, a: f.mean_flow_time(a(np.zeros(3)), a(np.zeros(4))), "n1 has shape [3] but n2 has shape [4]"),
        (
            lambda f, a: f.mean_flow_time(a(np.zeros(3)), a(np.zeros(3)), data_proportion=1.5),
            "data_proportion must lie in [0, 1]",
        ),
        (lambda f, a: f.cfg_combine(a(np.zeros((2, 3))), a(np.zeros((3, 2))), 2.0), "v_cond has shape [3, 2]"),
        (lambda f, a: f.integrate(lambda x, t: x, a(np.zeros((2, 3))), 0), "steps must be a positive integer, got 0"),
        (lambda f, a: f.integrate(lambda x, t: x, a(np.zeros((2, 3))), 4, "midpoint"), "method must be one of"),
    ],
)
def test_errors_have_the_same_text_as_the_reference(backend, call, message):
    with pytest.raises(ValueError) as expected:
        call(reference, np.asarray)
    assert message in str(expected.value)
    with pytest.raises(ValueError) as got:
        call(backend.module("flows"), backend.array)
    assert str(got.value) == str(expected.value)


@pytest.mark.parametrize("mean, std", [(-0.4, 1.0), (0.0, 2.0), (1.0, 0.5)])
def test_time_maps_match_reference(backend, rng, mean, std):
    flows = backend.module("flows")
    u, n = rng.uniform(size=7), rng.normal(size=7) * 3
    close(backend, flows.uniform_time(backend.array(u)), reference.uniform_time(u))
    close(backend, flows.logit_normal_time(backend.array(n), mean, std), reference.logit_normal_time(n, mean, std))


def test_logit_normal_is_the_sigmoid_of_a_normal():
    n = np.array([-2.0, 0.0, 0.7])
    np.testing.assert_allclose(reference.logit_normal_time(n, 0.3, 2.0), 1.0 / (1.0 + np.exp(-(0.3 + 2.0 * n))))


@pytest.mark.parametrize("size, proportion", [(5, 0.5), (8, 0.0), (4, 1.0), (7, 0.3)])
def test_mean_flow_time_matches_reference(backend, rng, size, proportion):
    n1, n2 = rng.normal(size=size), rng.normal(size=size)
    t, r = backend.module("flows").mean_flow_time(backend.array(n1), backend.array(n2), -0.4, 1.2, proportion)
    expected_t, expected_r = reference.mean_flow_time(n1, n2, -0.4, 1.2, proportion)
    close(backend, t, expected_t)
    close(backend, r, expected_r)
    data_rows = math.floor(size * proportion)
    np.testing.assert_array_equal(expected_r[:data_rows], expected_t[:data_rows])
    assert np.all(expected_r <= expected_t)
    assert np.all(expected_r[data_rows:] < expected_t[data_rows:])


@pytest.mark.parametrize("dim", [2, 8, 64])
@pytest.mark.parametrize("shape", [(5,), (2, 3)])
def test_sinusoidal_matches_reference(backend, rng, dim, shape):
    x = rng.uniform(0, 1, size=shape)
    x.flat[0] = 0.0
    # angles up to 1 rad: fp32 cos/sin agree to 1e-6 absolute.
    close(backend, backend.module("flows").sinusoidal(backend.array(x), dim), reference.sinusoidal(x, dim))


def test_sinusoidal_is_cosine_first():
    embedding = reference.sinusoidal(np.array([0.5]), 4)
    np.testing.assert_allclose(embedding, [[np.cos(0.5), np.cos(0.005), np.sin(0.5), np.sin(0.005)]])


def test_cfg_combine(backend, rng):
    unconditional, conditional = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    got = backend.module("flows").cfg_combine(backend.array(unconditional), backend.array(conditional), 2.5)
    close(backend, got, -1.5 * unconditional + 2.5 * conditional)
    np.testing.assert_allclose(reference.cfg_combine(unconditional, conditional, 1.0), conditional)


def column(t, x):
    """``t [B]`` as ``[B, 1, ...]`` against ``x``; works on every array type."""
    return t.reshape((-1,) + (1,) * (x.ndim - 1))


def time_dependent_velocity(x, t):
    """``dx/dt = t * x - 0.3 x^2``: nonlinear and time dependent, the same on every backend."""
    return column(t, x) * x - 0.3 * x * x


@pytest.mark.parametrize("method", ["euler", "heun", "rk4"])
@pytest.mark.parametrize("steps", [1, 7])
def test_samplers_match_reference(backend, rng, method, steps):
    x1 = rng.uniform(-1, 1, size=(3, 4))
    flows = backend.module("flows")
    got = getattr(flows, method)(time_dependent_velocity, backend.array(x1), steps)
    expected = getattr(reference, method)(time_dependent_velocity, x1, steps)
    close(backend, got, expected)


def test_samplers_pass_the_grid_times_as_batch_arrays(backend):
    seen = []

    def velocity(x, t):
        seen.append(backend.numpy(t).copy())
        return x * 0

    backend.module("flows").heun(velocity, backend.array(np.zeros((2, 3))), 4)
    np.testing.assert_allclose(np.stack(seen), np.repeat([1.0, 0.75, 0.75, 0.5, 0.5, 0.25, 0.25, 0.0], 2).reshape(8, 2))


@pytest.mark.parametrize("method, steps, tolerance", [("euler", 400, 2e-3), ("heun", 50, 1e-4), ("rk4", 10, 1e-6)])
def test_samplers_integrate_a_linear_ode(method, steps, tolerance):
    """``dx/dt = t x`` from t = 1 to t = 0 has the exact solution ``x(0) = x(1) exp(-1/2)``."""
    x1 = np.array([[1.0, -2.0], [0.5, 3.0]])
    got = reference.integrate(lambda x, t: t[:, None] * x, x1, steps, method)
    np.testing.assert_allclose(got, x1 * np.exp(-0.5), rtol=tolerance)


def test_sampler_error_orders():
    """Halving the step size divides the error by 2 (euler), 4 (heun) and 16 (rk4)."""
    x1 = np.ones((1, 1))
    exact = np.exp(-0.5)
    for method, order in [("euler", 1), ("heun", 2), ("rk4", 4)]:
        coarse, fine = (
            abs(reference.integrate(lambda x, t: t[:, None] * x, x1, n, method)[0, 0] - exact) for n in (32, 64)
        )
        assert 2**order * 0.9 < coarse / fine < 2**order * 1.1, method


def test_mean_flow_sample(backend, rng):
    x1 = rng.normal(size=(3, 2))

    def average_velocity(x, t, r):
        return x * 0.5 + column(t - 3 * r, x)

    got = backend.module("flows").mean_flow_sample(average_velocity, backend.array(x1))
    close(backend, got, x1 - (0.5 * x1 + 1.0))


# ---- Flow objectives: flow matching, MeanFlow and improved MeanFlow with their JVPs ----
#
# Three tiny hand-written models (an MLP, a 1-d convolution, single-head attention), each
# conditioned on sinusoidal(t) and sinusoidal(h), are written once against an operations
# table per backend. The reference JVP is a float64 central difference; gradients with
# respect to the parameters are compared with finite differences of the reference loss in
# which every sg(.) term is frozen at the current parameters.


# fp32 JVP through tanh/softmax chains against a float64 finite difference: rtol 2e-5.
JVP_RTOL, JVP_ATOL = 2e-5, 2e-6


def reference_conv(x, kernel):
    """Zero-padded 'same' cross-correlation: ``x [B, T, C_in]``, ``kernel [K, C_in, C_out]``."""
    half = kernel.shape[0] // 2
    padded = np.pad(x, ((0, 0), (half, half), (0, 0)))
    index = np.arange(x.shape[1])[:, None] + np.arange(kernel.shape[0])[None, :]
    return np.einsum("btkc,kco->bto", padded[:, index], kernel)


def jax_conv(x, kernel):
    import jax

    half = kernel.shape[0] // 2
    return jax.lax.conv_general_dilated(x, kernel, (1,), [(half, half)], dimension_numbers=("NWC", "WIO", "NWC"))


def torch_conv(x, kernel):
    import torch

    output = torch.nn.functional.conv1d(x.permute(0, 2, 1), kernel.permute(2, 1, 0), padding=kernel.shape[0] // 2)
    return output.permute(0, 2, 1)


def mlx_conv(x, kernel):
    """MLX has no JVP rule for convolution: a local ``mx.custom_function`` supplies one
    (a convolution is linear in each argument). Its body sees stop-gradient inputs so that
    MLX's tracing of the body does not ask for the missing rule; VJP is delegated to
    ``mx.vjp`` of the plain convolution. (specc.runtime.mlx.layers does not exist yet.)"""
    import mlx.core as mx

    half = kernel.shape[0] // 2

    def plain(a, w):
        return mx.conv1d(a, w.transpose(2, 0, 1), padding=half)

    @mx.custom_function
    def convolution(a, w):
        return plain(mx.stop_gradient(a), mx.stop_gradient(w))

    @convolution.jvp
    def convolution_jvp(primals, tangents):
        (a, w), (da, dw) = primals, (list(tangents) + [None])[:2]
        output = plain(da, w)
        return output if dw is None else output + plain(a, dw)

    @convolution.vjp
    def convolution_vjp(primals, cotangent, output):
        return tuple(mx.vjp(plain, list(primals), [cotangent])[1])

    return convolution(x, kernel)


def operations(name):
    """What the three models need from a framework, as a table."""
    if name == "reference":
        return types.SimpleNamespace(
            flows=reference,
            tanh=np.tanh,
            conv=reference_conv,
            swap=lambda a: np.swapaxes(a, -1, -2),
            softmax=lambda a: np.exp(a - a.max(-1, keepdims=True))
            / np.exp(a - a.max(-1, keepdims=True)).sum(-1, keepdims=True),
        )
    flows = importlib.import_module(f"specc.runtime.{name}.flows")
    if name == "jax":
        import jax

        return types.SimpleNamespace(
            flows=flows,
            tanh=jax.numpy.tanh,
            conv=jax_conv,
            swap=lambda a: a.swapaxes(-1, -2),
            softmax=lambda a: jax.nn.softmax(a, axis=-1),
        )
    if name == "torch":
        import torch

        return types.SimpleNamespace(
            flows=flows,
            tanh=torch.tanh,
            conv=torch_conv,
            swap=lambda a: a.transpose(-1, -2),
            softmax=lambda a: torch.softmax(a, -1),
        )
    import mlx.core as mx

    return types.SimpleNamespace(
        flows=flows,
        tanh=mx.tanh,
        conv=mlx_conv,
        swap=lambda a: a.swapaxes(-1, -2),
        softmax=lambda a: mx.softmax(a, axis=-1),
    )


def time_features(ops, parameters, t, h):
    return ops.flows.sinusoidal(t, 4) @ parameters["time"] + ops.flows.sinusoidal(h, 4) @ parameters["gap"]


def mlp_model(ops, parameters):
    def model(z, t, h):
        return ops.tanh(z @ parameters["input"] + time_features(ops, parameters, t, h)) @ parameters["output"]

    return model


def conv_model(ops, parameters):
    def model(z, t, h):
        hidden = ops.tanh(ops.conv(z, parameters["kernel"]) + time_features(ops, parameters, t, h)[:, None, :])
        return hidden @ parameters["output"]

    return model


def attention_model(ops, parameters):
    def model(z, t, h):
        embedded = z + time_features(ops, parameters, t, h)[:, None, :]
        query, key, value = (embedded @ parameters[name] for name in ("query", "key", "value"))
        weights = ops.softmax(query @ ops.swap(key) * 0.5)
        return ops.tanh(weights @ value) @ parameters["output"]

    return model


MODELS = {
    # name: (builder, data shape, parameter shapes)
    "mlp": (mlp_model, (4, 3), {"input": (3, 6), "time": (4, 6), "gap": (4, 6), "output": (6, 3)}),
    "conv": (conv_model, (4, 5, 2), {"kernel": (3, 2, 4), "time": (4, 4), "gap": (4, 4), "output": (4, 2)}),
    "attention": (attention_model, (4, 5, 4), {n: (4, 4) for n in ("time", "gap", "query", "key", "value", "output")}),
}
OBJECTIVES = ("flow_matching", "mean_flow", "improved_mean_flow")


def flow_problem(rng, model_name):
    builder, shape, parameter_shapes = MODELS[model_name]
    parameters = {name: rng.normal(size=size) * 0.6 for name, size in parameter_shapes.items()}
    x, noise = rng.normal(size=shape), rng.normal(size=shape)
    t = np.array([0.0, 1.0, 0.4, 0.8])  # the ends of the time range
    r = np.array([0.0, 0.3, 0.4, 0.1])  # r = t on rows 0 and 2
    return builder, parameters, x, noise, t, r


def call_objective(module, objective, model, x, noise, t, r):
    if objective == "flow_matching":
        return module.flow_matching_loss(lambda z, time: model(z, time, time * 0), x, noise, t, "linear", 0.01, 0.98)
    if objective == "mean_flow":
        return module.mean_flow_loss(model, x, noise, t, r, 0.5, 1e-3)
    return module.improved_mean_flow_loss(model, x, noise, t, r, "linear", 0.01, 0.98)


def rows(values, reduce):
    axes = tuple(range(1, values.ndim))
    return values.sum(axis=axes) if reduce == "sum" else values.mean(axis=axes)


def frozen_reference_loss(objective, builder, parameters, x, noise, t, r):
    """The reference loss as a function of the parameters, every sg(.) held at ``parameters``."""
    ops = operations("reference")
    model = builder(ops, parameters)
    names = list(parameters)
    if objective == "mean_flow":
        z, velocity = reference.path_sample(x, noise, t, "uniform")
        average, derivative = reference_losses.jvp(
            lambda a, b, c: model(a, b, b - c), (z, t, r), (velocity, np.ones(4), np.zeros(4))
        )
        target = velocity - reference.broadcast_time(np.clip(t - r, 0, 1), x) * derivative
        weight = 1.0 / (rows((average - target) ** 2, "mean") + 1e-3) ** 0.5
        return names, lambda *p: np.mean(
            weight * rows((builder(ops, dict(zip(names, p)))(z, t, t - r) - target) ** 2, "mean")
        )
    x_t, velocity = reference.path_sample(x, noise, t, "linear", 0.01, 0.98)
    if objective == "flow_matching":

        def predict(p):
            return builder(ops, dict(zip(names, p)))(x_t, t, t * 0)

    else:
        tangent = model(x_t, t, t * 0)
        _, derivative = reference_losses.jvp(
            lambda a, b, c: model(a, b, b - c), (x_t, t, r), (tangent, np.ones(4), np.zeros(4))
        )

        def predict(p):
            return builder(ops, dict(zip(names, p)))(x_t, t, t - r) + reference.broadcast_time(t - r, x) * derivative

    weight = 1.0 / (rows((predict(list(parameters.values())) - velocity) ** 2, "sum") + 1e-3)
    return names, lambda *p: np.mean(weight * rows((predict(p) - velocity) ** 2, "sum"))


@pytest.mark.parametrize("model_name", list(MODELS))
@pytest.mark.parametrize("objective", OBJECTIVES)
def test_flow_objectives_match_reference(backend, rng, model_name, objective):
    builder, parameters, x, noise, t, r = flow_problem(rng, model_name)
    ops = operations(backend.name)
    arrays = {name: backend.array(value) for name, value in parameters.items()}
    loss, mse = call_objective(
        backend.module("losses"), objective, builder(ops, arrays), *map(backend.array, (x, noise, t, r))
    )
    expected_loss, expected_mse = call_objective(
        reference_losses, objective, builder(operations("reference"), parameters), x, noise, t, r
    )
    close(backend, loss, expected_loss, JVP_RTOL, JVP_ATOL)
    close(backend, mse, expected_mse, JVP_RTOL, JVP_ATOL)

    names, frozen = frozen_reference_loss(objective, builder, parameters, x, noise, t, r)
    np.testing.assert_allclose(frozen(*parameters.values()), expected_loss, rtol=1e-9)
    inputs = [backend.array(a) for a in (x, noise, t, r)]
    gradients = backend_gradients(
        backend,
        lambda *p: call_objective(backend.module("losses"), objective, builder(ops, dict(zip(names, p))), *inputs)[0],
        list(parameters.values()),
    )
    for gradient, expected in zip(gradients, numeric_gradients(frozen, list(parameters.values()))):
        np.testing.assert_allclose(gradient, expected, rtol=GRAD_RTOL, atol=GRAD_ATOL)


def test_jvp_is_the_total_derivative_through_h(backend, rng):
    """``u = z * h^2`` with ``h = t - r``: ``du = v * h^2 + z * 2 h`` for tangents (v, 1, 0)."""
    z, v, t, r = rng.normal(size=(3, 2)), rng.normal(size=(3, 2)), np.array([0.5, 1.0, 0.2]), np.array([0.1, 0.0, 0.2])
    h = (t - r)[:, None]
    expected = v * h**2 + z * 2 * h
    for module, to_array, to_numpy in (
        (reference_losses, np.asarray, np.asarray),
        (backend.module("losses"), backend.array, backend.numpy),
    ):
        primals = [to_array(a) for a in (z, t, r)]
        tangents = [to_array(v), to_array(np.ones(3)), to_array(np.zeros(3))]
        value, derivative = module.jvp(lambda a, b, c: a * ((b - c) ** 2)[:, None], primals, tangents)
        np.testing.assert_allclose(to_numpy(value), z * h**2, rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(to_numpy(derivative), expected, rtol=JVP_RTOL, atol=JVP_ATOL)


def test_mean_flow_loss_reduces_to_flow_matching_when_r_equals_t(rng):
    """With r = t the MeanFlow target is v and u(z, t, t) is the instantaneous velocity."""
    builder, parameters, x, noise, t, _ = flow_problem(rng, "mlp")
    model = builder(operations("reference"), parameters)
    loss, _ = reference_losses.mean_flow_loss(model, x, noise, t, t, gamma=0.0, c=1e-3)
    z, velocity = reference.path_sample(x, noise, t, "uniform")
    np.testing.assert_allclose(loss, reference_losses.weighted_l2(model(z, t, t * 0), velocity, 1.0, 1e-3, "mean"))
