"""The mean-flow objectives (`mean_flow`, `improved_mean_flow`) and the `one_step` sampler on
every backend, through specs/meanflow_audio.mf (seed 000) shrunk with `--set`.

The objective's component cannot be changed by `--set`, so each variant is the spec's text
with its objective section edited in place (as tests/specs/test_compile.py does for
flow_matching), written next to the run. End-to-end runs train a few steps on jax, lightning
and mlx in parallel subprocesses (fp32, OMP_NUM_THREADS=1) and compare the per-step losses.
"""

from __future__ import annotations

import functools
import itertools
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from specc.compiler import pipeline
from specc.compiler.emit import render as emit
from specc.runtime import training

REPOSITORY = Path(__file__).resolve().parents[2]
BACKENDS = ("jax", "lightning", "mlx")
TOLERANCE = 1e-4
SMALL = (
    "window=48", "mdct_window=8", "patch_length=4", "latent_dimension=8", "condition_dimension=4",
    "mlp_blocks=2", "conv_channels=8", "conv_blocks=2", "data.batch_size=4", "data.sizes=[32, 8, 8]",
    "train.log_every=1", "train.precision=fp32",
)
OBJECTIVE_KEYS_OF_IMPROVED = ("  path = linear(noise_min = 0.001, noise_max = 0.999)\n", "  weighted = true\n")


def spec_text(objective: str) -> str:
    """specs/meanflow_audio.mf with its objective section's component set to ``objective``
    (``mean_flow`` has no ``path`` nor ``weighted`` key: both lines are removed)."""
    text = (REPOSITORY / "specs" / "meanflow_audio.mf").read_text(encoding="utf-8")
    assert "objective improved_mean_flow {" in text
    text = text.replace("objective improved_mean_flow {", f"objective {objective} {{")
    if objective != "improved_mean_flow":
        for line in OBJECTIVE_KEYS_OF_IMPROVED:
            assert line in text
            text = text.replace(line, "")
    return text


@functools.lru_cache(maxsize=None)
def meanflow_program(objective: str, overrides=()):
    """The checked program of the edited spec, written to a temporary folder (``std/``
    imports resolve to the package's); cached: the checks of one module share programs."""
    with tempfile.TemporaryDirectory(prefix="specc-meanflow-") as directory:
        path = Path(directory) / f"meanflow_{objective}.mf"
        path.write_text(spec_text(objective), encoding="utf-8")
        result = pipeline.check(str(path), lambda name: Path(name).read_bytes(), tuple(SMALL) + tuple(overrides))
    assert result.program is not None, [f"{d.code} {d.message}" for d in result.diagnostics]
    return result.program


def run_backends(program, directory: Path) -> dict[str, list[dict]]:
    """Train ``program`` on every backend at once; the rows of each run's metrics.csv."""
    environment = dict(os.environ, JAX_PLATFORMS="cpu", OMP_NUM_THREADS="1")
    environment.setdefault("JAX_COMPILATION_CACHE_DIR", str(Path(directory).parent / "specc-jax-cache"))
    processes = {}
    for backend in BACKENDS:
        script = directory / f"train_{backend}.py"
        script.write_text(emit.render(program, backend), encoding="utf-8")
        processes[backend] = subprocess.Popen(
            [sys.executable, str(script), "--out-dir", str(directory / f"run_{backend}")],
            cwd=str(directory), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment,
        )
    for backend, process in processes.items():
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, f"{backend} failed:\n{out[-2000:]}\n{err[-4000:]}"
    return {backend: training.read_metrics(directory / f"run_{backend}" / "metrics.csv") for backend in BACKENDS}


def values(rows, split: str, name: str) -> dict[int, float]:
    return {row["step"]: row["value"] for row in rows if row["split"] == split and row["name"] == name}


def worst_difference(series: dict[str, dict[int, float]]) -> tuple[float, str]:
    """The largest absolute per-step difference between two backends, and where."""
    worst, where = 0.0, ""
    for (first, a), (second, b) in itertools.combinations(series.items(), 2):
        assert a.keys() == b.keys(), f"{first} logged steps {sorted(a)}, {second} logged {sorted(b)}"
        for step in a:
            if abs(a[step] - b[step]) > worst:
                worst, where = abs(a[step] - b[step]), f"{first} vs {second} at step {step}"
    return worst, where


# ----------------------------------------------------------------------------- end to end

RUNS = {
    # objective, architecture, steps, extra overrides
    "mean_flow-mlp": ("mean_flow", "mlp", 5, ()),
    # one_step sampling exercised through a metric on samples (12 tokens of 4 values)
    "improved_mean_flow-conv": ("improved_mean_flow", "conv", 3, ("eval.metrics=[chamfer(params_per_token = 4)]",)),
}


