"""End to end on PyTorch Lightning: compile the digits classifier and the ksin flow model
with small sizes, run the scripts in a subprocess, and check the run directory, the loss,
exact resume, and the refusals (a run directory in use); fp16 on the CPU:
test_fp16_loss_scaling.py."""

from __future__ import annotations

import numpy as np
import pytest
from safetensors.numpy import load_file

from specc.compiler import ir
from specc.runtime.training import read_metrics
from tests.backends import fixtures
from tests.backends.runner import run_script as run_in_subprocess
from tests.backends.runner import write_script

pytest.importorskip("lightning")

BACKEND = "lightning"
STEPS = 16
# One intra-op thread: on a loaded 2-core machine torch's default thread pool spins and
# runs tiny models ~20x slower.
ENVIRONMENT = {"OMP_NUM_THREADS": "1"}


def run_script(script, *arguments, check=False):
    return run_in_subprocess(script, *arguments, check=check, env=ENVIRONMENT)


def digits(**overrides):
    plan = dict(
        max_epochs=None, max_steps=STEPS, eval_every=8, log_every=4,
        checkpoint=ir.CheckpointPlan(every=8, keep=2, monitor="val/loss", mode="min"),
    )
    plan.update(overrides)
    return fixtures.program("digits_mlp", **plan)


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """One uninterrupted digits run of STEPS steps."""
    folder = tmp_path_factory.mktemp("lightning_straight")
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
        np.testing.assert_allclose(resumed[name], value, rtol=0, atol=1e-6)
    straight_rows = {(row["step"], row["split"], row["name"]): row["value"] for row in read_metrics(straight_dir / "metrics.csv")}
    resumed_rows = {(row["step"], row["split"], row["name"]): row["value"] for row in read_metrics(run_dir / "metrics.csv")}
    # train rows from the first full logging window after the resumed step, val rows from 8
    compared = [key for key in straight_rows if key[0] >= (12 if key[1] == "train" else 8) and key[2] != "steps_per_s"]
    assert compared
    for key in compared:
        assert resumed_rows[key] == pytest.approx(straight_rows[key], rel=1e-6), key


def test_a_run_directory_in_use_is_refused(straight):
    script, run_dir = straight
    result = run_script(script, "--out-dir", run_dir)
    assert result.returncode != 0
    assert "already holds checkpoints" in result.stderr


def test_ksin_flow_logs_mse_and_sample_metrics(tmp_path):
    program = fixtures.program("ksin_flow", max_steps=6, eval_every=6, log_every=3)
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


# ----------------------------------------------------------------------------- train.callbacks and the loss


def compile_digits(folder, *overrides):
    """``folder/train.py``: digits_mlp for Lightning with ``overrides`` (``--set``)."""
    from specc.compiler.emit import render
    from tests.specs.helpers import check_ok

    program = check_ok("digits_mlp", overrides, BACKEND)
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "train.py"
    script.write_text(render.render(program, BACKEND), encoding="utf-8")
    return script


SHORT = ("train.max_steps=8", "train.log_every=4", "train.eval_every=8", "train.checkpoint.every=8")


def test_a_progress_bar_alone_logs_no_lr_and_no_grad_norm(tmp_path):
    """``callbacks = [progress_bar(refresh_rate = 5)]``: no ``lr`` rows, and the gradient norm
    is not even computed; the bar refreshes every 5 steps."""
    script = compile_digits(tmp_path, *SHORT, "train.callbacks=[progress_bar(refresh_rate = 5)]")
    text = script.read_text()
    assert "ProgressDisplay(5)" in text and "gradient_norm" not in text
    run_script(script, "--out-dir", tmp_path / "run", check=True)
    names = {row["name"] for row in read_metrics(tmp_path / "run" / "metrics.csv") if row["split"] == "train"}
    assert names == {"loss", "steps_per_s"}


