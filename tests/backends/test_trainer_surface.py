"""Trainer-surface keys end to end on every backend (docs/systems.md gaps 10, 19, 20).

Each case compiles a seed spec shrunk with ``--set``, runs the generated script in a
subprocess and reads what it wrote (metrics.csv, the checkpoint folders).
"""

from __future__ import annotations

import numpy as np
import pytest

from specc.compiler.emit import render as emit
from specc.runtime import training
from tests.backends.runner import run_script
from tests.specs.helpers import check_ok

BACKENDS = ("jax", "lightning", "mlx")
ENVIRONMENT = {"OMP_NUM_THREADS": "1"}

# ksin_flow_transformer at toy sizes: 4 steps of 16 rows, 16 val and 16 test rows
KSIN_TINY = (
    "k=2",
    "signal_length=64",
    "num_layers=1",
    "d_model=16",
    "conditioning_dim=8",
    "num_heads=2",
    "d_ff=32",
    "num_tokens=4",
    "d_enc=8",
    "data.sizes=[64, 16, 16]",
    "data.batch_size=16",
    "schedule.warmup=1",
    "train.max_steps=4",
    "train.log_every=2",
    "train.precision=fp32",
    "eval.metrics=[log_spectral_distance, chamfer(params_per_token = 2)]",
)
VALIDATION_SAMPLER = "eval.sampler=euler(steps = 2, cfg_scale = 4.0)"
TEST_SAMPLER = "heun(steps = 3, cfg_scale = 2.0)"


def compile_and_run(folder, spec: str, overrides, backend: str, *arguments):
    """Render ``spec`` with ``overrides`` for ``backend`` into ``folder`` and run it."""
    program = check_ok(spec, overrides, backend)
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / f"train_{spec}_{backend}.py"
    script.write_text(emit.render(program, backend), encoding="utf-8")
    result = run_script(script, *arguments, timeout=300, env=ENVIRONMENT)
    assert result.returncode == 0, f"{script} exited {result.returncode}:\n{result.stderr[-3000:]}"
    return result


def split_values(rows, split: str) -> dict[str, float]:
    """The last logged value of every metric of ``split``."""
    return {row["name"]: row["value"] for row in rows if row["split"] == split}


@pytest.mark.parametrize("backend", BACKENDS)
def test_test_sampler_is_used_on_the_test_split_only(tmp_path, backend):
    """Gap 20: a run with ``test_sampler = heun(3, 2.0)`` scores its test split exactly as a
    run whose only sampler is that heun, and its val split differently."""
    with_test = KSIN_TINY + (VALIDATION_SAMPLER, f"eval.test_sampler={TEST_SAMPLER}")
    compile_and_run(
        tmp_path / "train", "ksin_flow_transformer", with_test, backend, "--out-dir", tmp_path / "train" / "run"
    )
    checkpoint = training.latest_checkpoint(tmp_path / "train" / "run")
    compile_and_run(
        tmp_path / "both",
        "ksin_flow_transformer",
        with_test,
        backend,
        "--out-dir",
        tmp_path / "both" / "run",
        "--eval-only",
        "--resume",
        checkpoint,
    )
    only_heun = KSIN_TINY + (f"eval.sampler={TEST_SAMPLER}", "eval.test_sampler=none")
    compile_and_run(
        tmp_path / "heun",
        "ksin_flow_transformer",
        only_heun,
        backend,
        "--out-dir",
        tmp_path / "heun" / "run",
        "--eval-only",
        "--resume",
        checkpoint,
    )
    both = training.read_metrics(tmp_path / "both" / "run" / "metrics.csv")
    heun = training.read_metrics(tmp_path / "heun" / "run" / "metrics.csv")
    test_both, test_heun = split_values(both, "test"), split_values(heun, "test")
    assert set(test_both) == {"loss", "mse", "log_spectral_distance", "chamfer"}
    for name in ("log_spectral_distance", "chamfer"):
        assert test_both[name] == pytest.approx(test_heun[name], rel=1e-5, abs=1e-7), name
    # the val split keeps the euler sampler: its sample metric differs from heun's
    validation_both, validation_heun = split_values(both, "val"), split_values(heun, "val")
    assert validation_both["log_spectral_distance"] != pytest.approx(validation_heun["log_spectral_distance"], rel=1e-3)


# digits_mlp: its ~1258 training rows in batches of 256 are 4 steps an epoch; two epochs
DIGITS_EPOCHS = (
    "data.batch_size=256",
    "train.checkpoint.every=none",
    "train.max_steps=none",
    "train.max_epochs=2",
    "train.log_every=1",
    "train.eval_every=none",
    "train.val_check_interval=0.5",
    'train.checkpoint.filename="e{epoch}-{step}-{val/loss:.3f}"',
    "train.checkpoint.every_n_epochs=1",
    "train.checkpoint.keep=5",
    "train.checkpoint.monitor=none",
    'train.early_stopping.monitor="val/loss"',
    "train.early_stopping.patience=2",
    "train.early_stopping.min_delta=1000.0",
    "train.early_stopping.verbose=true",
)


