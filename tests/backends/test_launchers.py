"""The same generated script started the ways a cluster starts it, on this one machine (CPU,
digits MLP, 10 fp32 steps at the same global batch as one process):

- Lightning across "nodes" started by hand (``MASTER_ADDR``, ``MASTER_PORT``, ``NODE_RANK``:
  Lightning's general cluster environment), under ``torchrun``, and under a simulated SLURM
  step (``SLURM_*`` variables as ``srun`` sets them; Lightning's SLURM environment);
- JAX joined by its own SLURM detection (``jax.distributed.initialize()`` without arguments;
  ``SPECC_COORDINATOR`` unset);
- MLX through ``mlx.launch --hostfile`` (two local hosts of a JSON hostfile, ring backend).

docs/distributed.md shows the same commands for real clusters; what differs there is only
the hosts' names. Each run's per-step losses must equal the one-process run's to 1e-5
relative, and only rank 0 writes the run.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest
from specc.runtime.training import read_metrics

from tests.backends.runner import compile_spec, run_script, write_script

pytestmark = pytest.mark.slow

OVERRIDES = ("train.log_every=1", "train.eval_every=10", "train.checkpoint.every=10")
STEPS = 10
MODULES = {"jax": "jax", "lightning": "lightning", "mlx": "mlx.core"}
# variables of a launcher that must not leak in from the machine running the tests
LAUNCHER_VARIABLES = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "NODE_RANK", "MASTER_ADDR", "MASTER_PORT", "MLX_RANK",
                      "MLX_HOSTFILE", "SPECC_COORDINATOR", "SPECC_PROCESS_ID", "XLA_FLAGS")


def clean_environment(**extra) -> dict:
    environment = {
        name: value for name, value in os.environ.items()
        if name not in LAUNCHER_VARIABLES and not name.startswith(("SLURM_", "TORCHELASTIC_"))
    }
    return {**environment, "JAX_PLATFORMS": "cpu", "OMP_NUM_THREADS": "1", **extra}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def losses(run_dir) -> dict:
    return {row["step"]: row["value"] for row in read_metrics(run_dir / "metrics.csv")
            if row["split"] == "train" and row["name"] == "loss"}


SINGLE: dict = {}


def single_run(backend: str, tmp_path_factory):
    """(script, the one-process run's losses), made once a backend."""
    pytest.importorskip(MODULES[backend])
    if backend not in SINGLE:
        folder = tmp_path_factory.mktemp(f"launch-{backend}")
        script = write_script(compile_spec("specs/digits_mlp.mf", OVERRIDES), backend, folder)
        run_script(script, "--out-dir", folder / "single", "--max-steps", STEPS, timeout=600, check=True,
                   env={"OMP_NUM_THREADS": "1"})
        SINGLE[backend] = (script, losses(folder / "single"))
    return SINGLE[backend]


def start_ranks(command, script, environments) -> list[subprocess.CompletedProcess]:
    """``command`` once per environment (one process a rank), run together; their results."""
    started = [
        subprocess.Popen(command, cwd=str(script.parent), env=environment, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for environment in environments
    ]
    finished = []
    for process in started:
        try:
            stdout, stderr = process.communicate(timeout=600)
        except subprocess.TimeoutExpired:
            for other in started:
                other.kill()
            raise
        finished.append(subprocess.CompletedProcess(command, process.returncode, stdout, stderr))
    for rank, result in enumerate(finished):
        assert result.returncode == 0, (rank, result.stdout[-3000:], result.stderr[-3000:])
    return finished


def assert_trains_as_one(single: dict, run_dir) -> None:
    found = losses(run_dir)
    assert sorted(found) == list(range(1, STEPS + 1))  # rank 0 wrote each step once
    for step, expected in single.items():
        assert found[step] == pytest.approx(expected, rel=1e-5), step
    assert (run_dir / "checkpoints" / f"step-{STEPS:06d}").is_dir()


def slurm_variables(rank: int, job_id: int) -> dict:
    """What ``srun --nodes 2 --ntasks-per-node 1`` sets for task ``rank`` (both "nodes" are
    this machine, named localhost)."""
    return {
        "SLURM_JOB_ID": str(job_id), "SLURM_JOB_NAME": "specc-test", "SLURM_NTASKS": "2",
        "SLURM_NTASKS_PER_NODE": "1", "SLURM_PROCID": str(rank), "SLURM_LOCALID": "0", "SLURM_NODEID": str(rank),
        "SLURM_NODELIST": "localhost", "SLURM_STEP_NODELIST": "localhost", "SLURM_STEP_NUM_NODES": "2",
    }


def test_lightning_nodes_started_by_hand(tmp_path, tmp_path_factory):
    """Two 'nodes' of one device: ``NODE_RANK`` 0 and 1 with the same MASTER_ADDR/PORT."""
    script, single = single_run("lightning", tmp_path_factory)
    port = free_port()
    command = [sys.executable, str(script), "--out-dir", str(tmp_path / "run"), "--max-steps", str(STEPS),
               "--num-nodes", "2"]
    environments = [clean_environment(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), NODE_RANK=str(rank))
                    for rank in range(2)]
    results = start_ranks(command, script, environments)
    assert "GLOBAL_RANK: 1, MEMBER: 2/2" in results[1].stderr + results[1].stdout
    assert_trains_as_one(single, tmp_path / "run")


def test_lightning_under_torchrun(tmp_path, tmp_path_factory):
    """``torchrun --nproc-per-node 2 train.py --devices 2`` (torchrun is ``python -m
    torch.distributed.run``): Lightning's torchelastic environment."""
    script, single = single_run("lightning", tmp_path_factory)
    command = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc-per-node", "2", "--master-port", str(free_port()), str(script),
               "--out-dir", str(tmp_path / "run"), "--max-steps", str(STEPS), "--devices", "2"]
    (result,) = start_ranks(command, script, [clean_environment()])
    assert "GLOBAL_RANK: 1, MEMBER: 2/2" in result.stderr + result.stdout
    assert_trains_as_one(single, tmp_path / "run")


