"""``train.parallel``: ``replicated`` (the default) on every backend; ``sharded`` (parameters
and optimizer state split along the data axis) on JAX's main template only, refused with a
positioned E0801 elsewhere (docs/distributed.md)."""

from __future__ import annotations

import pytest

from specc.compiler.emit import render as emit
from specc.dsl.diagnostics import render_text
from tests.specs.helpers import check

FEATURE = "sharded parameters and optimizer state (train.parallel = sharded)"


@pytest.mark.parametrize("backend", ["lightning", "mlx"])
def test_sharded_state_is_refused_where_it_is_not_built(backend):
    result = check("digits_mlp", ["train.parallel=sharded"], backend)
    [diagnostic] = result.errors
    assert render_text(diagnostic, result.sources).splitlines()[0] == (
        f"--set:1:16: error[E0801]: {FEATURE} is not implemented by backend `{backend}` yet"
    )


def test_sharded_state_is_refused_for_the_adversarial_objective_on_jax():
    result = check("audio_vae_gan", ["train.parallel=sharded"], "jax")
    [diagnostic] = result.errors
    assert render_text(diagnostic, result.sources).splitlines()[0] == (
        f"--set:1:16: error[E0801]: {FEATURE} with objective `adversarial` is not implemented by backend `jax` yet"
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
