"""``train { metrics = [accuracy] }`` (seed 002's ``compute_loss`` returning the accuracy beside
the loss): the metrics are computed in the loss function on every batch, so they are summed
with the loss over the steps between two log rows and logged as ``train/<name>``, and each
evaluation, which calls the same loss function (MLX lists them in its own), logs them as
``val/<name>`` — once, whether or not ``eval.metrics`` names them too.

E0550 refuses, at the entry, what a training batch cannot compute. The three backends log the
same values.
"""

from __future__ import annotations

import pytest
from specc.compiler import pipeline
from specc.compiler.emit import render as emit
from specc.dsl.diagnostics import render_text
from specc.runtime import training

from tests.backends.test_spec_parity import run_backends_together, worst_relative_difference
from tests.checker.helpers import DIGITS, FLOW

BACKENDS = ("jax", "lightning", "mlx")

CLASSIFICATION = DIGITS.replace("  max_steps = 20\n", "  max_steps = 20\n  log_every = 1\n  metrics = [accuracy]\n")

REGRESSION = """\
spec regression_small

data synthetic_regression {
  num_features = 8
  num_outputs = 2
  sizes = [64, 16, 16]
  batch_size = 8
}

model net(x: f32[B, 8]) -> f32[B, 2] {
  return linear(relu(linear(x, 16)), 2)
}

objective regression { target = data.y }

optimizer adam { lr = 1e-3 }

train {
  max_steps = 12
  log_every = 3
  eval_every = 6
  metrics = [mae]
}
"""


def check(text: str, overrides=()):
    return pipeline.check("spec.mf", lambda path: text.encode("utf-8"), tuple(overrides))


def first_lines(text: str) -> list[str]:
    result = check(text)
    return [render_text(diagnostic, result.sources).splitlines()[0] for diagnostic in result.diagnostics]


# ----------------------------------------------------------------------------- diagnostics


def test_a_metric_the_objective_cannot_compute_is_refused_at_the_entry():
    text = CLASSIFICATION.replace("metrics = [accuracy]\n", "metrics = [accuracy, mse]\n", 1)
    result = check(text)
    assert [render_text(diagnostic, result.sources) for diagnostic in result.diagnostics] == [
        "spec.mf:22:24: error[E0550]: metric `mse` needs a regression objective, not `classification`\n"
        "   |\n"
        "22 |   metrics = [accuracy, mse]\n"
        "   |                        ^^^\n"
        "help: training metrics of a classification objective: accuracy"
    ]


def test_what_a_training_batch_cannot_compute_is_refused():
    flow = FLOW.replace("  max_steps = 20\n", "  max_steps = 20\n  metrics = [mse]\n")
    assert first_lines(flow) == [
        "spec.mf:27:14: error[E0550]: training metrics are computed from the model's output and the target, which "
        "objective `flow_matching` does not have"
    ]
    samples = REGRESSION.replace("metrics = [mae]", "metrics = [chamfer(params_per_token = 2)]")
    assert first_lines(samples) == [
        "spec.mf:22:14: error[E0550]: metric `chamfer` compares generated samples: it is an evaluation metric, not a "
        "training batch's"
    ]
    twice = REGRESSION.replace("metrics = [mae]", "metrics = [mae, mae]")
    assert first_lines(twice) == ["spec.mf:22:19: error[E0550]: metric `mae` is listed twice"]
    written = REGRESSION.replace("metrics = [mae]", 'metrics = [graph("rmse")]')
    assert first_lines(written) == [
        "spec.mf:22:14: error[E0550]: `train.metrics` takes the built-in metrics; a metric written in the spec is "
        "an evaluation metric"
    ]


def test_a_training_metric_is_a_validation_value_to_monitor():
    text = CLASSIFICATION.replace("eval {\n  metrics = [accuracy]\n}\n", "")
    assert check(text).diagnostics == []  # checkpoint monitor = "val/accuracy": logged by train.metrics


# ----------------------------------------------------------------------------- the scripts


def test_the_loss_function_returns_the_metrics_and_the_evaluation_does_not_repeat_them():
    program = check(CLASSIFICATION).program
    jax = emit.render(program, "jax")
    assert '    values["accuracy"] = metrics.accuracy(logits, batch["y"])  # train.metrics\n' in jax
    assert jax.count("metrics.accuracy(") == 1  # eval.metrics' accuracy comes from loss_fn
    lightning = emit.render(program, "lightning")
    assert '        values["accuracy"] = metrics.accuracy(logits, batch["y"])  # train.metrics\n' in lightning
    assert lightning.count("metrics.accuracy(") == 1
    mlx = emit.render(program, "mlx")
    assert '    values["accuracy"] = metrics.accuracy(output, batch["y"])  # train.metrics\n' in mlx
    assert mlx.count("metrics.accuracy(") == 2  # its evaluation computes its values itself


def rows(run_dir) -> dict:
    return {(row["step"], row["split"], row["name"]): row["value"] for row in training.read_metrics(run_dir / "metrics.csv")}


@pytest.mark.slow
@pytest.mark.parametrize("spec", ["classification", "regression"])
def test_every_backend_logs_the_same_training_metrics(spec, tmp_path):
    text = CLASSIFICATION if spec == "classification" else REGRESSION
    program = check(text, ("train.precision=fp32",)).program
    run_backends_together({backend: emit.render(program, backend) for backend in BACKENDS}, tmp_path)
    found = {backend: rows(tmp_path / f"run_{backend}") for backend in BACKENDS}
    name, steps = ("accuracy", range(1, 21)) if spec == "classification" else ("mae", (3, 6, 9, 12))
    evaluations = (10, 20) if spec == "classification" else (6, 12)
    for backend, values in found.items():
        assert [step for step in steps if (step, "train", name) in values] == list(steps), backend
        assert [step for step in evaluations if (step, "val", name) in values] == list(evaluations), backend
    if spec == "classification":  # one batch of 16 a row: a count of right answers over 16
        for step in steps:
            assert (found["jax"][(step, "train", name)] * 16) == pytest.approx(round(found["jax"][(step, "train", name)] * 16))
    series = {backend: {key: value for key, value in values.items() if key[2] == name} for backend, values in found.items()}
    worst, where = worst_relative_difference(series)
    assert worst <= 1e-4, f"{worst:.3e} at {where}"
