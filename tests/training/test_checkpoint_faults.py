"""Checkpoints and the run directory under faults, at the runtime level: damaged checkpoints
(checksums, fall back on ``--resume auto``), a dangling ``last``, history never overwritten,
another spec's checkpoint refused, the run-directory lock, a full or read-only disk."""

from __future__ import annotations

import argparse
import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from specc.runtime import training
from specc.runtime.training import checkpoints, lock
from specc.runtime.training.failures import CheckpointMismatch, DamagedCheckpoint, RunError

SPEC = ("digits_mlp", "a" * 64)


def save(run_dir, step, spec=SPEC):
    manifest = {"metrics": {}, "seed": 0, "spec_name": spec[0], "spec_hash": spec[1]}
    model = {"w": np.full((2, 3), step, np.float32)}
    optimizer = {"optimizer.0000.count": np.asarray(step)}
    return training.write_checkpoint(run_dir, step, model, optimizer, manifest)


def write_metrics(run_dir, steps):
    log = training.MetricsLog(Path(run_dir) / "metrics.csv")
    for step in steps:
        log.write_many(step, 0, "train", {"loss": 1.0 / step})
    log.close()


def truncate(path, keep=None):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2 if keep is None else keep])


def bad_header(path):
    data = bytearray(path.read_bytes())
    data[8:16] = b"{garbage"
    path.write_bytes(bytes(data))


def wrong_shape(path):
    from safetensors.numpy import save_file

    save_file({"w": np.zeros((3, 2), np.float32)}, str(path))


DAMAGE = {
    "bad safetensors header": ("model.safetensors", bad_header, "model.safetensors does not match the sha256"),
    "truncated tensor file": ("model.safetensors", truncate, "model.safetensors does not match the sha256"),
    "empty tensor file": ("model.safetensors", lambda path: truncate(path, 0), "does not match the sha256"),
    "truncated optimizer file": ("optimizer.safetensors", truncate, "optimizer.safetensors does not match"),
    "truncated manifest": ("manifest.json", truncate, "manifest.json is not readable JSON"),
    "garbage manifest": ("manifest.json", lambda path: path.write_bytes(b"\x00\xff garbage"), "not readable JSON"),
    "manifest without a step": ("manifest.json", lambda path: path.write_text("[1, 2]"), 'no integer "step"'),
    "missing tensor file": ("model.safetensors", Path.unlink, "has no model.safetensors; it is incomplete"),
    "missing manifest": ("manifest.json", Path.unlink, "has no manifest.json"),
    "wrong shape": ("model.safetensors", wrong_shape, "model.safetensors does not match the sha256"),
}


def test_the_manifest_records_a_sha256_per_file(tmp_path):
    import hashlib

    path = save(tmp_path, 1)
    checksums = json.loads((path / "manifest.json").read_text())["checksums"]
    for name in ("model.safetensors", "optimizer.safetensors"):
        assert checksums[name] == hashlib.sha256((path / name).read_bytes()).hexdigest()


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_resume_auto_falls_back_past_a_damaged_checkpoint(kind, tmp_path, capsys):
    file_name, damage, reason = DAMAGE[kind]
    save(tmp_path, 4)
    newest = save(tmp_path, 8)
    damage(newest / file_name)
    with pytest.raises(DamagedCheckpoint, match="step-000008"):
        training.read_checkpoint(newest)
    start = training.resolve_start(tmp_path, "auto", spec=SPEC)
    assert start.checkpoint.name == "step-000004" and start.loaded.step == 4
    lines = capsys.readouterr().err.splitlines()
    skipped = [line for line in lines if "skipping" in line]
    assert len(skipped) == 1 and "step-000008" in skipped[0] and reason in skipped[0], lines
    assert lines[-1].endswith(f"resuming from {str(start.checkpoint)!r} (step 4)")


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_resume_path_to_a_damaged_checkpoint_is_one_line(kind, tmp_path):
    file_name, damage, reason = DAMAGE[kind]
    damaged = save(tmp_path, 8)
    damage(damaged / file_name)
    with pytest.raises(SystemExit) as raised:
        training.resolve_start(tmp_path, str(damaged), spec=SPEC)
    message = str(raised.value.code)
    assert "\n" not in message and str(damaged) in message
    assert "damaged" in message or "not a checkpoint directory" in message


def test_a_dangling_last_falls_back_to_the_newest_checkpoint_that_verifies(tmp_path, capsys):
    save(tmp_path, 2)
    save(tmp_path, 4)
    newest = save(tmp_path, 6)
    damage = tmp_path / "checkpoints" / "step-000004" / "model.safetensors"
    truncate(damage)
    import shutil

    shutil.rmtree(newest)  # last -> step-000006, which no longer exists
    write_metrics(tmp_path, [1, 2, 3, 4, 5, 6])
    start = training.resolve_start(tmp_path, "auto", spec=SPEC)
    assert start.loaded.step == 2
    err = capsys.readouterr().err
    assert "points at 'step-000006', which does not exist" in err
    assert "step-000004" in err and "does not match the sha256" in err
    log = training.MetricsLog(tmp_path / "metrics.csv", resume_step=start.loaded.step)
    log.close()
    assert [row["step"] for row in training.read_metrics(tmp_path / "metrics.csv")] == [1, 2]


