"""``mean_flow_loss`` on a chosen flow path (gap 14: MeanFlowLoss's noise schedule, linear
or uniform): every backend against the numpy reference, the reference against the formula
written out, and the default still the uniform path.

fp32 backends against the float64 reference at the JVP tolerances of test_flows.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from specc.runtime.reference import flows as reference
from specc.runtime.reference import losses as reference_losses
from tests.runtime.test_flows import JVP_ATOL, JVP_RTOL, MODELS, close, flow_problem, operations, rows
from tests.runtime.test_losses import GRAD_ATOL, GRAD_RTOL, backend_gradients, numeric_gradients

LINEAR = {"path": "linear", "noise_min": 0.01, "noise_max": 0.98}


def frozen_linear_loss(builder, parameters, x, noise, t, r, gamma=0.5, c=1e-3):
    """The reference MeanFlow loss on the linear path written out, as a function of the
    parameters with every sg(.) held at ``parameters``:
    ``z = (1 - t) x + (0.01 + 0.98 t) e``, ``v = 0.98 e - x``,
    ``u_tgt = v - clip(t - r, 0, 1) du/dt``, ``w = 1 / (mean (u - u_tgt)^2 + c)^(1 - gamma)``."""
    ops = operations("reference")
    model = builder(ops, parameters)
    names = list(parameters)
    time = t.reshape((-1,) + (1,) * (x.ndim - 1))
    z, velocity = (1 - time) * x + (0.01 + 0.98 * time) * noise, 0.98 * noise - x
    average, derivative = reference_losses.jvp(
        lambda a, b, c_: model(a, b, b - c_), (z, t, r), (velocity, np.ones(len(t)), np.zeros(len(t)))
    )
    target = velocity - np.clip(time - r.reshape(time.shape), 0, 1) * derivative
    weight = 1.0 / (rows((average - target) ** 2, "mean") + c) ** (1 - gamma)
    return names, lambda *p: np.mean(weight * rows((builder(ops, dict(zip(names, p)))(z, t, t - r) - target) ** 2, "mean"))


@pytest.mark.parametrize("model_name", ["mlp", "conv"])
def test_reference_linear_path_is_the_written_formula(rng, model_name):
    builder, parameters, x, noise, t, r = flow_problem(rng, model_name)
    loss, _ = reference_losses.mean_flow_loss(builder(operations("reference"), parameters), x, noise, t, r, **LINEAR)
    _, frozen = frozen_linear_loss(builder, parameters, x, noise, t, r)
    np.testing.assert_allclose(loss, frozen(*parameters.values()), rtol=1e-12)


def test_default_path_is_uniform_and_differs_from_linear(rng):
    builder, parameters, x, noise, t, r = flow_problem(rng, "mlp")
    model = builder(operations("reference"), parameters)
    default = reference_losses.mean_flow_loss(model, x, noise, t, r)
    uniform = reference_losses.mean_flow_loss(model, x, noise, t, r, path="uniform", noise_min=0.3, noise_max=0.5)
    linear = reference_losses.mean_flow_loss(model, x, noise, t, r, **LINEAR)
    np.testing.assert_array_equal(default[0], uniform[0])  # uniform ignores the noise levels
    assert abs(linear[0] - default[0]) > 1e-3 * abs(default[0])


@pytest.mark.parametrize("model_name", list(MODELS))
def test_linear_path_matches_reference_with_gradients(backend, rng, model_name):
    builder, parameters, x, noise, t, r = flow_problem(rng, model_name)
    ops = operations(backend.name)
    arrays = {name: backend.array(value) for name, value in parameters.items()}
    inputs = [backend.array(a) for a in (x, noise, t, r)]
    losses = backend.module("losses")
    loss, mse = losses.mean_flow_loss(builder(ops, arrays), *inputs, **LINEAR)
    expected_loss, expected_mse = reference_losses.mean_flow_loss(
        builder(operations("reference"), parameters), x, noise, t, r, **LINEAR
    )
    close(backend, loss, expected_loss, JVP_RTOL, JVP_ATOL)
    close(backend, mse, expected_mse, JVP_RTOL, JVP_ATOL)

    names, frozen = frozen_linear_loss(builder, parameters, x, noise, t, r)
    gradients = backend_gradients(
        backend,
        lambda *p: losses.mean_flow_loss(builder(ops, dict(zip(names, p))), *inputs, **LINEAR)[0],
        list(parameters.values()),
    )
    for gradient, expected in zip(gradients, numeric_gradients(frozen, list(parameters.values()))):
        np.testing.assert_allclose(gradient, expected, rtol=GRAD_RTOL, atol=GRAD_ATOL)


def test_unknown_path_has_the_reference_text(backend):
    zeros = np.zeros((2, 3))
    with pytest.raises(ValueError) as expected:
        reference_losses.mean_flow_loss(None, zeros, zeros, np.zeros(2), np.zeros(2), path="cosine")
    assert str(expected.value).startswith("path_sample: kind must be one of"), str(expected.value)
    with pytest.raises(ValueError) as got:
        backend.module("losses").mean_flow_loss(
            None, backend.array(zeros), backend.array(zeros), backend.array(np.zeros(2)), backend.array(np.zeros(2)), path="cosine"
        )
    assert str(got.value) == str(expected.value)
    assert reference.PATHS == ("linear", "uniform")


# ----------------------------------------------------------------------------- compiled


LINEAR_OVERRIDE = "objective.path=linear(noise_min = 0.01, noise_max = 0.98)"


@pytest.mark.parametrize("backend_name", ["jax", "lightning", "mlx"])
def test_the_spec_path_reaches_the_emitted_call(backend_name):
    from specc.compiler.emit import render as emit
    from tests.backends.test_mean_flow import meanflow_program

    script = " ".join(emit.render(meanflow_program("mean_flow", (LINEAR_OVERRIDE,)), backend_name).split())
    assert 'path="linear"' in script
    for name, value in (("noise_min", "0.01"), ("noise_max", "0.98")):  # inline, or a configuration name
        assert f"{name}={value}" in script or (f"{name}={name}" in script and f"{name} = {value} # --set" in script)
    default = " ".join(emit.render(meanflow_program("mean_flow"), backend_name).split())
    code = default.split("RESOLVED_SPEC")[0]  # the default path: uniform, written or the runtime's default
    assert 'path="linear"' not in code and "noise_min" not in code


@pytest.mark.slow
def test_mean_flow_on_the_linear_path_trains_alike_on_every_backend(tmp_path):
    from tests.backends.test_mean_flow import TOLERANCE, meanflow_program, run_backends, values, worst_difference

    steps = 4
    overrides = ('architecture="mlp"', f"train.max_steps={steps}", f"train.eval_every={steps}", LINEAR_OVERRIDE)
    runs = run_backends(meanflow_program("mean_flow", overrides), tmp_path)
    for split, name in [("train", "loss"), ("train", "mse"), ("val", "loss")]:
        series = {backend: values(rows, split, name) for backend, rows in runs.items()}
        assert all(found and np.isfinite(list(found.values())).all() for found in series.values()), series
        worst, where = worst_difference(series)
        print(f"mean_flow linear path {split}/{name}: worst cross-backend difference {worst:.2e} ({where})")
        assert worst <= TOLERANCE, (split, name, worst, where)
