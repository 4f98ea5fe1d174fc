"""A generative objective's sampler serves the metrics that compare generated samples: on a
flow, ``mae`` is one of them (the generated samples against the data, on every backend; it
used to crash the JAX emitter and to mean different things per backend), it needs a sampler
(E0511), and a sampler without any such metric has no effect (E0551)."""

from __future__ import annotations

import pytest
from specc.compiler import pipeline
from specc.compiler.emit import render as emit
from specc.dsl.diagnostics import render_text
from specc.runtime import training

from tests.backends.test_spec_parity import run_backends_together, worst_relative_difference
from tests.checker.helpers import FLOW

BACKENDS = ("jax", "lightning", "mlx")
MAE = FLOW.replace("metrics = [chamfer(params_per_token = 2)]", "metrics = [mae]")


def first_lines(text: str) -> list[str]:
    result = pipeline.check("spec.mf", lambda path: text.encode("utf-8"))
    return [render_text(diagnostic, result.sources).splitlines()[0] for diagnostic in result.diagnostics]


def test_a_flow_mae_needs_the_sampler():
    assert first_lines(MAE.replace("  sampler = euler(steps = 4)\n", "")) == [
        "spec.mf:31:14: error[E0511]: metric `mae` compares generated samples: set `sampler` in `eval`"
    ]


@pytest.mark.parametrize("metrics", ["[]", "[mse]"])
def test_a_sampler_no_metric_uses_is_refused(metrics):
    text = FLOW.replace("metrics = [chamfer(params_per_token = 2)]", f"metrics = {metrics}")
    assert first_lines(text) == [
        "spec.mf:31:13: error[E0551]: `sampler` has no effect: no metric in `eval.metrics` compares generated samples"
    ]
    both = text.replace("  sampler = euler(steps = 4)\n", "  sampler = euler(steps = 4)\n  test_sampler = rk4(steps = 4)\n")
    assert [line.split(": error")[1] for line in first_lines(both)] == [
        "[E0551]: `sampler` has no effect: no metric in `eval.metrics` compares generated samples",
        "[E0551]: `test_sampler` has no effect: no metric in `eval.metrics` compares generated samples",
    ]


def test_every_backend_computes_a_flow_mae_on_the_samples():
    program = pipeline.check("spec.mf", lambda path: MAE.encode("utf-8")).program
    for backend in BACKENDS:
        script = emit.render(program, backend)
        assert script.count("metrics.mae(samples, ") == 1, backend


@pytest.mark.slow
def test_a_flow_mae_agrees_across_backends(tmp_path):
    program = pipeline.check("spec.mf", lambda path: MAE.encode("utf-8"), ("train.precision=fp32",)).program
    run_backends_together({backend: emit.render(program, backend) for backend in BACKENDS}, tmp_path)
    series = {}
    for backend in BACKENDS:
        rows = training.read_metrics(tmp_path / f"run_{backend}" / "metrics.csv")
        series[backend] = {row["step"]: row["value"] for row in rows if row["split"] == "val" and row["name"] == "mae"}
        assert sorted(series[backend]) == [10, 20], backend
    worst, where = worst_relative_difference(series)
    assert worst <= 1e-4, f"{worst:.3e} at {where}"