def test_lightning_under_slurm(tmp_path, tmp_path_factory):
    """``srun python train.py --num-nodes 2``: Lightning's SLURM environment gives each task
    its rank; MASTER_PORT is set as a job script would (else Lightning derives it from the
    job id)."""
    script, single = single_run("lightning", tmp_path_factory)
    port = free_port()
    command = [sys.executable, str(script), "--out-dir", str(tmp_path / "run"), "--max-steps", str(STEPS),
               "--num-nodes", "2"]
    environments = [clean_environment(**slurm_variables(rank, 4242), MASTER_PORT=str(port)) for rank in range(2)]
    results = start_ranks(command, script, environments)
    assert "GLOBAL_RANK: 1, MEMBER: 2/2" in results[1].stderr + results[1].stdout
    assert_trains_as_one(single, tmp_path / "run")


def test_jax_under_slurm_by_its_own_detection(tmp_path, tmp_path_factory):
    """No SPECC_COORDINATOR: ``jax.distributed.initialize()`` reads SLURM's variables; its
    coordinator port comes from the job id (61440 + id % 4096), so the id is chosen to give a
    free port."""
    script, single = single_run("jax", tmp_path_factory)
    job_id = next(identifier for identifier in range(os.getpid() % 4096, 2 * 4096)
                  if port_is_free(61440 + identifier % 4096))
    command = [sys.executable, str(script), "--out-dir", str(tmp_path / "run"), "--max-steps", str(STEPS),
               "--num-nodes", "2"]
    environments = [clean_environment(**slurm_variables(rank, job_id)) for rank in range(2)]
    results = start_ranks(command, script, environments)
    assert f"step {STEPS} train:" in results[0].stdout and f"step {STEPS}" not in results[1].stdout
    assert_trains_as_one(single, tmp_path / "run")


def test_mlx_through_a_hostfile(tmp_path, tmp_path_factory):
    """``mlx.launch --hostfile hosts.json``: two hosts at 127.0.0.1 (mlx.launch starts a host
    at 127.0.0.1 without ssh), the ring backend over their IPs."""
    script, single = single_run("mlx", tmp_path_factory)
    hostfile = tmp_path / "hosts.json"
    hostfile.write_text(json.dumps([{"ssh": "127.0.0.1", "ips": ["127.0.0.1"]}] * 2), encoding="utf-8")
    launcher = "from mlx._distributed_utils.launch import main; main()"  # what the mlx.launch command runs
    command = [sys.executable, "-c", launcher, "--hostfile", str(hostfile), "--backend", "ring", "--starting-port", str(free_port()),
               "--python", sys.executable, str(script), "--out-dir", str(tmp_path / "run"), "--max-steps", str(STEPS)]
    (result,) = start_ranks(command, script, [clean_environment()])
    assert result.stdout.count("parameters:") == 2, result.stdout  # both ranks started
    assert result.stdout.count(f"step {STEPS} train:") == 1, result.stdout  # and joined: rank 0 alone logs
    assert_trains_as_one(single, tmp_path / "run")
