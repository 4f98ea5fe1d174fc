"""A data-parallel run whose rank 0 is killed with SIGKILL in the middle of a checkpoint write
(MLX, ``mlx.launch -n 2 --backend ring``, digits MLP, 8 steps, a checkpoint every 2): ``last``
still points at the previous checkpoint, which loads and verifies, and ``--resume auto`` on 2
ranks continues to the end with the straight run's numbers.

The kill is injected by a wrapper script that patches ``checkpoints.save_file`` in the rank-0
process only (``MLX_RANK=0``): it writes the model file of ``step-000006`` into the temporary
folder, then the process SIGKILLs itself before the optimizer file, the manifest and
``last``. Rank 1 then waits in its next all_sum (the ring backend has no timeout, and
``mlx.launch`` does not stop the other ranks) until its peer watchdog ends it (1800 s by
default): the first test stops the launcher's process group once rank 0 is gone, as a user
or the job scheduler would; the last one lets the watchdog end rank 1 after 8 s.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from specc.runtime import training

from tests.backends.runner import compile_spec, write_script

pytestmark = pytest.mark.slow

OVERRIDES = ("train.log_every=1", "train.eval_every=4", "train.checkpoint.every=2", "train.max_steps=8")

WRAPPER = textwrap.dedent(
    """
    import os, runpy, signal, sys
    from specc.runtime.training import checkpoints
    folder, script = sys.argv[1:3]
    if os.environ.get("MLX_RANK", "0") == "0":  # rank 0 writes the checkpoints
        save_file = checkpoints.save_file
        def dying_save_file(arrays, path):
            if os.path.basename(os.path.dirname(path)).startswith(".tmp-" + folder) and path.endswith("optimizer.safetensors"):
                os.kill(os.getpid(), signal.SIGKILL)  # the model file is on disk, the rest is not
            return save_file(arrays, path)
        checkpoints.save_file = dying_save_file
    sys.argv = [script, *sys.argv[3:]]
    runpy.run_path(script, run_name="__main__")
    """
)


def launch_command(*command) -> list:
    """``mlx.launch -n 2 --backend ring`` running ``command`` (a Python file and its arguments)."""
    launcher = shutil.which("mlx.launch", path=os.path.dirname(sys.executable)) or shutil.which("mlx.launch")
    return [launcher, "-n", "2", "--backend", "ring", "--python", sys.executable, *map(str, command)]


def launch(tmp_path, *command):
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        launch_command(*command), cwd=str(tmp_path), capture_output=True, text=True, timeout=600, check=False, env=environment
    )


def launch_until_rank_zero_dies(tmp_path, checkpoints_dir, *command) -> Path:
    """Launch ``command`` on 2 ranks; once rank 0 has died writing a checkpoint (its
    temporary folder, named with its pid, exists and the pid is gone), stop the launcher's
    process group (rank 1 is blocked in a collective). The temporary folder."""
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    launcher = subprocess.Popen(
        launch_command(*command), cwd=str(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, env=environment, start_new_session=True,
    )
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline and launcher.poll() is None:
            partial = sorted(checkpoints_dir.glob(".tmp-step-*")) if checkpoints_dir.is_dir() else []
            if partial and not process_alive(int(partial[0].name.rsplit("-", 1)[1])):
                return partial[0]
            time.sleep(0.2)
        raise AssertionError("rank 0 did not die in a checkpoint write")
    finally:
        os.killpg(launcher.pid, signal.SIGKILL)
        print(launcher.communicate(timeout=60)[0][-3000:])


def process_alive(pid: int) -> bool:
    """``pid`` runs (a zombie counts as dead)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def values(run_dir) -> dict:
    """(step, split, name) -> value of metrics.csv, the wall-clock rows left out (a resumed
    run's rows of a step replace the killed run's)."""
    rows = training.read_metrics(run_dir / "metrics.csv")
    return {(row["step"], row["split"], row["name"]): row["value"] for row in rows if row["name"] != "steps_per_s"}


