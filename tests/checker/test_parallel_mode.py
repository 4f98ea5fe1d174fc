"""``train.parallel``: ``replicated`` (the default) and ``sharded`` (parameters and optimizer
state split along the data axis) on every backend's main template: JAX's sharded mesh,
Lightning's fsdp, MLX's optimizer state split over the ranks; Lightning's and MLX's generator
loop (``adversarial``, ``vae``) refuses ``sharded`` with a positioned E0801 (docs/distributed.md)."""

from __future__ import annotations

import pytest

from specc.compiler.emit import render as emit
from specc.dsl.diagnostics import render_text
from tests.specs.helpers import check

FEATURE = "sharded parameters and optimizer state (train.parallel = sharded)"


@pytest.mark.parametrize("backend", ["jax", "lightning", "mlx"])
def test_sharded_state_is_accepted_by_every_backend(backend):
    assert check("digits_mlp", ["train.parallel=sharded"], backend).errors == []


@pytest.mark.parametrize("backend", ["lightning", "mlx"])
def test_sharded_state_is_refused_for_the_adversarial_objective(backend):
    result = check("audio_vae_gan", ["train.parallel=sharded"], backend)
    [diagnostic] = result.errors
    assert render_text(diagnostic, result.sources).splitlines()[0] == (
        f"--set:1:16: error[E0801]: {FEATURE} with objective `adversarial` is not implemented by backend `{backend}` yet"
    )


def test_an_unknown_mode_is_refused():
    result = check("digits_mlp", ["train.parallel=fsdp"], "jax")
    [diagnostic] = result.errors
    assert render_text(diagnostic, result.sources).splitlines()[0] == (
        "--set:1:16: error[E0406]: `parallel` must be one of replicated, sharded; found `fsdp`"
    )


def test_sharded_state_changes_the_jax_script_and_replicated_changes_nothing():
    default = emit.render(check("digits_mlp", [], "jax").program, "jax")
    replicated = emit.render(check("digits_mlp", ["train.parallel=replicated"], "jax").program, "jax")
    sharded = emit.render(check("digits_mlp", ["train.parallel=sharded"], "jax").program, "jax")
    assert "data_parallel(arguments)" in default and "sharded=True" not in replicated
    assert "jax_training.data_parallel(arguments, sharded=True)" in sharded
    assert "params = parallel.place(params)" in sharded
    for backend in ("lightning", "mlx"):
        assert check("digits_mlp", ["train.parallel=replicated"], backend).errors == []


def test_sharded_state_changes_the_lightning_and_mlx_scripts():
    for backend, line in (
        ("lightning", "**torch_training.placement(arguments, sharded=True),  # train.parallel = sharded: fsdp"),
        ("mlx", "optimizer = mlx_training.ShardedOptimizer(optimizer)  # train.parallel = sharded: state split"),
    ):
        default = emit.render(check("digits_mlp", [], backend).program, backend)
        sharded = emit.render(check("digits_mlp", ["train.parallel=sharded"], backend).program, backend)
        assert line in sharded and "sharded" not in default.replace("train.parallel", ""), backend
