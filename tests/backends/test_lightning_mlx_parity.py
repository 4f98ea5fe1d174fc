"""Same numbers: the digits classifier (no dropout) and the ksin flow model, compiled for
Lightning, MLX and JAX in fp32, start from the same weights and draw the same batches, so
their per-step training losses over the first 20 steps agree to 1e-4 (maximum pairwise
relative difference). Measured on this machine: digits 1.1e-6, ksin 2.4e-7."""

from __future__ import annotations

import importlib.util
import itertools

import pytest

from specc.compiler.emit import render as emit
from specc.compiler.backends import get_backend
from specc.runtime.training import read_metrics
from tests.backends import fixtures
from tests.backends.runner import run_script, write_script

STEPS = 20
TOLERANCE = 1e-4
FRAMEWORKS = {"lightning": "lightning", "mlx": "mlx", "jax": "flax"}


def available(backend: str) -> bool:
    template = emit.template_root() / get_backend(backend).template
    return template.is_file() and importlib.util.find_spec(FRAMEWORKS[backend]) is not None


BACKENDS = [backend for backend in ("lightning", "mlx", "jax") if available(backend)]


ENVIRONMENT = {"OMP_NUM_THREADS": "1"}


def program(name: str):
    overrides = {"max_steps": STEPS, "eval_every": STEPS, "log_every": 1, "precision": "fp32"}
    if name == "digits_mlp":
        overrides["max_epochs"] = None
    return fixtures.program(name, **overrides)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("parity")


def per_step_losses(name: str, backend: str, folder) -> dict[int, float]:
    """Run once per (spec, backend) in the module's folder; the train losses by step."""
    run_dir = folder / f"run_{name}_{backend}"
    if not (run_dir / "metrics.csv").is_file():
        script = write_script(program(name), backend, folder)
        run_script(script, "--out-dir", run_dir, check=True, env=ENVIRONMENT)
    rows = read_metrics(run_dir / "metrics.csv")
    return {row["step"]: row["value"] for row in rows if row["split"] == "train" and row["name"] == "loss"}


@pytest.mark.parametrize("name", ["digits_mlp", "ksin_flow"])
def test_per_step_losses_agree_across_backends(name, folder):
    assert {"lightning", "mlx"} <= set(BACKENDS)
    losses = {backend: per_step_losses(name, backend, folder) for backend in BACKENDS}
    for backend, values in losses.items():
        assert sorted(values) == list(range(1, STEPS + 1)), backend
    worst = 0.0
    for first, second in itertools.combinations(BACKENDS, 2):
        for step in range(1, STEPS + 1):
            a, b = losses[first][step], losses[second][step]
            worst = max(worst, abs(a - b) / max(abs(a), abs(b)))
    assert worst < TOLERANCE, f"{name}: worst pairwise relative difference {worst:.3g} over {BACKENDS}"


def test_a_checkpoint_of_one_backend_evaluates_the_same_in_the_other(folder):
    """Portability: Lightning evaluates MLX's checkpoint and MLX Lightning's (``--eval-only``)."""
    for backend in ("lightning", "mlx"):
        per_step_losses("digits_mlp", backend, folder)
    for backend, other in (("lightning", "mlx"), ("mlx", "lightning")):
        script = folder / f"train_digits_mlp_{backend}.py"
        run_dir = folder / f"run_digits_mlp_{other}"
        run_script(script, "--out-dir", run_dir, "--eval-only", check=True, env=ENVIRONMENT)
        rows = read_metrics(run_dir / "metrics.csv")
        losses = [row["value"] for row in rows if (row["step"], row["split"], row["name"]) == (STEPS, "val", "loss")]
        assert len(losses) == 2, losses  # the run's own evaluation, then the other backend's
        assert losses[1] == pytest.approx(losses[0], rel=1e-5)
        assert any(row["split"] == "test" and row["step"] == STEPS for row in rows)
