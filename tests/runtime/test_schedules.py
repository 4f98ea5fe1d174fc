"""Learning-rate schedules: the COMPONENTS.md formulas, identical on every backend per update k."""

from __future__ import annotations

import math

import numpy as np
import pytest

from specc.runtime.reference import schedules as reference

# (name, arguments, steps to check: 0, inside warmup, warmup, middle, total, past total)
CASES = [
    ("constant", {"lr": 3e-4}, [0, 1, 10, 1000]),
    (
        "warmup_cosine",
        {"peak": 1e-3, "warmup": 10, "total": 100, "min_ratio": 0.1},
        [0, 1, 9, 10, 11, 55, 99, 100, 150],
    ),
    (
        "warmup_cosine",
        {"peak": 1e-3, "warmup": 10, "total": 100, "min_ratio": 0.1, "warmup_from": "zero"},
        [0, 1, 9, 10, 11, 55, 99, 100, 150],
    ),
    ("warmup_cosine", {"peak": 2e-3, "warmup": 0, "total": 50}, [0, 1, 25, 50, 51]),
    ("warmup_linear", {"peak": 1e-3, "warmup": 4, "total": 20}, [0, 2, 3, 4, 5, 12, 19, 20, 30]),
    ("warmup_linear", {"peak": 1e-3, "warmup": 4, "total": 20, "warmup_from": "zero"}, [0, 2, 3, 4, 5, 12, 20]),
    ("step", {"initial": 0.5, "step_size": 3, "gamma": 0.5}, [0, 2, 3, 5, 6, 100]),
    ("exponential", {"initial": 1e-2, "decay_rate": 0.99}, [0, 1, 10, 500]),
]


