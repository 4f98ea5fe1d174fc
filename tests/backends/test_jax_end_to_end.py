"""End to end on JAX: compile, run the script in a subprocess, read what it wrote."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from safetensors.numpy import load_file

from specc.compiler import ir
from specc.runtime import training
from tests.backends import fixtures
from tests.backends.runner import REPOSITORY, compile_spec, run_script, write_script

pytestmark = pytest.mark.slow

DIGITS_OVERRIDES = (
    "train.max_steps=60", "train.log_every=10", "train.eval_every=30", "train.checkpoint.every=30",
)


# lowering's default train.callbacks (the hand-built fixtures have none: no lr, no grad_norm)
DEFAULT_CALLBACKS = (
    ir.Component("progress_bar", (("refresh_rate", 10),)),
    ir.Component("lr_monitor", (("interval", "step"),)),
    ir.Component("grad_norm_monitor", ()),
)


def digits_program():
    """The real digits spec when the pipeline compiles it, the hand-built IR otherwise."""
    program = compile_spec("specs/digits_mlp.mf", DIGITS_OVERRIDES)
    if program is None:
        program = fixtures.program("digits_mlp", max_steps=60, log_every=10, eval_every=30, max_epochs=None)
    return program


def small_ksin(**overrides):
    plan = dict(max_steps=30, log_every=5, eval_every=15, checkpoint=ir.CheckpointPlan(every=15, keep=2, monitor="val/loss", mode="min"))
    plan.update(overrides)
    return fixtures.program("ksin_flow", **plan)


def rows(run_dir, split=None, name=None):
    found = training.read_metrics(run_dir / "metrics.csv")
    return [row for row in found if (split is None or row["split"] == split) and (name is None or row["name"] == name)]


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("digits")
    script = write_script(digits_program(), "jax", folder)
    result = run_script(script, "--out-dir", folder / "run", check=True)
    return script, folder / "run", result


def test_digits_trains_and_writes_the_run(digits_run):
    script, run_dir, _ = digits_run
    assert (run_dir / "metrics.csv").read_text().startswith("step,epoch,split,name,value,time\n")
    losses = [row["value"] for row in rows(run_dir, "train", "loss")]
    assert len(losses) == 6 and losses[-1] < 0.7 * losses[0]
    assert {row["name"] for row in rows(run_dir, "train")} == {"loss", "lr", "grad_norm", "steps_per_s"}
    assert [row["step"] for row in rows(run_dir, "val", "accuracy")] == [30, 60]
    checkpoint = training.read_checkpoint(run_dir / "checkpoints" / "last")
    assert checkpoint.step == 60 and checkpoint.manifest["backend"] == "jax"
    assert checkpoint.manifest["data"]["epoch"] >= 1 and "val/accuracy" in checkpoint.manifest["metrics"]
    assert (run_dir / "spec.resolved.mf").is_file() and (run_dir / "train.py").read_text() == script.read_text()


def test_existing_run_is_refused_and_eval_only_evaluates(digits_run):
    script, run_dir, _ = digits_run
    refused = run_script(script, "--out-dir", run_dir)
    assert refused.returncode != 0 and "already holds checkpoints" in refused.stderr
    before = len(rows(run_dir))
    evaluated = run_script(script, "--out-dir", run_dir, "--eval-only", check=True)
    assert evaluated.returncode == 0
    new = training.read_metrics(run_dir / "metrics.csv")[before:]
    assert {row["split"] for row in new} == {"val", "test"} and all(row["step"] == 60 for row in new)


def test_ksin_flow_logs_mse_and_sample_metrics(tmp_path):
    script = write_script(small_ksin(max_steps=10, eval_every=10), "jax", tmp_path)
    run_script(script, "--out-dir", tmp_path / "run", check=True)
    names = {(row["split"], row["name"]) for row in rows(tmp_path / "run")}
    for expected in [("train", "loss"), ("train", "mse"), ("val", "loss"), ("val", "mse"), ("val", "chamfer"),
                     ("val", "linear_assignment"), ("val", "log_spectral_distance")]:
        assert expected in names
    arrays = load_file(str(tmp_path / "run" / "checkpoints" / "last" / "model.safetensors"))
    assert "null_condition" in arrays and arrays["null_condition"].shape == (32,)
    assert "repeat_0.1.linear_2.weight" in arrays


def test_resume_is_bitwise_identical(tmp_path):
    script = write_script(small_ksin(), "jax", tmp_path)
    run_script(script, "--out-dir", tmp_path / "straight", check=True)
    run_script(script, "--out-dir", tmp_path / "split", "--max-steps", "15", check=True)
    run_script(script, "--out-dir", tmp_path / "split", "--resume", "auto", check=True)
    for file_name in ("model.safetensors", "optimizer.safetensors"):
        straight = load_file(str(tmp_path / "straight" / "checkpoints" / "last" / file_name))
        resumed = load_file(str(tmp_path / "split" / "checkpoints" / "last" / file_name))
        assert sorted(straight) == sorted(resumed)
        for name in straight:
            np.testing.assert_array_equal(straight[name], resumed[name], err_msg=name)
    straight_rows = [(row["step"], row["name"], row["value"]) for row in rows(tmp_path / "straight", "train") if row["name"] != "steps_per_s"]
    resumed_rows = [(row["step"], row["name"], row["value"]) for row in rows(tmp_path / "split", "train") if row["name"] != "steps_per_s"]
    assert straight_rows == resumed_rows


def last_step(run_dir) -> int:
    """The step ``last`` points at (-1 while there is none)."""
    link = run_dir / "checkpoints" / "last"
    try:
        return int(os.readlink(link).removeprefix("step-"))
    except (OSError, ValueError):
        return -1


def test_killed_run_leaves_last_loadable_and_resumes(tmp_path):
    program = fixtures.program(
        "digits_mlp", max_steps=100000, max_epochs=None, log_every=1, eval_every=None,
        checkpoint=ir.CheckpointPlan(every=1, keep=1, monitor=None, mode="min"),
    )
    script = write_script(program, "jax", tmp_path)
    run_dir = tmp_path / "run"
    process = subprocess.Popen([sys.executable, str(script), "--out-dir", str(run_dir)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and last_step(run_dir) < 30:
            time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    last = training.latest_checkpoint(run_dir)
    assert last is not None
    checkpoint = training.read_checkpoint(last)
    assert checkpoint.step >= 30
    resumed = run_script(script, "--out-dir", run_dir, "--resume", "auto", "--max-steps", str(checkpoint.step + 3), check=True)
    assert resumed.returncode == 0
    assert training.read_checkpoint(run_dir / "checkpoints" / "last").step == checkpoint.step + 3


def test_sigterm_saves_and_exits(tmp_path):
    program = fixtures.program("digits_mlp", max_steps=100000, max_epochs=None, log_every=5, eval_every=None)
    script = write_script(program, "jax", tmp_path)
    run_dir = tmp_path / "run"
    process = subprocess.Popen([sys.executable, str(script), "--out-dir", str(run_dir)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and not ((run_dir / "metrics.csv").exists() and len((run_dir / "metrics.csv").read_text().splitlines()) > 5):
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0
    checkpoint = training.read_checkpoint(run_dir / "checkpoints" / "last")
    assert 5 <= checkpoint.step < 100000


def test_nan_loss_stops_naming_the_step_and_keeps_last_good_checkpoint(tmp_path):
    program = fixtures.regression_program(
        log_every=1, eval_every=None, checkpoint=ir.CheckpointPlan(every=1, keep=1, monitor=None, mode="min")
    )
    diverging = ir.OptimizerPlan("", fixtures.optimizer("sgd", lr=1e4), ("regressor",), None)
    script = write_script(dataclasses.replace(program, optimizers=(diverging,)), "jax", tmp_path)
    result = run_script(script, "--out-dir", tmp_path / "run")
    assert result.returncode != 0
    assert "the loss is not finite at step 6" in result.stderr
    assert training.read_checkpoint(tmp_path / "run" / "checkpoints" / "last").step == 5


def test_nan_loss_inside_a_log_window_is_named_by_its_step(tmp_path):
    """The step carries the window's finite-step count, not a step number: a loss that turns
    non-finite between two log lines is still named by its own step."""
    program = fixtures.regression_program(
        log_every=4, eval_every=None, checkpoint=ir.CheckpointPlan(every=1, keep=1, monitor=None, mode="min")
    )
    diverging = ir.OptimizerPlan("", fixtures.optimizer("sgd", lr=1e4), ("regressor",), None)
    script = write_script(dataclasses.replace(program, optimizers=(diverging,)), "jax", tmp_path)
    result = run_script(script, "--out-dir", tmp_path / "run")
    assert result.returncode != 0
    assert "the loss is not finite at step 6" in result.stderr
    assert training.read_checkpoint(tmp_path / "run" / "checkpoints" / "last").step == 5


def test_max_steps_zero_saves_the_initial_weights(digits_run, tmp_path):
    """``--max-steps 0`` writes the initial weights (the save before the loop once read a
    flag that was assigned after it)."""
    script, _, _ = digits_run
    result = run_script(script, "--out-dir", tmp_path / "run", "--max-steps", "0")
    assert result.returncode == 0, result.stderr
    assert training.read_checkpoint(tmp_path / "run" / "checkpoints" / "last").step == 0


def test_npz_with_wrong_shapes_stops_before_step_one(tmp_path):
    data = tmp_path / "data.npz"
    generator = np.random.default_rng(0)
    np.savez(data, x=generator.standard_normal((100, 5)).astype(np.float32), y=generator.standard_normal((100, 1)).astype(np.float32))
    program = fixtures.regression_program(source=ir.Component("npz", (("path", str(data)),)))
    script = write_script(program, "jax", tmp_path)
    result = run_script(script, "--out-dir", tmp_path / "run")
    assert result.returncode != 0
    assert "[5]" in result.stderr and "[4]" in result.stderr and "'x'" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "run" / "metrics.csv").exists()


def test_training_features_run_together(tmp_path):
    """EMA, accumulation, clipping by value, freezing, bf16, warmup schedule, sgd nesterov."""
    program = fixtures.program(
        "digits_mlp", max_steps=8, max_epochs=None, log_every=4, eval_every=8, ema=0.9, accumulate=2,
        grad_clip=0.5, grad_clip_mode="value", freeze=("linear_0",), precision="bf16", callbacks=DEFAULT_CALLBACKS,
    )
    optimizer = ir.OptimizerPlan(
        "", fixtures.optimizer("sgd", lr=0.05, momentum=0.9, nesterov=True), ("classifier",),
        ir.Component("warmup_linear", (("warmup", 2),)),
    )
    script = write_script(dataclasses.replace(program, optimizers=(optimizer,)), "jax", tmp_path)
    run_script(script, "--out-dir", tmp_path / "run", check=True)
    checkpoint = training.read_checkpoint(tmp_path / "run" / "checkpoints" / "last")
    from specc.runtime import init

    namespace = {"__name__": "features"}
    exec(compile(script.read_text(), str(script), "exec"), namespace)  # defines PARAMETERS only
    initial = init.initialize(namespace["PARAMETERS"], 0)
    np.testing.assert_array_equal(checkpoint.model["linear_0.weight"], initial["linear_0.weight"])
    assert not np.array_equal(checkpoint.model["linear_2.weight"], initial["linear_2.weight"])
    assert any(name.startswith("params.") for name in checkpoint.optimizer)  # raw weights beside the EMA
    lrs = [row["value"] for row in rows(tmp_path / "run", "train", "lr")]
    # warmup_linear(peak 0.05, warmup 2, total 8) at updates k = 3 and k = 7
    assert lrs == [pytest.approx(0.05 * (1 - (3 - 2) / 6)), pytest.approx(0.05 * (1 - (7 - 2) / 6))]


KSIN_OVERRIDES = (
    "k=2", "data.sizes=[128, 64, 64]", "data.batch_size=32", "train.max_steps=4", "train.precision=fp32",
    "train.eval_every=4", "train.log_every=2", "eval.sampler=euler(steps = 2, cfg_scale = 2.0)",
    "train.checkpoint.every=4", "schedule.warmup=2",
)


def test_real_ksin_spec_with_reduced_settings_runs(tmp_path):
    program = compile_spec("specs/ksin_flow.mf", KSIN_OVERRIDES)
    if program is None:
        pytest.fail("specs/ksin_flow.mf does not compile with the reduced --set")
    script = write_script(program, "jax", tmp_path)
    run_script(script, "--out-dir", tmp_path / "run", check=True)
    names = {row["name"] for row in rows(tmp_path / "run", "val")}
    assert {"loss", "mse", "chamfer", "linear_assignment", "log_spectral_distance"} <= names
    assert training.read_checkpoint(tmp_path / "run" / "checkpoints" / "last").step == 4


def test_early_stopping_stops_after_patience_evaluations(tmp_path):
    program = fixtures.regression_program(
        max_steps=40, eval_every=5, log_every=5,
        early_stopping=ir.EarlyStoppingPlan(monitor="val/loss", patience=1, mode="min", min_delta=100.0),
    )
    script = write_script(program, "jax", tmp_path)
    run_script(script, "--out-dir", tmp_path / "run", check=True)
    assert [row["step"] for row in rows(tmp_path / "run", "val", "loss")] == [5, 10]
    checkpoint = training.read_checkpoint(tmp_path / "run" / "checkpoints" / "last")
    assert checkpoint.step == 10 and checkpoint.manifest["early_stopping"]["waited"] == 1


# ----------------------------------------------------------------------------- callbacks

# digits in batches of 256: ~1258 training rows are 4 steps an epoch
DIGITS_TINY = ("data.batch_size=256", "train.log_every=1", "train.checkpoint.every=none", "train.eval_every=2")


def test_progress_bar_alone_logs_no_lr_and_computes_no_grad_norm(tmp_path):
    overrides = DIGITS_TINY + ("train.max_steps=6", "train.callbacks=[progress_bar(refresh_rate = 5)]")
    script = write_script(compile_spec("specs/digits_mlp.mf", overrides), "jax", tmp_path)
    assert "global_norm" not in script.read_text() and "ProgressBar" in script.read_text()
    run_script(script, "--out-dir", tmp_path / "run", check=True)
    names = {row["name"] for row in rows(tmp_path / "run", "train")}
    assert names == {"loss", "steps_per_s"}


def test_lr_monitor_by_epoch_logs_lr_once_per_epoch(tmp_path):
    overrides = DIGITS_TINY + (
        "train.max_steps=none", "train.max_epochs=2", "train.callbacks=[lr_monitor(interval = epoch)]",
    )
    script = write_script(compile_spec("specs/digits_mlp.mf", overrides), "jax", tmp_path)
    assert "ProgressBar" not in script.read_text()
    run_script(script, "--out-dir", tmp_path / "run", check=True)
    assert [row["step"] for row in rows(tmp_path / "run", "train", "loss")] == list(range(1, 9))
    lrs = rows(tmp_path / "run", "train", "lr")
    assert [row["step"] for row in lrs] == [4, 8] and all(row["value"] == 1e-3 for row in lrs)
    assert not rows(tmp_path / "run", "train", "grad_norm")


# ----------------------------------------------------------------------------- cross_entropy arguments


def first_step_loss_by_hand(script, **arguments):
    """The runtime's cross_entropy of the initial model on the first training batch."""
    from specc.runtime.jax import losses

    namespace = {"__name__": "by_hand"}
    exec(compile(script.read_text(), str(script), "exec"), namespace)
    train_loader, _ = namespace["make_loaders"](0)
    batch = next(train_loader.forever())
    logits = namespace["build_model"](0)(batch["x"])
    return float(losses.cross_entropy(logits, batch["y"], **arguments))


@pytest.mark.parametrize(
    "arguments", [{"ignore_index": 3}, {"label_smoothing": 0.1}], ids=["ignore_index", "label_smoothing"]
)
def test_cross_entropy_arguments_reach_the_loss(tmp_path, arguments):
    written = ", ".join(f"{name} = {value}" for name, value in arguments.items())
    overrides = DIGITS_TINY + ("train.max_steps=1", f"objective.loss=cross_entropy({written})")
    script = write_script(compile_spec("specs/digits_mlp.mf", overrides), "jax", tmp_path)
    call = ", ".join(f"{name}={value}" for name, value in arguments.items())
    assert f'losses.cross_entropy(logits, batch["y"], {call})' in script.read_text()
    run_script(script, "--out-dir", tmp_path / "run", check=True)
    (logged,) = [row["value"] for row in rows(tmp_path / "run", "train", "loss")]
    expected = first_step_loss_by_hand(script, **arguments)
    assert logged == pytest.approx(expected, rel=1e-6)
    assert expected != pytest.approx(first_step_loss_by_hand(script), rel=1e-4)  # the argument matters
