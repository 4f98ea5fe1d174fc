"""Generated scripts under faults, on every backend (short digits runs in subprocesses):
a kill the moment ``last`` moves, a damaged or mismatched checkpoint, another spec's
checkpoint, a locked run directory, a full disk. Faults are injected by a wrapper that
patches ``specc.runtime.training.checkpoints`` in the script's own process."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import pytest

from specc.compiler import ir
from specc.runtime import training
from specc.runtime.training import lock
from tests.backends import fixtures
from tests.backends.runner import write_script

pytestmark = pytest.mark.slow

BACKENDS = ("jax", "lightning", "mlx")
MODULES = {"jax": "flax", "lightning": "lightning", "mlx": "mlx.core"}
STEPS = 8

WRAPPER = textwrap.dedent(
    """
    import errno, os, runpy, sys
    from specc.runtime.training import checkpoints
    mode, argument, script = sys.argv[1:4]
    if mode == "kill":  # die the moment ``last`` points at the folder ``argument``
        point_last = checkpoints.point_last
        def dying_point_last(root, name):
            point_last(root, name)
            if name == argument:
                os._exit(9)
        checkpoints.point_last = dying_point_last
    if mode == "full":  # the disk fills up at the ``argument``-th array file
        save_file, calls = checkpoints.save_file, []
        def full_save_file(arrays, path):
            calls.append(path)
            if len(calls) >= int(argument):
                raise OSError(errno.ENOSPC, "No space left on device", str(path))
            return save_file(arrays, path)
        checkpoints.save_file = full_save_file
    sys.argv = [script, *sys.argv[4:]]
    runpy.run_path(script, run_name="__main__")
    """
)


def environment():
    values = dict(os.environ, OMP_NUM_THREADS="1", JAX_PLATFORMS="cpu")
    values.setdefault("JAX_COMPILATION_CACHE_DIR", str(Path(tempfile.gettempdir()) / "specc-tests-jax-cache"))
    values.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    return values


def run(script, *arguments, fault=("none", "-")):
    command = [sys.executable, "-c", WRAPPER, *fault, str(script), *map(str, arguments)]
    return subprocess.run(command, cwd=str(Path(script).parent), capture_output=True, text=True, timeout=300, env=environment())


def digits(**changes):
    plan = dict(
        max_epochs=None, max_steps=STEPS, eval_every=4, log_every=2,
        checkpoint=ir.CheckpointPlan(every=2, keep=2, monitor="val/loss", mode="min"),
    )
    program = fixtures.program("digits_mlp", **plan)
    return dataclasses.replace(program, **changes) if changes else program


def ok(result):
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def one_line_failure(result) -> str:
    """The message of a run that stopped with one line: non-zero status, no traceback."""
    assert result.returncode not in (0, 9), result.stdout[-2000:] + result.stderr[-2000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    return result.stderr.strip().splitlines()[-1]


def rows(run_dir, up_to=None):
    """metrics.csv rows without the wall-clock values (time, steps_per_s)."""
    found = training.read_metrics(run_dir / "metrics.csv")
    return [
        (row["step"], row["epoch"], row["split"], row["name"], None if row["name"] == "steps_per_s" else row["value"])
        for row in found
        if up_to is None or row["step"] <= up_to
    ]


def retained(run_dir):
    folder = run_dir / "checkpoints"
    return sorted(path.name for path in folder.iterdir() if not path.name.startswith(".") and path.name != "last")


@pytest.fixture(scope="module", params=BACKENDS)
def straight(request, tmp_path_factory):
    """(backend, script, run directory) of one uninterrupted run."""
    pytest.importorskip(MODULES[request.param])
    folder = tmp_path_factory.mktemp(f"faults_{request.param}")
    script = write_script(digits(), request.param, folder)
    ok(run(script, "--out-dir", folder / "straight"))
    return request.param, script, folder / "straight"


# step 6: a checkpoint between evaluations (Lightning saves it before the step's rows are logged);
# step 4: an evaluated step (Lightning saves it at the evaluation's end, with its metrics)
@pytest.mark.parametrize("killed_at", (6, 4))
def test_a_kill_as_last_moves_keeps_its_rows_and_resume_ends_as_the_straight_run(straight, tmp_path, killed_at):
    backend, script, straight_dir = straight
    run_dir = tmp_path / "killed"
    folder = training.checkpoints.step_directory_name(killed_at)
    killed = run(script, "--out-dir", run_dir, fault=("kill", folder))
    assert killed.returncode == 9, killed.stderr[-3000:]
    assert os.readlink(run_dir / "checkpoints" / "last") == folder
    # every row up to the step of ``last`` was on disk when ``last`` moved
    assert rows(run_dir, killed_at) == rows(straight_dir, killed_at)
    resumed = ok(run(script, "--out-dir", run_dir, "--resume", "auto"))
    assert "was locked by process" in resumed.stderr and "taking the lock over" in resumed.stderr
    assert rows(run_dir) == rows(straight_dir)
    # top-k resumes exactly: the same folders kept, the same manifests (Lightning's top-k
    # bookkeeping included), byte-identical files though the runs live in different folders
    assert retained(run_dir) == retained(straight_dir)
    assert os.readlink(run_dir / "checkpoints" / "last") == os.readlink(straight_dir / "checkpoints" / "last")
    for name in retained(straight_dir):
        ours, theirs = run_dir / "checkpoints" / name, straight_dir / "checkpoints" / name
        assert json.loads((ours / "manifest.json").read_text()) == json.loads((theirs / "manifest.json").read_text())
        for file_name in ("model.safetensors", "optimizer.safetensors"):
            assert (ours / file_name).read_bytes() == (theirs / file_name).read_bytes(), (name, file_name)


def test_a_damaged_last_is_skipped_and_resume_auto_falls_back(straight, tmp_path):
    backend, script, straight_dir = straight
    run_dir = tmp_path / "copy"
    shutil.copytree(straight_dir, run_dir, symlinks=True)
    last = (run_dir / "checkpoints" / "last").resolve()
    model = last / "model.safetensors"
    model.write_bytes(model.read_bytes()[:100])  # truncated
    older = max(
        (path for path in training.list_checkpoints(run_dir) if path.name != last.name),
        key=lambda path: training.read_checkpoint(path).step,
    )
    older_step = training.read_checkpoint(older).step
    history = rows(run_dir, older_step)
    resumed = ok(run(script, "--out-dir", run_dir, "--resume", "auto"))
    assert f"skipping {str(run_dir / 'checkpoints' / 'last')!r} -> {last.name!r}: model.safetensors does not match the sha256" in resumed.stderr
    assert f"resuming from {str(older.resolve())!r} (step {older_step})" in resumed.stderr
    assert rows(run_dir, older_step) == history
    final = run_dir / "checkpoints" / "last" / "model.safetensors"
    assert final.read_bytes() == (straight_dir / "checkpoints" / "last" / "model.safetensors").read_bytes()


def test_resume_path_to_a_damaged_checkpoint_is_one_line(straight, tmp_path):
    backend, script, straight_dir = straight
    damaged = tmp_path / "step-000004"
    shutil.copytree(straight_dir / "checkpoints" / "last", damaged)
    (damaged / "optimizer.safetensors").write_bytes(b"")
    message = one_line_failure(run(script, "--out-dir", tmp_path / "run", "--resume", damaged))
    assert message.startswith(f"--resume {str(damaged)!r}: the checkpoint is damaged: ")
    assert message.endswith("optimizer.safetensors does not match the sha256 in manifest.json (0 bytes; truncated or overwritten)")


def test_a_checkpoint_of_another_spec_is_refused_unless_allowed(straight, tmp_path):
    backend, script, straight_dir = straight
    other = write_script(digits(spec_name="digits_other", spec_hash="0" * 64), backend, tmp_path)
    checkpoint = (straight_dir / "checkpoints" / "last").resolve()
    message = one_line_failure(run(other, "--out-dir", tmp_path / "run", "--resume", checkpoint))
    assert message == (
        f"checkpoint {str(checkpoint)!r} was trained from spec 'digits_mlp' (sha256 {fixtures.program('digits_mlp').spec_hash[:12]}), "
        f"but this script is spec 'digits_other' (sha256 000000000000); to start from it anyway pass "
        f"--resume PATH --allow-different-spec, or choose another --out-dir"
    )
    allowed = ok(run(other, "--out-dir", tmp_path / "run", "--resume", checkpoint, "--allow-different-spec"))
    assert "was trained from spec" not in allowed.stderr and (tmp_path / "run" / "metrics.csv").is_file()
    ok(run(other, "--out-dir", tmp_path / "evaluated", "--resume", checkpoint, "--eval-only"))  # weights fit: evaluated


def test_weights_of_another_model_are_one_line(straight, tmp_path):
    from safetensors.numpy import load_file, save_file

    backend, script, straight_dir = straight
    checkpoint = tmp_path / "step-000008"
    shutil.copytree((straight_dir / "checkpoints" / "last").resolve(), checkpoint)
    arrays = load_file(str(checkpoint / "model.safetensors"))
    arrays["linear_2.bias"] = np.zeros(11, np.float32)  # an 11-class head
    save_file(arrays, str(checkpoint / "model.safetensors"))
    manifest = json.loads((checkpoint / "manifest.json").read_text())
    manifest["checksums"]["model.safetensors"] = __import__("hashlib").sha256((checkpoint / "model.safetensors").read_bytes()).hexdigest()
    (checkpoint / "manifest.json").write_text(json.dumps(manifest))
    message = one_line_failure(run(script, "--out-dir", tmp_path / "run", "--resume", checkpoint))
    assert message == (
        f"checkpoint {str(checkpoint)!r} does not fit this script's model (a checkpoint of another model?): "
        f"load_state_dict: parameter 'linear_2.bias' has shape [10] in the model but [11] in the given arrays"
    )


def test_a_second_process_on_the_run_directory_is_refused(straight, tmp_path):
    backend, script, _ = straight
    training.lock_run_directory(tmp_path / "run")
    try:
        result = run(script, "--out-dir", tmp_path / "run")
    finally:
        lock.release_run_directory(tmp_path / "run")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert f"run directory {str(tmp_path / 'run')!r} is in use by process {os.getpid()}" in result.stderr
    assert not (tmp_path / "run" / "metrics.csv").exists()


def test_a_full_disk_stops_the_run_cleanly_and_keeps_last(straight, tmp_path):
    import re

    backend, script, _ = straight
    run_dir = tmp_path / "run"
    message = one_line_failure(run(script, "--out-dir", run_dir, fault=("full", "3")))  # the second checkpoint
    found = re.fullmatch(
        r"stopping the run: the disk is full while writing checkpoint '(.+)' \(.+/model.safetensors\); "
        r"the last complete checkpoint is '(.+)'",
        message,
    )
    assert found, message
    failed, kept = Path(found.group(1)), Path(found.group(2))
    assert failed.parent == run_dir / "checkpoints" and kept.parent == (run_dir / "checkpoints").resolve()
    assert (run_dir / "checkpoints" / "last").resolve() == kept
    assert training.read_checkpoint(run_dir / "checkpoints" / "last").step < int(failed.name.split("-")[1])
    assert retained(run_dir) == [kept.name]
    assert not [path for path in (run_dir / "checkpoints").iterdir() if path.name.startswith(".tmp-")]