def test_rank_zero_killed_during_a_checkpoint_write_leaves_last_loadable_and_resume_continues(tmp_path):
    pytest.importorskip("mlx.core")
    script = write_script(compile_spec("specs/digits_mlp.mf", OVERRIDES), "mlx", tmp_path)
    wrapper = tmp_path / "kill_rank_zero.py"
    wrapper.write_text(WRAPPER)

    straight = launch(tmp_path, script, "--out-dir", tmp_path / "straight")
    assert "exited with code" not in straight.stdout + straight.stderr, straight.stdout + straight.stderr
    killed_dir = tmp_path / "killed"
    checkpoints_dir = killed_dir / "checkpoints"
    partial = launch_until_rank_zero_dies(tmp_path, checkpoints_dir, wrapper, "step-000006", script, "--out-dir", killed_dir)
    assert partial.name.startswith(".tmp-step-000006-") and (partial / "model.safetensors").is_file()
    assert not (partial / "optimizer.safetensors").exists()  # killed mid-write
    assert os.readlink(checkpoints_dir / "last") == "step-000004"
    loaded = training.read_checkpoint(checkpoints_dir / "last")  # every file present, every sha256 matches
    assert loaded.step == 4

    resumed = launch(tmp_path, script, "--out-dir", killed_dir, "--resume", "auto")
    output = resumed.stdout + resumed.stderr
    assert "exited with code" not in output and "was killed" not in output, output
    assert "ended without releasing it (killed?); taking the lock over" in output, output
    assert "step 4 train" not in output and "step 5 train" in output  # continued after step-000004
    assert os.readlink(checkpoints_dir / "last") == "step-000008"
    expected, found = values(tmp_path / "straight"), values(killed_dir)
    assert sorted(found) == sorted(expected)
    for key, value in expected.items():
        assert found[key] == pytest.approx(value, rel=1e-6), key


def test_the_surviving_rank_ends_by_itself_with_one_line(tmp_path):
    # The ring backend leaves rank 1 blocked in its next all_sum once rank 0 is dead (the test
    # above stops the launcher's group itself). The peer watchdog (runtime/training/
    # peer_watchdog.py) ends rank 1 after SPECC_PEER_TIMEOUT seconds without a batch, with one
    # line, so the job ends on its own and --resume auto can take over.
    pytest.importorskip("mlx.core")
    script = write_script(compile_spec("specs/digits_mlp.mf", OVERRIDES), "mlx", tmp_path)
    wrapper = tmp_path / "kill_rank_zero.py"
    wrapper.write_text(WRAPPER)
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "SPECC_PEER_TIMEOUT": "8"}
    started = time.monotonic()
    result = subprocess.run(
        launch_command(wrapper, "step-000006", script, "--out-dir", tmp_path / "killed"), cwd=str(tmp_path),
        capture_output=True, text=True, timeout=300, check=False, env=environment,
    )
    output = result.stdout + result.stderr
    assert time.monotonic() - started < 240, output  # ended by the watchdog, not by the timeout above
    lines = [line for line in output.splitlines() if line.startswith("rank 1: no batch for 8 s")]
    assert lines == [
        "rank 1: no batch for 8 s: another rank has stopped (a data-parallel run cannot go on without it); "
        "ending this rank. Resume with --resume auto (SPECC_PEER_TIMEOUT sets the timeout)"
    ], output[-3000:]
    assert os.readlink(tmp_path / "killed" / "checkpoints" / "last") == "step-000004"


def test_the_watchdog_reads_its_timeout_and_can_be_turned_off():
    from specc.runtime.training.peer_watchdog import DEFAULT_TIMEOUT, peer_timeout, start_peer_watchdog

    assert peer_timeout({}) == DEFAULT_TIMEOUT == 1800.0
    assert peer_timeout({"SPECC_PEER_TIMEOUT": "45"}) == 45.0
    assert start_peer_watchdog(0, {"SPECC_PEER_TIMEOUT": "0"}) is None
    with pytest.raises(SystemExit, match=r"SPECC_PEER_TIMEOUT='soon': give the timeout in seconds"):
        peer_timeout({"SPECC_PEER_TIMEOUT": "soon"})