def direct(name, arguments, k):
    """The formulas of COMPONENTS.md, written out with ``math`` independently of the runtime."""
    if name == "constant":
        return arguments["lr"]
    if name == "step":
        return arguments["initial"] * arguments["gamma"] ** (k // arguments["step_size"])
    if name == "exponential":
        return arguments["initial"] * arguments["decay_rate"] ** k
    peak, warmup, total = arguments["peak"], arguments["warmup"], arguments["total"]
    if k < warmup:  # warmup_from: one (the default; nanoGPT's form) or zero
        if arguments.get("warmup_from", "one") == "one":
            return peak * (k + 1) / (warmup + 1)
        return peak * k / warmup
    duration = max(1, total - warmup)
    if name == "warmup_linear":
        return peak * max(0.0, 1 - (k - warmup) / duration)
    low = arguments.get("min_ratio", 0.0) * peak
    return low + (peak - low) * 0.5 * (1 + math.cos(math.pi * min(k - warmup, duration) / duration))


@pytest.mark.parametrize("name, arguments, steps", CASES)
def test_reference_matches_formula(name, arguments, steps):
    schedule = getattr(reference, name)(**arguments)
    for k in steps:
        assert schedule(k) == pytest.approx(direct(name, arguments, k), rel=1e-12, abs=1e-15)
    vectorised = schedule(np.asarray(steps))
    np.testing.assert_allclose(vectorised, [direct(name, arguments, k) for k in steps], rtol=1e-12)


def test_boundaries_of_warmup_cosine():
    schedule = reference.warmup_cosine(peak=1.0, warmup=10, total=110, min_ratio=0.2)
    assert schedule(0) == pytest.approx(1 / 11)  # the first update never runs at lr 0
    assert schedule(9) == pytest.approx(10 / 11)
    assert reference.warmup_cosine(peak=1.0, warmup=10, total=110, warmup_from="zero")(0) == 0.0  # unless asked
    assert schedule(10) == pytest.approx(1.0)  # peak exactly at the end of warmup
    assert schedule(60) == pytest.approx(0.6)  # half way: (1 + 0.2) / 2
    assert schedule(110) == pytest.approx(0.2)  # floor at total
    assert schedule(10_000) == pytest.approx(0.2)  # and after it


@pytest.mark.parametrize("name, arguments, steps", CASES)
def test_backend_matches_reference(backend, name, arguments, steps):
    schedule = getattr(backend.module("schedules"), name)(**arguments)
    expected = getattr(reference, name)(**arguments)
    for k in steps:
        value = float(np.asarray(backend.numpy(schedule(k)) if backend.name != "torch" else schedule(k)))
        # float32 on jax and mlx: one rounding of a value of order lr
        assert value == pytest.approx(float(expected(k)), rel=2e-6, abs=1e-12), (name, k)


def test_nanogpt_warmup_known_values():
    """nanoGPT's get_lr (train.py) for its char configuration: learning_rate 1e-3, warmup_iters
    100, lr_decay_iters 5000, min_lr 1e-4, written out with math; the same numbers on every
    backend through test_backend_matches_reference's binding of the one composite."""

    def get_lr(it, learning_rate=1e-3, warmup_iters=100, lr_decay_iters=5000, min_lr=1e-4):
        if it < warmup_iters:
            return learning_rate * (it + 1) / (warmup_iters + 1)
        if it > lr_decay_iters:
            return min_lr
        decay_ratio = (it - warmup_iters) / (lr_decay_iters - warmup_iters)
        return min_lr + 0.5 * (1.0 + math.cos(math.pi * decay_ratio)) * (learning_rate - min_lr)

    schedule = reference.warmup_cosine(peak=1e-3, warmup=100, total=5000, min_ratio=0.1)
    for it in (0, 1, 50, 99, 100, 101, 2550, 4999, 5000, 6000):
        assert schedule(it) == pytest.approx(get_lr(it), rel=1e-12), it
    assert schedule(0) == pytest.approx(1e-3 / 101)


@pytest.mark.parametrize("backend_name", ["jax", "torch", "mlx"])
def test_the_first_update_is_not_at_lr_zero_on_any_backend(backend_name):
    module = __import__(f"specc.runtime.{backend_name}.schedules", fromlist=["warmup_cosine"])
    first = module.warmup_cosine(peak=1e-3, warmup=100, total=5000)(0)
    assert float(np.asarray(first)) == pytest.approx(1e-3 / 101, rel=1e-6)
    zero = module.warmup_linear(peak=1e-3, warmup=100, total=5000, warmup_from="zero")(0)
    assert float(np.asarray(zero)) == 0.0


def test_jax_schedule_on_traced_counter_in_optax():
    import jax
    import jax.numpy as jnp
    import optax

    from specc.runtime.jax import schedules

    schedule = schedules.warmup_cosine(peak=1e-2, warmup=3, total=10, min_ratio=0.1)
    traced = jax.jit(jax.vmap(schedule))(jnp.arange(12, dtype=jnp.int32))
    expected = reference.warmup_cosine(1e-2, 3, 10, 0.1)(np.arange(12))
    np.testing.assert_allclose(np.asarray(traced), expected, rtol=2e-6)
    # plain SGD on a parameter with gradient 1: each update moves it by exactly lr(k)
    optimizer = optax.sgd(learning_rate=schedule)
    parameter = jnp.zeros(())
    state = optimizer.init(parameter)
    moves = []
    for _ in range(12):
        update, state = optimizer.update(jnp.ones(()), state, parameter)
        moves.append(-float(update))
    np.testing.assert_allclose(moves, expected, rtol=2e-6)


def test_mlx_schedule_in_mlx_optimizer():
    import mlx.core as mx
    import mlx.optimizers as optimizers

    from specc.runtime.mlx import schedules

    schedule = schedules.step(initial=0.1, step_size=2, gamma=0.5)
    optimizer = optimizers.SGD(learning_rate=schedule)
    parameters = {"w": mx.zeros((1,))}
    used = []
    for _ in range(6):
        before = np.array(parameters["w"])[0]
        parameters = optimizer.apply_gradients({"w": mx.ones((1,))}, parameters)
        used.append(before - np.array(parameters["w"])[0])
    np.testing.assert_allclose(used, reference.step(0.1, 2, 0.5)(np.arange(6)), rtol=1e-6)


def test_torch_lambda_lr_uses_schedule_per_update():
    import torch

    from specc.runtime.torch import schedules

    schedule = schedules.warmup_linear(peak=1e-3, warmup=2, total=6)
    parameter = torch.nn.Parameter(torch.zeros(()))
    optimizer = torch.optim.SGD([parameter], lr=1e-3)
    scheduler = schedules.lambda_lr(optimizer, schedule, base_lr=1e-3)
    used = []
    for _ in range(8):
        used.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    np.testing.assert_allclose(used, reference.warmup_linear(1e-3, 2, 6)(np.arange(8)), rtol=1e-12)


def test_torch_lambda_lr_rejects_mismatched_base_lr():
    import torch

    from specc.runtime.torch import schedules

    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(()))], lr=1e-3)
    with pytest.raises(ValueError, match="base_lr = 0.01 but an optimizer parameter group has lr = 0.001"):
        schedules.lambda_lr(optimizer, schedules.constant(1e-2), base_lr=1e-2)


@pytest.mark.parametrize(
    "name, arguments, message",
    [
        (
            "warmup_cosine",
            {"peak": 1e-3, "warmup": -1, "total": 10},
            "warmup_cosine: warmup must be non-negative, got -1",
        ),
        (
            "warmup_linear",
            {"peak": 1e-3, "warmup": 1, "total": 0},
            "warmup_linear: total must be positive, got 0",
        ),
        ("step", {"initial": 1.0, "step_size": 0}, "step: step_size must be positive, got 0"),
        (
            "exponential",
            {"initial": 1.0, "decay_rate": 0.0},
            "exponential: decay_rate must be positive, got 0.0",
        ),
    ],
)
def test_bad_arguments_same_message_everywhere(backend, name, arguments, message):
    for module in (reference, backend.module("schedules")):
        with pytest.raises(ValueError) as error:
            getattr(module, name)(**arguments)
        assert str(error.value) == message