@pytest.mark.parametrize("backend", BACKENDS)
def test_epoch_intervals_checkpoint_names_and_verbose_early_stopping(tmp_path, backend):
    """Gap 10: val_check_interval = 0.5 evaluates after steps 2, 4, 6 (half epochs); the
    early stop (nothing improves by 1000) comes at the third evaluation and says why;
    every_n_epochs = 1 saves at step 4, the stop saves step 6; folders follow the pattern."""
    result = compile_and_run(tmp_path, "digits_mlp", DIGITS_EPOCHS, backend, "--out-dir", tmp_path / "run")
    rows = training.read_metrics(tmp_path / "run" / "metrics.csv")
    losses = {row["step"]: row["value"] for row in rows if row["split"] == "val" and row["name"] == "loss"}
    assert sorted(losses) == [2, 4, 6]
    message = (
        f"Monitored metric val/loss did not improve in the last 2 records. Best score: {losses[2]:.3f}. "
        "Signaling Trainer to stop."
    )
    assert message in result.stdout + result.stderr
    folders = training.list_checkpoints(tmp_path / "run")
    steps = [training.read_checkpoint(folder).step for folder in folders]
    assert steps == [4, 6]
    for folder, step, trained in zip(folders, steps, (0, 1)):
        epoch = training.read_checkpoint(folder).manifest["epoch"]
        assert epoch == 1  # the data stream is in its second epoch after steps 4 and 6
        # {epoch} is the epoch of the last batch trained, 0-indexed as in Lightning: step 4
        # ends epoch 0 (e0-4-...), step 6 is in epoch 1
        assert folder.name == f"e{trained}-{step}-{losses[step]:.3f}"
    assert training.latest_checkpoint(tmp_path / "run") == folders[-1].resolve()


DIGITS_PENALTIES = (
    "data.batch_size=256",
    "train.max_steps=2",
    "train.log_every=1",
    "train.eval_every=2",
    "train.checkpoint.every=1",
    "train.checkpoint.keep=3",
    "train.checkpoint.monitor=none",
    'train.penalties=[l2("linear_0", weight = 1e-3), l2(prefix = "mlp.linear_1.weight", weight = 0.5)]',
)


def expected_penalty(model: dict) -> float:
    """1e-3 * sum of squares of linear_0.* plus 0.5 * that of linear_1.weight (float64)."""
    first = sum(
        float(np.sum(np.square(np.float64(array)))) for name, array in model.items() if name.startswith("linear_0.")
    )
    return 1e-3 * first + 0.5 * float(np.sum(np.square(np.float64(model["linear_1.weight"]))))


@pytest.mark.parametrize("backend", BACKENDS)
def test_parameter_penalties_are_trained_and_logged(tmp_path, backend):
    """Gap 19: train/penalty at step 2 is the weighted sum of squares of the weights saved
    at step 1 (model-relative and model-qualified prefixes alike), and the penalty pulls
    the weights in: it falls from step 1 to step 2."""
    compile_and_run(tmp_path, "digits_mlp", DIGITS_PENALTIES, backend, "--out-dir", tmp_path / "run")
    rows = training.read_metrics(tmp_path / "run" / "metrics.csv")
    penalty = {row["step"]: row["value"] for row in rows if row["split"] == "train" and row["name"] == "penalty"}
    assert sorted(penalty) == [1, 2]
    first = next(folder for folder in training.list_checkpoints(tmp_path / "run") if folder.name == "step-000001")
    assert penalty[2] == pytest.approx(expected_penalty(training.read_checkpoint(first).model), rel=1e-5)
    assert penalty[2] < penalty[1]
    assert not any(row["name"] == "penalty" for row in rows if row["split"] == "val")


def test_checkpoint_names_follow_the_pattern_and_order_by_step(tmp_path):
    """Folders named by the pattern (a metric not logged yet formats as 0, ``val_loss`` is
    ``val/loss``) list oldest step first, and top-k pruning keeps the best and ``last``."""
    assert training.checkpoint_name(None, 12, 0) == "step-000012"
    assert (
        training.checkpoint_name("{epoch:02d}-{step}-{val/loss:.3f}", 300, 2, {"val/loss": 0.41234}) == "02-300-0.412"
    )
    assert training.checkpoint_name("model-{epoch}-{val_loss:.2f}", 5, 1, {}) == "model-1-0.00"
    with pytest.raises(ValueError, match="cannot be used"):
        training.checkpoint_name("last", 1, 0)
    pattern = "z{step}-{val/loss:.1f}"
    for step, loss in ((5, 0.3), (10, 0.1), (40, 0.2)):
        training.write_checkpoint(
            tmp_path, step, {"w": np.zeros(1)}, {}, {"epoch": 0, "metrics": {"val/loss": loss}}, pattern
        )
    assert [path.name for path in training.list_checkpoints(tmp_path)] == ["z5-0.3", "z10-0.1", "z40-0.2"]
    kept = training.prune_checkpoints(tmp_path, 1, "val/loss", "min")
    assert [path.name for path in kept] == ["z10-0.1", "z40-0.2"]
    assert training.latest_checkpoint(tmp_path).name == "z40-0.2"


def test_fraction_of_an_epoch_is_counted_within_each_epoch():
    """0.5 of a 7-step epoch: every 3 steps, restarting at each epoch (steps 3, 6, 10, 13)."""
    every = training.fraction_steps(0.5, 7)
    assert every == 3
    assert [step for step in range(1, 15) if training.due_in_epoch(step, every, 7)] == [3, 6, 10, 13]
    assert [step for step in range(1, 15) if training.due_in_epoch(step, training.fraction_steps(1.0, 7), 7)] == [7, 14]
    with pytest.raises(ValueError, match=r"must be in \(0, 1\]"):
        training.fraction_steps(1.5, 7)


def test_verbose_early_stopping_says_why(capsys):
    stopping = training.EarlyStopping("val/loss", 2, "min", 0.0, verbose=True)
    assert [stopping.update({"val/loss": value}) for value in (0.5, 0.6, 0.7)] == [False, False, True]
    assert capsys.readouterr().out == (
        "Monitored metric val/loss did not improve in the last 2 records. Best score: 0.500. Signaling Trainer to stop.\n"
    )