@pytest.mark.slow
@pytest.mark.parametrize("run", sorted(RUNS))
def test_mean_flow_objectives_train_and_agree_across_backends(run, tmp_path):
    objective, architecture, steps, extra = RUNS[run]
    overrides = (f'architecture="{architecture}"', f"train.max_steps={steps}", f"train.eval_every={steps}") + extra
    program = meanflow_program(objective, overrides)
    assert program.objective.kind == objective and program.evaluation.sampler.kind == "one_step"
    runs = run_backends(program, tmp_path)
    for backend, rows in runs.items():
        for name in ("loss", "mse", "grad_norm"):
            assert sorted(values(rows, "train", name)) == list(range(1, steps + 1)), (backend, name)
        validation = {row["name"] for row in rows if row["split"] == "val"}
        expected = {"loss", "mse"} | ({"chamfer"} if extra else set())
        assert expected <= validation, (backend, validation)
    report = []
    for split, name in [("train", "loss"), ("train", "mse"), ("val", "loss")] + ([("val", "chamfer")] if extra else []):
        worst, where = worst_difference({backend: values(rows, split, name) for backend, rows in runs.items()})
        report.append(f"{split}/{name} {worst:.2e}")
        assert worst <= TOLERANCE, f"{run}: {split}/{name} differs by {worst:.3e} ({where})"
    print(f"\n{run}: worst cross-backend differences: {', '.join(report)}")


# ----------------------------------------------------------------------------- rendering


@pytest.mark.parametrize("backend", BACKENDS)
def test_mean_flow_scripts_feed_h_and_call_the_runtime_losses(backend, tmp_path):
    # mlx, lightning: a model without condition inputs is called without a conditions argument
    end = ")" if backend in ("mlx", "lightning", "jax") else ", conditions)"
    improved = emit.render(meanflow_program("improved_mean_flow"), backend)
    assert "losses.improved_mean_flow_loss(" in improved and 'batch["r"]' in improved
    assert "flows.mean_flow_sample(velocity" in improved
    assert f"t - r{end}" in improved  # one_step: u(x_1, t = 1, r = 0) with h = t - r
    assert f"h{end}" in improved and "t * 0" not in improved
    plain = emit.render(meanflow_program("mean_flow"), backend)
    if backend == "jax":  # defaults inline in the direct call, one argument a line
        assert "losses.mean_flow_loss(" in plain and "gamma=0.5," in plain and "c=0.001," in plain
    elif backend == "mlx":  # defaults are written inline in the direct call
        assert "losses.mean_flow_loss(" in plain and "gamma=0.5, c=0.001" in plain
    else:
        assert "losses.mean_flow_loss(" in plain and "gamma=gamma," in plain and "c=weight_constant" in plain
        assert "gamma = 0.5" in plain and "weight_constant = 0.001" in plain


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_integrator_samples_a_mean_flow_model_with_h_zero(backend, tmp_path):
    program = meanflow_program("mean_flow", ("eval.sampler=euler(steps = 2)",))
    script = emit.render(program, backend)
    assert "flows.integrate(velocity" in script and "mean_flow_sample" not in script
    end = ")" if backend in ("mlx", "lightning", "jax") else ", conditions)"  # no conditions argument without conditions
    assert f"t * 0{end}" in script  # the instantaneous velocity: h = 0


def test_mean_flow_objectives_need_the_mean_flow_time_sampler(tmp_path):
    """The checker refuses another time sampler with a positioned diagnostic (E0712), so the
    renderer's own guard (EmitError) is never reached from a spec."""
    path = tmp_path / "meanflow.mf"
    path.write_text(spec_text("improved_mean_flow"), encoding="utf-8")
    overrides = tuple(SMALL) + ("objective.time=logit_normal(mean = 0.0)",)
    result = pipeline.check(str(path), lambda name: Path(name).read_bytes(), overrides)
    assert result.program is None
    assert [(d.code, d.span.file) for d in result.diagnostics] == [("E0712", "--set")]
    assert "got `logit_normal`" in result.diagnostics[0].message


def test_flow_matching_scripts_are_unchanged_by_the_mean_flow_branches(tmp_path):
    """flow_matching keeps h = 0 and its own loss; one_step on it is one Euler step."""
    program = meanflow_program("flow_matching", ("eval.sampler=one_step",))
    script = emit.render(program, "jax")
    assert "losses.flow_matching_loss(" in script and "def call_model(model, x_t, t):" in script
    assert "return model(x_t, t, t * 0)" in script  # h = 0: flow matching trains the instantaneous velocity
    assert "lambda x_t, t, r: call_model(model, x_t, t)" in script
