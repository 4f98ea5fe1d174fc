"""specc.runtime.training: run directory, metrics.csv, checkpoints, top-k, early stopping."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from specc.runtime import training
from specc.runtime.training import checkpoints


def save(run_dir, step, value=None, monitor="val/loss"):
    metrics = {} if value is None else {monitor: value}
    return training.write_checkpoint(
        run_dir, step, {"w": np.full((2, 3), step, np.float32)}, {"optimizer.0000.count": np.asarray(step)}, {"metrics": metrics}
    )


def test_checkpoint_round_trip_and_last(tmp_path):
    save(tmp_path, 1)
    path = save(tmp_path, 12)
    assert path.name == "step-000012"
    loaded = training.read_checkpoint(training.latest_checkpoint(tmp_path))
    assert loaded.step == 12 and loaded.manifest["parameter_names"] == ["w"]
    np.testing.assert_array_equal(loaded.model["w"], np.full((2, 3), 12, np.float32))
    assert int(loaded.optimizer["optimizer.0000.count"]) == 12
    assert os.readlink(tmp_path / "checkpoints" / "last") == "step-000012"


def test_incomplete_checkpoint_is_named(tmp_path):
    (tmp_path / "step-000001").mkdir()
    with pytest.raises(ValueError, match="has no manifest.json; it is incomplete"):
        training.read_checkpoint(tmp_path / "step-000001")


def test_top_k_keeps_best_ties_older_plus_last(tmp_path):
    for step, value in [(1, 0.5), (2, 0.3), (3, 0.3), (4, 0.9), (5, 0.8)]:
        save(tmp_path, step, value)
        training.prune_checkpoints(tmp_path, keep=2, monitor="val/loss", mode="min")
    kept = [path.name for path in training.list_checkpoints(tmp_path)]
    assert kept == ["step-000002", "step-000003", "step-000005"]
    assert checkpoints.retained([(1, 0.5), (2, 0.5), (3, 0.5)], 1, "max") == {1, 3}


def test_without_monitor_keeps_newest(tmp_path):
    for step in range(1, 5):
        save(tmp_path, step)
        training.prune_checkpoints(tmp_path, keep=2, monitor=None, mode="min")
    assert [path.name for path in training.list_checkpoints(tmp_path)] == ["step-000003", "step-000004"]


KILLED_WRITER = textwrap.dedent(
    """
    import os, signal, sys
    import numpy as np
    from specc.runtime.training import checkpoints
    run_dir = sys.argv[1]
    checkpoints.write_checkpoint(run_dir, 1, {"w": np.ones(3, np.float32)}, {}, {})
    original = checkpoints.save_file
    def dying_save(arrays, path, *rest, **keywords):
        original(arrays, path)
        os.kill(os.getpid(), signal.SIGKILL)
    checkpoints.save_file = dying_save
    checkpoints.write_checkpoint(run_dir, 2, {"w": np.zeros(3, np.float32)}, {}, {})
    """
)


def test_killed_while_writing_leaves_last_loadable(tmp_path):
    result = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(tmp_path)], capture_output=True)
    assert result.returncode == -signal.SIGKILL
    assert any(path.name.startswith(".tmp-") for path in (tmp_path / "checkpoints").iterdir())
    loaded = training.read_checkpoint(training.latest_checkpoint(tmp_path))
    assert loaded.step == 1
    start = training.resolve_start(tmp_path, "auto")
    assert start.checkpoint.name == "step-000001"
    training.prepare_run_directory(tmp_path, "spec x\n", None, {})
    assert not any(path.name.startswith(".tmp-") for path in (tmp_path / "checkpoints").iterdir())


def test_run_directory_guard(tmp_path, capsys):
    assert training.resolve_start(tmp_path / "fresh", None).checkpoint is None
    save(tmp_path, 3)
    with pytest.raises(SystemExit, match="already holds checkpoints; pass --resume auto"):
        training.resolve_start(tmp_path, None)
    assert training.resolve_start(tmp_path, "auto").checkpoint.name == "step-000003"
    assert training.resolve_start(tmp_path / "empty", "auto").checkpoint is None
    assert "starting a fresh run" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="not a checkpoint directory"):
        training.resolve_start(tmp_path, str(tmp_path / "nowhere"))
    with pytest.raises(SystemExit, match="--eval-only: no checkpoint"):
        training.resolve_start(tmp_path / "empty", None, eval_only=True)


def test_prepare_writes_run_files(tmp_path):
    script = tmp_path / "script.py"
    script.write_text("print(1)\n")
    training.prepare_run_directory(tmp_path / "run", "spec a\n", script, training.package_versions(["numpy"]))
    assert (tmp_path / "run" / "spec.resolved.mf").read_text() == "spec a\n"
    assert (tmp_path / "run" / "train.py").read_text() == "print(1)\n"
    assert json.loads((tmp_path / "run" / "packages.json").read_text())["numpy"] == np.__version__


def test_metrics_log_full_precision_and_resume_truncation(tmp_path):
    path = tmp_path / "metrics.csv"
    log = training.MetricsLog(path)
    for step in (1, 2, 3):
        log.write_many(step, 0, "train", {"loss": 1.0 / 3.0 + step})
    log.close()
    assert path.read_text().splitlines()[0] == "step,epoch,split,name,value,time"
    rows = training.read_metrics(path)
    assert rows[0]["value"] == 1.0 / 3.0 + 1
    log = training.MetricsLog(path, resume_step=2)
    log.write_many(3, 0, "val", {"accuracy": 0.5})
    log.close()
    rows = training.read_metrics(path)
    assert [(row["step"], row["split"]) for row in rows] == [(1, "train"), (2, "train"), (3, "val")]
    with pytest.raises(ValueError, match="split must be one of train, val, test, train_eval, got .dev."):
        training.MetricsLog(tmp_path / "other.csv").write(1, 0, "dev", "loss", 1.0)


@pytest.mark.parametrize(
    "mode, values, stop_at",
    [("min", [1.0, 0.9, 0.95, 0.91, 0.92], 4), ("max", [0.1, 0.2, 0.2, 0.3], None), ("min", [1.0, float("nan"), 2.0], 3)],
)
def test_early_stopping(mode, values, stop_at):
    tracker = training.EarlyStopping("val/loss", patience=2, mode=mode, min_delta=0.0)
    stopped = None
    for index, value in enumerate(values, start=1):
        if tracker.update({"val/loss": value}) and stopped is None:
            stopped = index
    assert stopped == stop_at


def test_early_stopping_min_delta_and_state():
    tracker = training.EarlyStopping("val/loss", patience=1, mode="min", min_delta=0.1)
    assert not tracker.update({"val/loss": 1.0})
    assert tracker.update({"val/loss": 0.95})
    copy = training.EarlyStopping("val/loss", patience=1)
    copy.load_state_dict(tracker.state_dict())
    assert copy.best == 1.0 and copy.waited == 1
    with pytest.raises(ValueError, match="monitored metric 'val/loss' is not logged; logged: val/accuracy"):
        tracker.update({"val/accuracy": 1.0})


def test_stop_request_catches_sigterm():
    with training.StopRequest() as request:
        os.kill(os.getpid(), signal.SIGTERM)
        assert request.requested and request.signal_name == "SIGTERM"
    assert signal.getsignal(signal.SIGTERM) is not request._handle


def test_arguments_and_version_check():
    arguments = training.parse_arguments("digits", ["--max-steps", "7", "--resume", "auto"])
    assert arguments.out_dir == "runs/digits" and arguments.max_steps == 7 and arguments.resume == "auto"
    with pytest.raises(SystemExit):
        training.parse_arguments("digits", ["--max-steps", "-1"])
    with pytest.raises(SystemExit, match="generated by specc 9.0.0"):
        training.check_runtime("9.0.0", 1)


def test_flatten_and_mean_tracker():
    flat = training.flatten({"adam": {"mu": [np.ones(2), np.zeros(1)]}, "count": 3})
    assert sorted(flat) == ["adam.mu.0", "adam.mu.1", "count"]
    assert sorted(training.subtree(flat, "adam.mu")) == ["0", "1"]
    tracker = training.MeanTracker()
    tracker.add({"loss": 1.0})
    tracker.add({"loss": 2.0})
    assert tracker.means() == {"loss": 1.5}
    assert training.first_bad_step(np.int32(-1)) is None and training.first_bad_step(np.int32(4)) == 4


def test_metrics_log_echoes_one_line_per_group(tmp_path):
    import io

    echo = io.StringIO()
    log = training.MetricsLog(tmp_path / "metrics.csv", echo=echo)
    log.write_many(200, 3, "val", {"loss": 0.14571, "accuracy": 0.95539})
    log.write_many(250, 4, "train", {})
    log.close()
    assert echo.getvalue() == "step 200 val: accuracy 0.9554, loss 0.1457\n"
    assert [row["name"] for row in training.read_metrics(tmp_path / "metrics.csv")] == ["accuracy", "loss"]