def test_nothing_verifies_and_metrics_has_rows_is_refused_without_touching_them(tmp_path, capsys):
    damaged = save(tmp_path, 3)
    truncate(damaged / "model.safetensors")
    write_metrics(tmp_path, [1, 2, 3])
    before = (tmp_path / "metrics.csv").read_bytes()
    with pytest.raises(SystemExit, match=r"has no checkpoint to resume \(1 damaged checkpoint\(s\) skipped\) but its "
                       r"metrics.csv holds 3 rows of an earlier run; refusing to start over"):
        training.resolve_start(tmp_path, "auto", spec=SPEC)
    assert (tmp_path / "metrics.csv").read_bytes() == before


def test_a_fresh_start_never_overwrites_metrics_rows(tmp_path):
    write_metrics(tmp_path, [1, 2])  # a run killed before its first checkpoint
    with pytest.raises(SystemExit, match="holds 2 rows of an earlier run"):
        training.resolve_start(tmp_path, None)
    with pytest.raises(SystemExit, match="holds 2 rows of an earlier run"):
        training.resolve_start(tmp_path, "auto")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "metrics.csv").write_text("step,epoch,split,name,value,time\n")
    assert training.resolve_start(tmp_path / "empty", "auto").checkpoint is None


def test_resume_keeps_the_old_metrics_file_when_rewriting_it_fails(tmp_path, monkeypatch):
    write_metrics(tmp_path, [1, 2, 3])
    before = (tmp_path / "metrics.csv").read_bytes()

    def full(*arguments, **keywords):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(RunError, match="stopping the run: the disk is full while writing '.*metrics.csv'"):
        training.MetricsLog(tmp_path / "metrics.csv", resume_step=2)
    assert (tmp_path / "metrics.csv").read_bytes() == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["metrics.csv"]


def test_a_checkpoint_of_another_spec_is_refused_naming_both(tmp_path):
    other = save(tmp_path, 4, spec=("audio_vae", "b" * 64))
    with pytest.raises(SystemExit) as raised:
        training.resolve_start(tmp_path, str(other), spec=SPEC)
    assert str(raised.value.code) == (
        f"checkpoint {str(other)!r} was trained from spec 'audio_vae' (sha256 bbbbbbbbbbbb), but this script is "
        f"spec 'digits_mlp' (sha256 aaaaaaaaaaaa); to start from it anyway pass --resume PATH "
        f"--allow-different-spec, or choose another --out-dir"
    )
    with pytest.raises(SystemExit, match="was trained from spec 'audio_vae'"):
        training.resolve_start(tmp_path, "auto", spec=SPEC)
    same_name = save(tmp_path / "settings", 4, spec=("digits_mlp", "c" * 64))  # other --set values
    with pytest.raises(SystemExit, match=r"spec 'digits_mlp' \(sha256 cccccccccccc\), but this script"):
        training.resolve_start(tmp_path / "settings", str(same_name), spec=SPEC)
    start = training.resolve_start(tmp_path, str(other), spec=SPEC, allow_different_spec=True)
    assert start.loaded.manifest["spec_name"] == "audio_vae"
    evaluated = training.resolve_start(tmp_path / "eval", str(other), eval_only=True, spec=SPEC)
    assert evaluated.loaded.step == 4  # --eval-only: any checkpoint whose weights fit the model


def test_allow_different_spec_is_a_flag_of_every_script(tmp_path):
    other = save(tmp_path / "other", 4, spec=("audio_vae", "b" * 64))
    arguments = training.parse_arguments("digits_mlp", ["--out-dir", str(tmp_path / "run"), "--resume", str(other)])
    assert arguments.allow_different_spec is False
    with pytest.raises(SystemExit, match="was trained from spec 'audio_vae'"):
        training.start_run(arguments, *SPEC)
    lock.release_run_directory(tmp_path / "run")
    argv = ["--out-dir", str(tmp_path / "run"), "--resume", str(other), "--allow-different-spec"]
    start = training.start_run(training.parse_arguments("digits_mlp", argv), *SPEC)
    lock.release_run_directory(tmp_path / "run")
    assert start.loaded.step == 4
    with pytest.raises(SystemExit):
        training.parse_arguments("digits_mlp", ["--allow-different-spec"])


