"""Metrics written in the spec's graph language: `eval { metrics = [graph("rmse")] }` names a
parameter-free block (prediction, target) -> f32[], built with the model's output and the
target like a graph loss, emitted as a function of the script, logged as val/<block> (the
mean over the evaluation's batches, weighted by their rows) and monitorable."""

from __future__ import annotations

import pytest

from specc.compiler.emit import render as emit
from specc.runtime import training
from tests.backends.test_spec_parity import run_backends_together, worst_relative_difference
from tests.checker.helpers import FLOW, rendered, run
from tests.checker.test_every_key_has_an_effect import _GRAPH_METRICS

MONITORED = _GRAPH_METRICS.replace("eval { metrics = [mae] }", 'eval { metrics = [graph("rmse", arguments = { scale = 2.0 }), mae] }')
MONITORED = MONITORED.replace("train {\n  max_steps = 20\n}", 'train {\n  max_steps = 20\n  eval_every = 10\n  log_every = 5\n  checkpoint { every = 10, monitor = "val/rmse" }\n}')


def test_a_graph_metric_is_monitorable_and_becomes_a_function_of_the_script():
    result = run(MONITORED)
    assert result.errors == []
    (position, graph), = result.program.evaluation.metric_graphs
    assert position == 0 and graph.name == "rmse"
    script = emit.render(result.program, "jax")
    assert "def rmse(prediction, target):" in script
    assert 'values["rmse"] = rmse(prediction, batch["y"])' in script
    assert "2.0 * layers.sqrt(" in script  # the hyperparameter, given in arguments, as a literal


def test_a_graph_metric_must_return_a_scalar():
    text = _GRAPH_METRICS.replace("eval { metrics = [mae] }", 'eval { metrics = [graph("absolute")] }') + (
        "\nblock absolute(prediction: f32[B, D], target: f32[B, D]) -> f32[B, D] {\n  return abs(prediction - target)\n}\n"
    )
    assert rendered(run(text)) == [
        "spec.mf:35:61: error[E0719]: metric `absolute` returns f32[B, 1]; a metric returns one scalar `f32[]`\n"
        "   |\n"
        "35 | block absolute(prediction: f32[B, D], target: f32[B, D]) -> f32[B, D] {\n"
        "   |                                                             ^^^^^^^^^\n"
        "help: reduce over every axis: `mean(x, axis = [0, 1])`"
    ]


def test_a_graph_metric_needs_a_classification_or_regression_objective():
    flow = FLOW.replace("metrics = [chamfer(params_per_token = 2)]", 'metrics = [graph("rmse")]') + (
        "\nblock rmse(prediction: f32[B, D], target: f32[B, D]) -> f32[] {\n"
        "  return mean(abs(prediction - target), axis = [0, 1])\n}\n"
    )
    assert rendered(run(flow)) == [
        "spec.mf:32:14: error[E0511]: metric `graph` needs a classification or regression objective, not "
        "`flow_matching`\n"
        "   |\n"
        '32 |   metrics = [graph("rmse")]\n'
        "   |              ^^^^^^^^^^^^^"
    ]


@pytest.mark.slow
def test_a_graph_metric_agrees_on_every_backend(tmp_path):
    program = run(MONITORED).program
    run_backends_together({backend: emit.render(program, backend) for backend in ("jax", "lightning", "mlx")}, tmp_path)
    values = {
        backend: {
            row["step"]: row["value"]
            for row in training.read_metrics(tmp_path / f"run_{backend}" / "metrics.csv")
            if row["split"] == "val" and row["name"] == "rmse"
        }
        for backend in ("jax", "lightning", "mlx")
    }
    assert sorted(values["jax"]) == [10, 20]
    worst, where = worst_relative_difference(values)
    assert worst < 1e-4, where
