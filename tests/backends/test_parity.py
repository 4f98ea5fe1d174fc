"""The same spec on jax, lightning and mlx: identical initial parameters, per-step training
losses within 1e-4 (max pairwise relative difference) over the first 20 steps in fp32, and a
checkpoint of each backend loads in the others with the same evaluation loss."""

from __future__ import annotations

import itertools
import subprocess
import sys

import numpy as np
import pytest

from specc.compiler import ir
from specc.runtime import init, training
from tests.backends import fixtures
from tests.backends.runner import run_script, write_script
from tests.backends.test_emit import BACKENDS

pytestmark = [pytest.mark.slow, pytest.mark.skipif(len(BACKENDS) < 3, reason="needs the three backends' templates")]

STEPS = 20
TOLERANCE = 1e-4
STATE_MODULES = {"jax": "specc.runtime.jax.state", "lightning": "specc.runtime.torch.state", "mlx": "specc.runtime.mlx.state"}


def parity_program(name):
    checkpoint = ir.CheckpointPlan(every=None, keep=1, monitor=None, mode="min")
    if name == "digits_mlp":
        return fixtures.program(name, max_steps=STEPS, max_epochs=None, log_every=1, eval_every=STEPS, checkpoint=checkpoint)
    return fixtures.program(name, max_steps=STEPS, log_every=1, eval_every=STEPS, checkpoint=checkpoint, grad_clip=None)


def run_all(scripts: dict, arguments: dict, timeout: float = 400) -> dict:
    """Run one script per backend concurrently; fail with the output of any that fails."""
    processes = {
        backend: subprocess.Popen([sys.executable, str(script), *map(str, arguments[backend])], cwd=str(script.parent),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for backend, script in scripts.items()
    }
    results = {}
    for backend, process in processes.items():
        out, err = process.communicate(timeout=timeout)
        assert process.returncode == 0, f"{backend} failed:\n{out[-2000:]}\n{err[-4000:]}"
        results[backend] = (out, err)
    return results


def train_losses(run_dir) -> dict[int, float]:
    return {row["step"]: row["value"] for row in training.read_metrics(run_dir / "metrics.csv")
            if row["split"] == "train" and row["name"] == "loss"}


def worst_relative_difference(series: dict) -> tuple[float, str]:
    worst, where = 0.0, ""
    for (first, a), (second, b) in itertools.combinations(series.items(), 2):
        for step in a:
            difference = abs(a[step] - b[step]) / max(abs(a[step]), abs(b[step]), 1e-12)
            if difference > worst:
                worst, where = difference, f"{first} vs {second} at step {step}"
    return worst, where


@pytest.fixture(scope="module", params=["digits_mlp", "ksin_flow"])
def parity_runs(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(request.param)
    program = parity_program(request.param)
    scripts = {backend: write_script(program, backend, folder) for backend in BACKENDS}
    run_all(scripts, {backend: ["--out-dir", folder / f"run_{backend}"] for backend in BACKENDS})
    return request.param, program, scripts, folder


def test_initial_parameters_are_identical(parity_runs):
    name, program, scripts, _ = parity_runs
    import importlib

    reference = None
    for backend, script in scripts.items():
        namespace = {"__name__": f"parity_{backend}", "__file__": str(script)}
        exec(compile(script.read_text(), str(script), "exec"), namespace)  # defines, does not run main
        arrays = importlib.import_module(STATE_MODULES[backend]).state_dict(namespace["build_model"](program.train.seed))
        reference = reference or init.initialize(namespace["PARAMETERS"], program.train.seed)
        assert sorted(arrays) == sorted(reference), backend
        for parameter, array in arrays.items():
            np.testing.assert_array_equal(np.asarray(array), reference[parameter], err_msg=f"{backend}: {parameter}")


def test_training_losses_agree(parity_runs):
    name, _, _, folder = parity_runs
    series = {backend: train_losses(folder / f"run_{backend}") for backend in BACKENDS}
    for backend, losses in series.items():
        assert sorted(losses) == list(range(1, STEPS + 1)), backend
    worst, where = worst_relative_difference(series)
    print(f"\n{name}: worst pairwise relative difference of training losses over {STEPS} steps: {worst:.3e} ({where})")
    assert worst <= TOLERANCE, f"{worst:.3e} at {where}"


PAIRS = [(source, reader) for source in BACKENDS for reader in BACKENDS if source != reader]


@pytest.mark.parametrize("source, reader", PAIRS)
def test_checkpoint_loads_in_another_backend(parity_runs, source, reader):
    name, _, scripts, folder = parity_runs
    written = folder / f"run_{source}" / "checkpoints" / "last"
    out_dir = folder / f"eval_{source}_in_{reader}"
    result = run_script(scripts[reader], "--out-dir", out_dir, "--eval-only", "--resume", written, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    evaluated = next(row["value"] for row in training.read_metrics(out_dir / "metrics.csv") if row["split"] == "val" and row["name"] == "loss")
    original = [row["value"] for row in training.read_metrics(folder / f"run_{source}" / "metrics.csv")
                if row["split"] == "val" and row["name"] == "loss"][-1]
    difference = abs(evaluated - original) / abs(original)
    print(f"\n{source} checkpoint evaluated by {reader}: val loss {evaluated!r} vs {original!r} (relative {difference:.2e})")
    assert difference <= TOLERANCE