def test_weights_of_another_model_name_the_checkpoint():
    torch = pytest.importorskip("torch")
    from specc.runtime.torch import state

    arrays = training.tree.subtree({"m.weight": np.zeros((3, 2), np.float32), "m.bias": np.zeros(3, np.float32)}, "m")
    model = torch.nn.Linear(3, 2)
    from specc.runtime.training.failures import NamedArrays

    with pytest.raises(CheckpointMismatch) as raised:
        state.load_state_dict(model, NamedArrays(arrays, "runs/x/checkpoints/step-000004"))
    assert str(raised.value) == (
        "checkpoint 'runs/x/checkpoints/step-000004' does not fit this script's model (a checkpoint of another "
        "model?): load_state_dict: parameter 'bias' has shape [2] in the model but [3] in the given arrays"
    )
    with pytest.raises(ValueError, match="load_state_dict: parameter 'bias'"):  # still a ValueError
        state.load_state_dict(model, arrays)


def test_run_main_ends_a_run_error_with_its_line():
    def main(argv):
        raise RunError("stopping the run: the disk is full while writing 'x'")

    with pytest.raises(SystemExit) as raised:
        training.run_main(main)
    assert raised.value.code == "stopping the run: the disk is full while writing 'x'"


# ----------------------------------------------------------------------------- full / read-only disk


def test_a_full_disk_while_checkpointing_keeps_last_and_stops_cleanly(tmp_path, monkeypatch):
    first = save(tmp_path, 4)

    def full(arrays, path):
        Path(path).write_bytes(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(checkpoints, "save_file", full)
    with pytest.raises(RunError) as raised:
        save(tmp_path, 8)
    message = str(raised.value)
    assert message.startswith("stopping the run: the disk is full while writing checkpoint ")
    assert "step-000008" in message and f"the last complete checkpoint is {str(first)!r}" in message
    assert training.latest_checkpoint(tmp_path) == first
    assert [path.name for path in (tmp_path / "checkpoints").iterdir() if path.name != "last"] == ["step-000004"]


def test_a_full_disk_while_logging_is_one_run_error(tmp_path, monkeypatch):
    from specc.runtime.training import metrics_log

    log = training.MetricsLog(tmp_path / "metrics.csv")

    def full(descriptor):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(metrics_log.os, "fsync", full)
    with pytest.raises(RunError, match="stopping the run: the disk is full while writing '.*metrics.csv'"):
        log.write_many(1, 0, "train", {"loss": 1.0})


def test_a_read_only_run_directory_is_one_run_error(tmp_path, monkeypatch):
    def read_only(self, *arguments, **keywords):
        raise OSError(errno.EROFS, "Read-only file system", str(self))

    monkeypatch.setattr(Path, "mkdir", read_only)
    with pytest.raises(RunError, match="stopping the run: the run directory is not writable .* while creating the "
                       "run directory lock"):
        training.lock_run_directory(tmp_path / "run")
    with pytest.raises(RunError, match="not writable .* while writing the run files of"):
        training.prepare_run_directory(tmp_path / "run", "spec x\n", None, {})


# ----------------------------------------------------------------------------- the lock

HOLDER = textwrap.dedent(
    """
    import os, sys
    from specc.runtime.training import lock
    lock.lock_run_directory(sys.argv[1])
    print("locked", flush=True)
    if sys.argv[2] == "die":
        os.kill(os.getpid(), 9)
    sys.stdin.readline()
    """
)


def test_a_second_process_on_the_run_directory_is_refused_naming_the_holder(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path), "hold"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(SystemExit) as raised:
            training.lock_run_directory(tmp_path)
        assert str(raised.value.code) == (
            f"run directory {str(tmp_path)!r} is in use by process {holder.pid} (it holds "
            f"{str(tmp_path / '.lock')!r}); wait for it to finish or stop it, or choose another --out-dir"
        )
    finally:
        holder.communicate("\n")
    assert holder.returncode == 0
    assert (tmp_path / ".lock").read_text() == ""  # a clean exit leaves no pid behind
    training.lock_run_directory(tmp_path)
    lock.release_run_directory(tmp_path)


def test_a_stale_lock_of_a_killed_process_is_reported_and_taken_over(tmp_path, capsys):
    result = subprocess.run([sys.executable, "-c", HOLDER, str(tmp_path), "die"], capture_output=True, text=True)
    assert result.returncode == -signal.SIGKILL
    dead = int((tmp_path / ".lock").read_text())
    training.lock_run_directory(tmp_path)
    try:
        assert (tmp_path / ".lock").read_text() == f"{os.getpid()}\n"
        assert capsys.readouterr().err == (
            f"specc: run directory {str(tmp_path)!r} was locked by process {dead}, which ended without releasing "
            f"it (killed?); taking the lock over\n"
        )
    finally:
        lock.release_run_directory(tmp_path)


def test_start_run_locks_before_reading_checkpoints(tmp_path):
    arguments = argparse.Namespace(out_dir=str(tmp_path), resume=None, eval_only=False, allow_different_spec=False)
    training.start_run(arguments, *SPEC)
    try:
        assert (tmp_path / ".lock").read_text() == f"{os.getpid()}\n"
        training.start_run(arguments, *SPEC)  # the same process again: already its own
    finally:
        lock.release_run_directory(tmp_path)