def test_lr_monitor_by_epoch_logs_lr_once_per_epoch(tmp_path):
    """``callbacks = [lr_monitor(interval = epoch)]``: one ``lr`` row at the last step of each
    epoch (digits: 19 steps of 64 rows an epoch), none with the other train rows; no bar."""
    overrides = ("train.max_steps=40", "train.log_every=4", "train.eval_every=40", "train.checkpoint.every=40")
    script = compile_digits(tmp_path, *overrides, "train.callbacks=[lr_monitor(interval = epoch)]")
    assert "ProgressDisplay" not in script.read_text()
    run_script(script, "--out-dir", tmp_path / "run", check=True)
    rows = read_metrics(tmp_path / "run" / "metrics.csv")
    lr_rows = [row for row in rows if (row["split"], row["name"]) == ("train", "lr")]
    assert [row["step"] for row in lr_rows] == [19, 38]
    assert all(row["value"] == pytest.approx(1e-3) for row in lr_rows)
    assert not any(row["name"] == "grad_norm" for row in rows)
    assert sorted(row["step"] for row in rows if (row["split"], row["name"]) == ("train", "loss")) == list(range(4, 41, 4))


def first_step_loss(script, tmp_path, **arguments):
    """The logged loss of step 1 and the runtime's cross-entropy of the first batch under the
    script's initial weights with ``arguments`` (computed here, in process)."""
    import importlib.util

    import torch

    from specc.runtime.torch import losses

    run_script(script, "--out-dir", tmp_path / "run", "--max-steps", 1, check=True)
    logged = next(
        row["value"] for row in read_metrics(tmp_path / "run" / "metrics.csv") if (row["split"], row["name"]) == ("train", "loss")
    )
    spec = importlib.util.spec_from_file_location("digits_script", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    batch = module.make_loaders(0)["train"].batch(0, 0)
    with torch.no_grad():
        logits = module.build_model(0)(torch.from_numpy(batch["x"]))
        expected = losses.cross_entropy(logits, torch.from_numpy(batch["y"]), **arguments)
        plain = losses.cross_entropy(logits, torch.from_numpy(batch["y"]))
    return logged, float(expected), float(plain)


def test_cross_entropy_ignore_index_is_honoured(tmp_path):
    """``loss = cross_entropy(ignore_index = 3)``: rows labelled 3 leave the loss (and the
    accuracy); step 1's loss is the runtime's masked cross-entropy, not the plain one."""
    script = compile_digits(tmp_path, *SHORT, "objective.loss=cross_entropy(ignore_index = 3)")
    assert 'losses.cross_entropy(logits, batch["y"], ignore_index=ignore_index)' in script.read_text()
    logged, expected, plain = first_step_loss(script, tmp_path, ignore_index=3)
    assert expected != pytest.approx(plain, rel=1e-4)
    assert logged == pytest.approx(expected, rel=1e-6)


def test_cross_entropy_label_smoothing_reaches_the_loss(tmp_path):
    """``loss = cross_entropy(label_smoothing = 0.1)``: step 1's loss is the smoothed one."""
    script = compile_digits(tmp_path, *SHORT, "objective.loss=cross_entropy(label_smoothing = 0.1)")
    assert "label_smoothing=label_smoothing" in script.read_text()
    logged, expected, plain = first_step_loss(script, tmp_path, label_smoothing=0.1)
    assert expected != pytest.approx(plain, rel=1e-4)
    assert logged == pytest.approx(expected, rel=1e-6)


# ----------------------------------------------------------------------------- the device and pinned batches


def test_without_device_the_script_takes_the_cuda_gpu_torch_finds():
    from specc.runtime.torch.training import accelerator_for

    assert accelerator_for(None, cuda_available=True) == "gpu"
    assert accelerator_for(None, cuda_available=False) == "cpu"
    assert accelerator_for("cpu", cuda_available=True) == "cpu"
    assert accelerator_for("cuda:1") == "gpu"


def test_batches_are_pinned_only_with_a_cuda_gpu_and_pin_memory_on():
    from specc.runtime import data
    from specc.runtime.torch.lightning_data import pinned

    source = data.make_source("digits")
    default, off = data.Loader(source, "train", 8, 0), data.Loader(source, "train", 8, 0, pin_memory=False)
    assert [pinned(default, True), pinned(default, False), pinned(off, True)] == [True, False, False]
