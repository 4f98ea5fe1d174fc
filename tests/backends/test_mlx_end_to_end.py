"""End to end on MLX: compile the digits classifier and the ksin flow model
with small sizes, run the scripts in a subprocess, and check the run directory, the loss,
bitwise resume, and the refusal of a run directory in use."""

from __future__ import annotations

import numpy as np
import pytest
from safetensors.numpy import load_file

from specc.compiler import ir
from specc.runtime.training import read_metrics
from tests.backends import fixtures
from tests.backends.runner import run_script as run_in_subprocess
from tests.backends.runner import write_script

pytest.importorskip("mlx.core")

BACKEND = "mlx"
STEPS = 16
# One intra-op thread: on a loaded 2-core machine torch's default thread pool spins and
# runs tiny models ~20x slower.
ENVIRONMENT = {"OMP_NUM_THREADS": "1"}


# what lowering fills in when a spec does not set train.callbacks (the fixtures set none)
DEFAULT_CALLBACKS = (
    ir.Component("progress_bar", (("refresh_rate", 10),)),
    ir.Component("lr_monitor", (("interval", "step"),)),
    ir.Component("grad_norm_monitor", ()),
)


def run_script(script, *arguments, check=False):
    return run_in_subprocess(script, *arguments, check=check, env=ENVIRONMENT)


def digits(**overrides):
    plan = dict(
        max_epochs=None, max_steps=STEPS, eval_every=8, log_every=4,
        checkpoint=ir.CheckpointPlan(every=8, keep=2, monitor="val/loss", mode="min"),
        callbacks=DEFAULT_CALLBACKS,
    )
    plan.update(overrides)
    return fixtures.program("digits_mlp", **plan)


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """One uninterrupted digits run of STEPS steps."""
    folder = tmp_path_factory.mktemp("mlx_straight")
    script = write_script(digits(), BACKEND, folder)
    run_script(script, "--out-dir", folder / "run", check=True)
    return script, folder / "run"


def final_weights(run_dir):
    return load_file(str(run_dir / "checkpoints" / "last" / "model.safetensors"))


def train_values(run_dir, name):
    return [row["value"] for row in read_metrics(run_dir / "metrics.csv") if row["split"] == "train" and row["name"] == name]


def test_digits_writes_metrics_and_checkpoints_and_loss_falls(straight):
    _, run_dir = straight
    rows = read_metrics(run_dir / "metrics.csv")
    steps = sorted({row["step"] for row in rows if row["split"] == "train" and row["name"] == "loss"})
    assert steps == [4, 8, 12, 16]
    names = {(row["split"], row["name"]) for row in rows}
    assert {("train", "loss"), ("train", "grad_norm"), ("train", "lr"), ("train", "steps_per_s")} <= names
    assert {("val", "loss"), ("val", "accuracy")} <= names
    assert sorted(row["step"] for row in rows if (row["split"], row["name"]) == ("val", "loss")) == [8, 16]
    losses = train_values(run_dir, "loss")
    assert losses[-1] < losses[0]
    assert all(value == pytest.approx(1e-3) for value in train_values(run_dir, "lr"))
    last = (run_dir / "checkpoints" / "last").resolve()
    assert last.name == f"step-{STEPS:06d}"
    for file_name in ("model.safetensors", "optimizer.safetensors", "manifest.json"):
        assert (last / file_name).is_file()
    weights = final_weights(run_dir)
    assert set(weights) == {name for name, _ in fixtures.program("digits_mlp").models[0].parameters}
    assert weights["linear_0.weight"].shape == (128, 64)  # canonical (PyTorch) layout
    for file_name in ("spec.resolved.mf", "train.py", "packages.json"):
        assert (run_dir / file_name).is_file()


def test_resume_matches_the_straight_run(straight, tmp_path):
    script, straight_dir = straight
    run_dir = tmp_path / "run"
    run_script(script, "--out-dir", run_dir, "--max-steps", STEPS // 2 - 1, check=True)
    assert (run_dir / "checkpoints" / "last").resolve().name == f"step-{STEPS // 2 - 1:06d}"
    run_script(script, "--out-dir", run_dir, "--resume", "auto", check=True)
    expected, resumed = final_weights(straight_dir), final_weights(run_dir)
    for name, value in expected.items():
        np.testing.assert_array_equal(resumed[name], value)  # bitwise
    straight_rows = {(row["step"], row["split"], row["name"]): row["value"] for row in read_metrics(straight_dir / "metrics.csv")}
    resumed_rows = {(row["step"], row["split"], row["name"]): row["value"] for row in read_metrics(run_dir / "metrics.csv")}
    # train rows from the first full logging window after the resumed step, val rows from 8
    compared = [key for key in straight_rows if key[0] >= (12 if key[1] == "train" else 8) and key[2] != "steps_per_s"]
    assert compared
    for key in compared:
        assert resumed_rows[key] == straight_rows[key], key


def test_a_run_directory_in_use_is_refused(straight):
    script, run_dir = straight
    result = run_script(script, "--out-dir", run_dir)
    assert result.returncode != 0
    assert "already holds checkpoints" in result.stderr


def test_fp16_and_bf16_are_mlx_precisions():
    from specc.compiler.backends import get_backend

    assert get_backend(BACKEND).supports("precision", "fp16")  # with a loss scale: test_fp16_loss_scaling.py
    assert get_backend(BACKEND).supports("precision", "bf16")


def test_ksin_flow_logs_mse_and_sample_metrics(tmp_path):
    program = fixtures.program("ksin_flow", max_steps=6, eval_every=6, log_every=3, callbacks=DEFAULT_CALLBACKS)
    script = write_script(program, BACKEND, tmp_path)
    run_script(script, "--out-dir", tmp_path / "run", check=True)
    rows = read_metrics(tmp_path / "run" / "metrics.csv")
    names = {(row["split"], row["name"]) for row in rows}
    assert {("train", "loss"), ("train", "mse"), ("val", "loss"), ("val", "mse")} <= names
    assert {("val", "log_spectral_distance"), ("val", "chamfer"), ("val", "linear_assignment")} <= names
    assert all(np.isfinite(row["value"]) for row in rows)
    weights = final_weights(tmp_path / "run")
    assert "null_condition" in weights and weights["null_condition"].shape == (32,)


def test_a_non_finite_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path):
    """SGD with lr = 1e6 blows the weights up: step 3's loss is the first that is not finite."""
    import dataclasses

    program = digits(checkpoint=ir.CheckpointPlan(every=2, keep=1, monitor=None, mode="min"))
    optimizer = ir.OptimizerPlan("", fixtures.optimizer("sgd", lr=1e6), ("classifier",), ir.Component("constant", ()))
    script = write_script(dataclasses.replace(program, optimizers=(optimizer,)), BACKEND, tmp_path)
    result = run_script(script, "--out-dir", tmp_path / "run")
    assert result.returncode != 0
    assert "not finite at step 3" in result.stderr
    assert (tmp_path / "run" / "checkpoints" / "last").resolve().name == "step-000002"


