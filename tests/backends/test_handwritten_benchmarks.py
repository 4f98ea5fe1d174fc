"""The hand-written scripts of benchmarks/steps_per_second.py still run, and the LM and conv
ones are the generated scripts' computation: from the generated model's initial weights
(``--weights``) their first losses are the generated Lightning script's (same model, same
initial weights, same batches in the same order, same optimizer). No timings are asserted."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from specc.runtime import training

from tests.backends.runner import REPOSITORY, run_script

HANDWRITTEN = REPOSITORY / "benchmarks" / "handwritten"
ENVIRONMENT = {
    **os.environ,
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "JAX_PLATFORMS": "cpu",
}
# losses compared per workload; the MLX LM compares one (each of its steps takes seconds:
# MLX's CPU matmuls)
STEPS = {"lm": 2, "conv": 3}
MLX_LM_STEPS = 1


def load_driver():
    """benchmarks/steps_per_second.py as a module (benchmarks/ is not a package)."""
    location = REPOSITORY / "benchmarks" / "steps_per_second.py"
    spec = importlib.util.spec_from_file_location("steps_per_second", location)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """conv.npz and the LM and conv initial weights, as the benchmark writes them."""
    path = tmp_path_factory.mktemp("handwritten")
    load_driver().write_inputs(["lm", "conv"], path)
    return path


@pytest.fixture(scope="module")
def generated_losses(folder) -> dict[str, list[float]]:
    """The first training losses of each workload's generated Lightning script (log_every 1)."""
    driver = load_driver()
    losses = {}
    for workload, steps in STEPS.items():
        script = driver.compile_script(workload, "lightning", steps, folder)
        out_dir = folder / f"generated_{workload}"
        result = run_script(script, "--out-dir", out_dir, env={"OMP_NUM_THREADS": "1"})
        assert result.returncode == 0, result.stderr[-2000:]
        rows = training.read_metrics(out_dir / "metrics.csv")
        losses[workload] = [
            row["value"]
            for row in rows
            if row["split"] == "train" and row["name"] == "loss"
        ]
    return losses


def run_handwritten(script: str, *arguments, env: dict | None = None) -> dict:
    """The one JSON line a hand-written script prints."""
    result = subprocess.run(
        [sys.executable, str(HANDWRITTEN / script), *map(str, arguments)],
        capture_output=True,
        text=True,
        env={**ENVIRONMENT, **(env or {})},
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize("workload", ["lm", "conv"])
@pytest.mark.parametrize("backend", ["jax", "lightning", "mlx"])
def test_handwritten_script_starts_where_the_generated_script_starts(
    folder, generated_losses, workload, backend
):
    steps = MLX_LM_STEPS if (workload, backend) == ("lm", "mlx") else STEPS[workload]
    arguments = [
        "--steps",
        steps,
        "--print-losses",
        steps,
        "--weights",
        folder / f"{workload}_weights.npz",
    ]
    if workload == "conv":
        arguments += ["--data", folder / "conv.npz"]
    report = run_handwritten(f"{workload}_{backend}.py", *arguments)
    assert len(generated_losses[workload]) == STEPS[workload]
    assert report["losses"] == pytest.approx(
        generated_losses[workload][:steps], rel=1e-4
    )
    assert report["steps_per_s"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("script", ["jax_nnx.py", "lightning_plain.py", "mlx_compiled.py"])
def test_digits_script_reports_a_rate(script):
    """The MLP's hand-written scripts run (keras_fit.py needs the bench extra, which CI does
    not install: `python benchmarks/steps_per_second.py` prints the Keras line when it can)."""
    report = run_handwritten(script, "--steps", 40)
    assert math.isfinite(report["steps_per_s"]) and report["steps_per_s"] > 0


def test_rounds_alternate_which_script_of_a_pair_runs_first():
    driver = load_driver()
    pairs = [
        driver.Measurement(workload, "jax", kind)
        for workload in ("mlp", "lm")
        for kind in ("generated", "hand-written")
    ]
    names = [[m.kind for m in driver.round_order(pairs, index)] for index in range(3)]
    assert names[0] == names[2] == ["generated", "hand-written", "generated", "hand-written"]
    assert names[1] == ["hand-written", "generated", "hand-written", "generated"]
    assert [m.workload for m in driver.round_order(pairs, 1)] == ["mlp", "mlp", "lm", "lm"]
