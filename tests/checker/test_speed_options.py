"""`train.compile` (torch.compile) and `train.tf32` (TF32 on GPUs): PyTorch's speed switches.

Lightning renders both; JAX and MLX compile every step already and choose their matmul
precision themselves, so a spec asking them for torch.compile, or to switch TF32 off, is
refused at the value (E0801, from each backend's table), by `specc lint` and `specc compile`
alike. The generator loop (adversarial, vae) does not compile its models yet: refused there.
"""

from __future__ import annotations

import pytest
from specc.compiler.emit.render import render

from tests.checker.helpers import ADVERSARIAL, DIGITS, codes, edit, rendered, run

COMPILED = edit(DIGITS, "max_steps = 20", "max_steps = 20\n  compile = true")
FULL_FP32 = edit(DIGITS, "max_steps = 20", "max_steps = 20\n  tf32 = false")


def test_defaults_are_no_compile_and_tf32_on():
    train = run(DIGITS, backend="lightning").program.train
    assert (train.compile, train.tf32) == (False, True)


def test_lightning_renders_both():
    plain = render(run(DIGITS, backend="lightning").program, "lightning")
    compiled = render(run(COMPILED, backend="lightning").program, "lightning")
    full = render(run(FULL_FP32, backend="lightning").program, "lightning")
    assert "objective.model.compile()" not in plain
    assert "    objective.model.compile()  # train.compile: torch.compile of the model's forward" in compiled
    assert "    torch_training.prepare_process(accelerator)  # threads, TF32, framework noise" in plain
    assert "    torch_training.prepare_process(accelerator, tf32=False)  # train.tf32 = false" in full


@pytest.mark.parametrize(
    ("backend", "why"),
    [("jax", "every JAX step is jitted already"), ("mlx", "every MLX step is compiled already")],
)
def test_compile_is_refused_where_every_step_is_compiled(backend, why):
    result = run(COMPILED, backend=backend)
    assert result.program is None
    expected = (
        f"spec.mf:21:13: error[E0801]: train.compile = true (torch.compile; {why}) is not implemented by "
        f"backend `{backend}` yet\n"
        "   |\n"
        "21 |   compile = true\n"
        "   |             ^^^^"
    )
    assert rendered(result) == [expected]


@pytest.mark.parametrize(
    ("backend", "why"),
    [("jax", "a PyTorch switch; XLA picks the GPU matmul precision"), ("mlx", "a PyTorch switch; Metal has no TF32")],
)
def test_tf32_off_is_refused_on_jax_and_mlx(backend, why):
    result = run(FULL_FP32, backend=backend)
    assert codes(result) == ["E0801"]
    assert rendered(result)[0].startswith(
        f"spec.mf:21:10: error[E0801]: train.tf32 = false ({why}) is not implemented by backend `{backend}` yet\n"
    )


def test_tf32_on_and_no_compile_are_accepted_everywhere():
    stated = edit(DIGITS, "max_steps = 20", "max_steps = 20\n  compile = false\n  tf32 = true")
    for backend in ("jax", "lightning", "mlx"):
        assert rendered(run(stated, backend=backend)) == []


def test_compile_is_refused_in_the_generator_loop():
    spec = edit(ADVERSARIAL, "max_steps = 10", "max_steps = 10\n  compile = true")
    result = run(spec, backend="lightning")
    assert codes(result) == ["E0801"]
    assert "error[E0801]: train.compile = true (torch.compile) with objective `adversarial` is not implemented by backend `lightning` yet" in rendered(result)[0]


UNPINNED = edit(DIGITS, "batch_size = 16", "batch_size = 16\n  pin_memory = false")


@pytest.mark.parametrize(
    ("backend", "why"),
    [("jax", "JAX copies each batch from numpy itself"), ("mlx", "MLX's unified memory has no copy to pin for")],
)
def test_pin_memory_off_is_refused_where_nothing_is_pinned(backend, why):
    result = run(UNPINNED, backend=backend)
    assert result.program is None
    expected = (
        f"spec.mf:6:16: error[E0801]: data.pin_memory = false (a PyTorch DataLoader switch; {why}) is not "
        f"implemented by backend `{backend}` yet\n"
        "  |\n"
        "6 |   pin_memory = false\n"
        "  |                ^^^^^"
    )
    assert rendered(result) == [expected]


def test_pin_memory_off_reaches_the_lightning_loader():
    result = run(UNPINNED, backend="lightning")
    assert rendered(result) == []
    script = render(result.program, "lightning")
    assert '    "pin_memory": False,  # spec.mf:6' in script  # data_arguments -> loader_options
    assert "pin_memory" not in render(run(DIGITS, backend="lightning").program, "lightning")  # on: the default