# ----------------------------------------------------------------------------- callbacks


def rows_named(run_dir, name):
    return [row for row in read_metrics(run_dir / "metrics.csv") if row["name"] == name]


def test_without_monitors_no_lr_and_no_grad_norm_are_logged(tmp_path):
    """callbacks = [progress_bar(refresh_rate = 5)]: no ``lr`` rows, no ``grad_norm`` (not
    even computed: the script never asks for it)."""
    program = digits(max_steps=8, callbacks=(ir.Component("progress_bar", (("refresh_rate", 5),)),))
    script = write_script(program, BACKEND, tmp_path)
    text = script.read_text(encoding="utf-8")
    assert "grad_norm=False" in text and "step % 5 == 0" in text and '"lr"' not in text
    run_script(script, "--out-dir", tmp_path / "run", check=True)
    assert rows_named(tmp_path / "run", "loss")
    assert not rows_named(tmp_path / "run", "lr") and not rows_named(tmp_path / "run", "grad_norm")


def test_lr_monitor_per_epoch_logs_lr_once_an_epoch(tmp_path):
    """lr_monitor(interval = epoch): one ``lr`` row at the end of each epoch (regression:
    256 rows in batches of 32 are 8 steps an epoch), none with the other train rows."""
    program = fixtures.regression_program(
        max_steps=None, max_epochs=3, log_every=2, eval_every=8,
        callbacks=(ir.Component("lr_monitor", (("interval", "epoch"),)),),
    )
    script = write_script(program, BACKEND, tmp_path)
    run_script(script, "--out-dir", tmp_path / "run", check=True)
    lr = rows_named(tmp_path / "run", "lr")
    assert [row["step"] for row in lr] == [8, 16, 24]
    assert all(row["split"] == "train" and row["value"] == pytest.approx(0.05) for row in lr)
    assert len(rows_named(tmp_path / "run", "loss")) > len(lr)
    assert not rows_named(tmp_path / "run", "grad_norm")


# ----------------------------------------------------------------------------- cross-entropy arguments


def first_step_loss_by_hand(script, arguments: dict) -> float:
    """The first training step's loss recomputed with the runtime's ``cross_entropy``, from
    the script's own initial weights and first batch."""
    import importlib.util

    from specc.runtime.mlx import losses

    spec = importlib.util.spec_from_file_location("generated_digits", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    train_loader, _ = module.make_loaders(0)
    batch = next(train_loader.forever())
    model = module.build_model(0)
    import mlx.core as mx

    logits = model(mx.array(batch["x"]))
    return float(losses.cross_entropy(logits, mx.array(batch["y"]), **arguments).item())


@pytest.mark.parametrize("arguments", [{"ignore_index": 3}, {"label_smoothing": 0.1}], ids=lambda item: next(iter(item)))
def test_cross_entropy_arguments_reach_the_loss(arguments, tmp_path):
    """``loss = cross_entropy(ignore_index = 3)`` / ``cross_entropy(label_smoothing = 0.1)``:
    the generated call carries the argument and step 1's logged loss is the runtime's
    cross_entropy with it (and differs from the plain one)."""
    import dataclasses

    program = digits(max_steps=1, log_every=1, eval_every=1, checkpoint=ir.CheckpointPlan(every=None, keep=1, monitor=None, mode="min"))
    term = ir.LossTerm(1.0, ir.Component("cross_entropy", tuple(arguments.items())))
    program = dataclasses.replace(program, objective=dataclasses.replace(program.objective, terms=(term,)))
    script = write_script(program, BACKEND, tmp_path)
    name, value = next(iter(arguments.items()))
    assert f"losses.cross_entropy(output, batch[\"y\"], {name}={value})" in script.read_text(encoding="utf-8")
    run_script(script, "--out-dir", tmp_path / "run", check=True)
    logged = train_values(tmp_path / "run", "loss")[0]
    assert logged == pytest.approx(first_step_loss_by_hand(script, arguments), rel=1e-6)
    assert logged != pytest.approx(first_step_loss_by_hand(script, {}), rel=1e-4)
