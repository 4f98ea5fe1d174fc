"""The same generated script from one rank to two, at the same global batch (CPU, small):
JAX over two local devices in one process (a Mesh, --devices 2), JAX over two processes of
one device each joined by jax.distributed.initialize on localhost (--num-nodes 2,
SPECC_COORDINATOR / SPECC_PROCESS_ID), Lightning's ddp with gloo (--devices 2, processes
started by Lightning), MLX's ring backend (mlx.launch -n 2).

For the digits MLP: the per-step training losses of the 2-rank run equal the 1-rank run's to
1e-5 relative over 20 fp32 steps; the validation metrics agree (the validation split has 269
examples, so its last batch of 13 splits 6 / 7: no rank pads); a run of 10 steps on 2 ranks
resumed on 1 rank for 10 more equals 20 steps on 1 rank.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys

import pytest

from specc.runtime.training import read_metrics
from tests.backends.runner import compile_spec, run_script, write_script

pytestmark = pytest.mark.slow

OVERRIDES = ("train.log_every=1", "train.eval_every=10", "train.checkpoint.every=10")
BACKENDS = ("jax", "lightning", "mlx")
TWO_DEVICES = {"XLA_FLAGS": "--xla_force_host_platform_device_count=2", "OMP_NUM_THREADS": "1"}
MODULES = {"jax": "jax", "lightning": "lightning", "mlx": "mlx.core"}


def run(script, ranks: int, *arguments):
    """The script on ``ranks`` data-parallel ranks; the completed process (checked)."""
    if ranks == 1 or not str(script).endswith("_mlx.py"):
        flags = ("--devices", ranks) if ranks > 1 else ()
        return run_script(script, *arguments, *flags, timeout=600, check=True, env=TWO_DEVICES)
    launcher = shutil.which("mlx.launch", path=os.path.dirname(sys.executable)) or shutil.which("mlx.launch")
    command = [launcher, "-n", str(ranks), "--backend", "ring", "--python", sys.executable, str(script), *map(str, arguments)]
    result = subprocess.run(command, cwd=str(script.parent), capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    return result


def rows(run_dir) -> dict:
    return {(row["step"], row["split"], row["name"]): row["value"] for row in read_metrics(run_dir / "metrics.csv")}


def assert_same_values(single: dict, parallel: dict, steps, tolerance: float = 1e-5):
    for step in steps:
        for split, name in (("train", "loss"), ("train", "grad_norm")):
            expected, found = single[(step, split, name)], parallel[(step, split, name)]
            assert found == pytest.approx(expected, rel=tolerance), (step, split, name)


SINGLE_RUNS: dict = {}


def single_run(backend: str, tmp_path_factory):
    """(backend, script, the straight 20-step single-rank run's rows), made once a backend."""
    pytest.importorskip(MODULES[backend])
    if backend not in SINGLE_RUNS:
        folder = tmp_path_factory.mktemp(backend)
        script = write_script(compile_spec("specs/digits_mlp.mf", OVERRIDES), backend, folder)
        run(script, 1, "--out-dir", folder / "single", "--max-steps", 20)
        SINGLE_RUNS[backend] = (backend, script, rows(folder / "single"))
    return SINGLE_RUNS[backend]


@pytest.fixture(scope="module", params=BACKENDS)
def backend_run(request, tmp_path_factory):
    return single_run(request.param, tmp_path_factory)


def test_two_ranks_train_and_evaluate_as_one(backend_run, tmp_path):
    backend, script, single = backend_run
    run(script, 2, "--out-dir", tmp_path / "two", "--max-steps", 20)
    parallel = rows(tmp_path / "two")
    assert sorted(key for key in parallel if key[2] != "steps_per_s") == sorted(key for key in single if key[2] != "steps_per_s")
    assert_same_values(single, parallel, range(1, 21))
    for step in (10, 20):  # 269 validation examples over 2 ranks: each counted once
        for name in ("accuracy", "loss"):
            assert parallel[(step, "val", name)] == pytest.approx(single[(step, "val", name)], rel=1e-6), (backend, step, name)
    assert (tmp_path / "two" / "checkpoints" / "step-000020").is_dir()  # written once, by rank 0


def test_two_ranks_resume_on_one(backend_run, tmp_path):
    _, script, single = backend_run
    run(script, 2, "--out-dir", tmp_path / "run", "--max-steps", 10)
    run(script, 1, "--out-dir", tmp_path / "run", "--max-steps", 20, "--resume", "auto")
    resumed = rows(tmp_path / "run")
    assert_same_values(single, resumed, range(1, 21))
    assert resumed[(20, "val", "accuracy")] == pytest.approx(single[(20, "val", "accuracy")], rel=1e-6)


def test_jax_sharded_state_trains_as_replicated(tmp_path, tmp_path_factory):
    """train.parallel = sharded in one JAX process: parameters and optimizer state split over
    the two devices, the same losses (MLX, JAX across processes, Lightning:
    tests/backends/test_sharded_state.py)."""
    _, _, single = single_run("jax", tmp_path_factory)
    script = write_script(compile_spec("specs/digits_mlp.mf", (*OVERRIDES, "train.parallel=sharded")), "jax", tmp_path)
    run(script, 2, "--out-dir", tmp_path / "sharded", "--max-steps", 20)
    assert_same_values(single, rows(tmp_path / "sharded"), range(1, 21))
    assert rows(tmp_path / "sharded")[(20, "val", "accuracy")] == pytest.approx(single[(20, "val", "accuracy")], rel=1e-6)


def test_jax_sharded_placement_splits_the_state():
    pytest.importorskip("jax")
    program = (
        "import jax, numpy as np, argparse\n"
        "from specc.runtime.jax import training\n"
        "parallel = training.data_parallel(argparse.Namespace(device='cpu', devices=2, num_nodes=1), sharded=True)\n"
        "placed = parallel.place({'weight': np.zeros((128, 64), np.float32), 'bias': np.zeros((5,), np.float32), 'count': np.int32(0)})\n"
        "print([placed[name].addressable_shards[0].data.shape for name in ('weight', 'bias', 'count')])\n"
    )
    environment = {**os.environ, **TWO_DEVICES, "JAX_PLATFORMS": "cpu"}
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, env=environment, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[(64, 64), (5,), ()]"


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_global_batch_that_does_not_divide_by_the_ranks_is_one_line(backend, tmp_path):
    pytest.importorskip(MODULES[backend])
    script = write_script(compile_spec("specs/digits_mlp.mf", ("data.batch_size=9",)), backend, tmp_path)
    if backend == "mlx":
        launcher = shutil.which("mlx.launch", path=os.path.dirname(sys.executable)) or shutil.which("mlx.launch")
        command = [launcher, "-n", "2", "--backend", "ring", "--python", sys.executable, str(script), "--max-steps", "2"]
        result = subprocess.run(command, cwd=str(tmp_path), capture_output=True, text=True, timeout=300, check=False)
        assert "exited with code 1" in result.stdout + result.stderr  # mlx.launch itself exits 0
    else:
        result = run_script(script, "--max-steps", 2, "--devices", 2, timeout=300, env=TWO_DEVICES)
        assert result.returncode != 0
    message = "batch_size = 9 (the global batch) does not divide by the 2 data-parallel ranks: choose a batch size that is a multiple of 2"
    assert message in (result.stdout + result.stderr)
    assert "Traceback" not in result.stderr


KSIN_OVERRIDES = (
    "k=2", "data.sizes=[128, 64, 63]", "data.batch_size=32", "train.max_steps=6", "train.precision=fp32",
    "train.eval_every=6", "train.log_every=1", "eval.sampler=euler(steps = 2, cfg_scale = 2.0)",
    "train.checkpoint.every=6", "schedule.warmup=2",
)


@pytest.mark.parametrize("backend", BACKENDS)
def test_ksin_flow_on_two_ranks_trains_as_on_one(backend, tmp_path):
    """Flow matching with OT coupling and CFG dropout drawn over the global batch: the 2-rank
    losses are the 1-rank losses; 63 validation examples split 32 / 31. The sampled metrics
    (log-spectral distance...) amplify last-bit weight differences and are not compared."""
    pytest.importorskip(MODULES[backend])
    script = write_script(compile_spec("specs/ksin_flow.mf", KSIN_OVERRIDES), backend, tmp_path)
    run(script, 1, "--out-dir", tmp_path / "one")
    run(script, 2, "--out-dir", tmp_path / "two")
    single, parallel = rows(tmp_path / "one"), rows(tmp_path / "two")
    for step in range(1, 7):  # past an epoch (4 batches of 32 of the 128 examples)
        for name in ("loss", "mse"):
            assert parallel[(step, "train", name)] == pytest.approx(single[(step, "train", name)], rel=1e-5), (step, name)
    for name in ("loss", "mse"):
        assert parallel[(6, "val", name)] == pytest.approx(single[(6, "val", name)], rel=1e-5), name


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        return probe.getsockname()[1]


def run_jax_processes(script, *arguments, processes: int = 2):
    """``script`` as ``processes`` JAX processes of one CPU device each, joined through
    SPECC_COORDINATOR on localhost; the completed processes, in process order."""
    environment = {
        **{name: value for name, value in os.environ.items() if name not in ("XLA_FLAGS", "RANK", "LOCAL_RANK")},
        "JAX_PLATFORMS": "cpu", "OMP_NUM_THREADS": "1", "SPECC_COORDINATOR": f"localhost:{free_port()}",
    }
    command = [sys.executable, str(script), *map(str, arguments), "--num-nodes", str(processes)]
    started = [
        subprocess.Popen(command, cwd=str(script.parent), env={**environment, "SPECC_PROCESS_ID": str(index)},
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for index in range(processes)
    ]
    finished = []
    for process in started:
        try:
            stdout, stderr = process.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            for other in started:
                other.kill()
            raise
        finished.append(subprocess.CompletedProcess(command, process.returncode, stdout, stderr))
    return finished


def test_jax_two_processes_train_and_evaluate_as_one(tmp_path, tmp_path_factory):
    """jax.distributed.initialize on localhost, 2 processes x 1 CPU device, digits MLP: the
    per-step losses and grad norms of the 1-process run to 1e-5 over 20 steps, the validation
    metrics to 1e-6; only process 0 writes the run (metrics.csv and checkpoints)."""
    _, script, single = single_run("jax", tmp_path_factory)
    results = run_jax_processes(script, "--out-dir", tmp_path / "two", "--max-steps", 20)
    for index, result in enumerate(results):
        assert result.returncode == 0, (index, result.stdout, result.stderr)
    assert "step 20 val:" in results[0].stdout and "step 20" not in results[1].stdout  # process 1 logs nothing
    parallel = rows(tmp_path / "two")
    assert sorted(key for key in parallel if key[2] != "steps_per_s") == sorted(key for key in single if key[2] != "steps_per_s")
    assert_same_values(single, parallel, range(1, 21))
    for step in (10, 20):
        for name in ("accuracy", "loss"):
            assert parallel[(step, "val", name)] == pytest.approx(single[(step, "val", name)], rel=1e-6), (step, name)
    assert sorted(path.name for path in (tmp_path / "two" / "checkpoints").iterdir()) == ["last", "step-000010", "step-000020"]


def test_jax_two_processes_resume_on_one(tmp_path, tmp_path_factory):
    """10 steps on 2 JAX processes, resumed in 1 process for 10 more = 20 steps in 1 process."""
    _, script, single = single_run("jax", tmp_path_factory)
    for result in run_jax_processes(script, "--out-dir", tmp_path / "run", "--max-steps", 10):
        assert result.returncode == 0, (result.stdout, result.stderr)
    run(script, 1, "--out-dir", tmp_path / "run", "--max-steps", 20, "--resume", "auto")
    resumed = rows(tmp_path / "run")
    assert_same_values(single, resumed, range(1, 21))
    assert resumed[(20, "val", "accuracy")] == pytest.approx(single[(20, "val", "accuracy")], rel=1e-6)


def test_jax_processes_need_a_process_index(tmp_path, tmp_path_factory):
    _, script, _ = single_run("jax", tmp_path_factory)
    environment = {"SPECC_COORDINATOR": "localhost:1", "SPECC_PROCESS_ID": "2", "XLA_FLAGS": ""}
    result = run_script(script, "--out-dir", tmp_path / "run", "--num-nodes", 2, "--max-steps", 1, env=environment)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == (
        "--num-nodes 2 with SPECC_COORDINATOR set: SPECC_PROCESS_ID must be a process index from 0 to 1, got '2'"
    )
