"""``train.parallel = sharded`` beyond one JAX process (docs/distributed.md):

- MLX under ``mlx.launch -n 2 --backend ring``: the optimizer state split over the ranks
  (ZeRO-1, ``specc.runtime.mlx.sharding``): the replicated run's losses, checkpoints in the
  replicated layout that resume on another number of ranks;
- JAX over two processes joined by ``jax.distributed.initialize`` on localhost: parameters and
  optimizer state split over the processes' devices, gathered into the checkpoints;
- Lightning: ``FSDPStrategy`` needs CUDA, so on the CPU a run over two ranks ends in one line.

Digits MLP, fp32, global batch 64, the single-rank runs of test_data_parallel_end_to_end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import specc
from specc.runtime.training.checkpoints import read_checkpoint
from tests.backends.runner import compile_spec, run_script, write_script
from tests.backends.test_data_parallel_end_to_end import (
    OVERRIDES,
    TWO_DEVICES,
    assert_same_values,
    rows,
    run,
    run_jax_processes,
    single_run,
)

pytestmark = pytest.mark.slow

SHARDED = (*OVERRIDES, "train.parallel=sharded")


def sharded_script(backend: str, folder):
    return write_script(compile_spec("specs/digits_mlp.mf", SHARDED), backend, folder)


def assert_resumed_equal(single: dict, resumed: dict, tolerance: float = 1e-6):
    assert_same_values(single, resumed, range(1, 21), tolerance)
    for name in ("accuracy", "loss"):
        assert resumed[(20, "val", name)] == pytest.approx(single[(20, "val", name)], rel=tolerance), name


def assert_loads_on_every_backend(checkpoint):
    """The checkpoint's model file loads into torch, JAX and MLX with its own arrays."""
    arrays = read_checkpoint(checkpoint).model
    assert sorted(arrays) == ["linear_0.bias", "linear_0.weight", "linear_1.bias", "linear_1.weight", "linear_2.bias", "linear_2.weight"]
    assert arrays["linear_1.weight"].shape == (128, 128)  # whole, not one rank's rows
    torch_state = {name: value.detach().numpy() for name, value in specc.load_model(checkpoint, "torch").state_dict().items()}
    pytest.importorskip("jax")
    from specc.runtime.jax import state as jax_state

    jax_arrays = jax_state.state_dict(specc.load_model(checkpoint, "jax"))
    pytest.importorskip("mlx.core")
    from specc.runtime.mlx import state as mlx_state

    mlx_arrays = mlx_state.state_dict(specc.load_model(checkpoint, "mlx"))
    for loaded in (torch_state, jax_arrays, mlx_arrays):
        assert sorted(loaded) == sorted(arrays)
        for name, value in arrays.items():
            np.testing.assert_array_equal(loaded[name], value)


# ----------------------------------------------------------------------------- MLX


def test_mlx_sharded_state_trains_as_replicated(tmp_path, tmp_path_factory):
    """2 ranks, optimizer state split: per-step loss and grad norm of the 1-rank replicated run
    to 1e-5, validation to 1e-6; rank 0's checkpoint holds the whole optimizer state in the
    replicated layout (the same names and shapes) and loads into every backend."""
    _, replicated_script, single = single_run("mlx", tmp_path_factory)
    script = sharded_script("mlx", tmp_path)
    run(script, 2, "--out-dir", tmp_path / "two", "--max-steps", 20)
    parallel = rows(tmp_path / "two")
    assert_same_values(single, parallel, range(1, 21))
    for name in ("accuracy", "loss"):
        assert parallel[(20, "val", name)] == pytest.approx(single[(20, "val", name)], rel=1e-6), name
    written = read_checkpoint(tmp_path / "two" / "checkpoints" / "step-000020")
    reference = read_checkpoint(replicated_script.parent / "single" / "checkpoints" / "step-000020")
    assert {name: value.shape for name, value in written.optimizer.items()} == {
        name: value.shape for name, value in reference.optimizer.items()
    }
    assert_loads_on_every_backend(tmp_path / "two" / "checkpoints" / "step-000020")


@pytest.mark.parametrize("ranks", [(2, 1), (1, 2)], ids=["2 ranks then 1", "1 rank then 2"])
def test_mlx_sharded_state_resumes_across_scale(ranks, tmp_path, tmp_path_factory):
    """10 steps on one number of ranks, 10 more resumed on the other = 20 steps on 1 rank, to
    1e-6 (not bitwise: the 2-rank gradient is a sum of two halves)."""
    _, _, single = single_run("mlx", tmp_path_factory)
    script = sharded_script("mlx", tmp_path)
    first, then = ranks
    run(script, first, "--out-dir", tmp_path / "run", "--max-steps", 10)
    run(script, then, "--out-dir", tmp_path / "run", "--max-steps", 20, "--resume", "auto")
    assert_resumed_equal(single, rows(tmp_path / "run"))


SHARDED_OPTIMIZER_PROGRAM = """
import json
import mlx.core as mx
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten
from specc.runtime.mlx import training

group = mx.distributed.init()
start = {"w": mx.array(np.arange(12, dtype=np.float32).reshape(4, 3)), "b": mx.array(np.ones(3, np.float32))}
plain, sharded = optim.Adam(1e-1, bias_correction=True), training.ShardedOptimizer(optim.Adam(1e-1, bias_correction=True))
plain.init(start)
sharded.init(start)
plain_parameters, sharded_parameters = dict(start), dict(start)
for step in range(3):
    gradients = {"w": mx.array(np.sin(np.arange(12, dtype=np.float32) + step).reshape(4, 3)), "b": mx.array(np.cos(np.arange(3, dtype=np.float32) + step))}
    plain_parameters = plain.apply_gradients(gradients, plain_parameters)
    sharded_parameters = sharded.apply_gradients(gradients, sharded_parameters)
local = {name: list(value.shape) for name, value in tree_flatten(sharded.state) if name.startswith(("w.", "b."))}
gathered = training.optimizer_arrays(sharded)
expected = training.optimizer_arrays(plain)
same_state = sorted(gathered) == sorted(expected) and all(np.array_equal(gathered[name], expected[name]) for name in expected)
same_parameters = all(np.array_equal(np.array(plain_parameters[name]), np.array(sharded_parameters[name])) for name in start)
if group.rank() == 0:
    print(json.dumps({"ranks": group.size(), "local": local, "same_state": same_state, "same_parameters": same_parameters}))
"""


def test_mlx_sharded_optimizer_keeps_its_rows(tmp_path):
    """Under mlx.launch -n 2: each rank holds half the rows of Adam's moments of a (4, 3)
    weight and the whole moments of a (3,) bias; after 3 updates the parameters and the
    gathered state equal an unsharded Adam's exactly."""
    pytest.importorskip("mlx.core")
    program = tmp_path / "program.py"
    program.write_text(SHARDED_OPTIMIZER_PROGRAM)
    launcher = shutil.which("mlx.launch", path=os.path.dirname(sys.executable)) or shutil.which("mlx.launch")
    command = [launcher, "-n", "2", "--backend", "ring", "--python", sys.executable, str(program)]
    result = subprocess.run(command, cwd=str(tmp_path), capture_output=True, text=True, timeout=300, check=False)
    [line] = [line for line in result.stdout.splitlines() if line.startswith("{")]
    assert json.loads(line) == {
        "ranks": 2,
        "local": {"b.m": [3], "b.v": [3], "w.m": [2, 3], "w.v": [2, 3]},
        "same_state": True,
        "same_parameters": True,
    }, result.stderr


# ----------------------------------------------------------------------------- JAX


def test_jax_sharded_state_across_two_processes_trains_as_one(tmp_path, tmp_path_factory):
    """2 JAX processes of one CPU device each, parameters and optimizer state split between
    them: the 1-process losses to 1e-5, validation to 1e-6; process 0 writes checkpoints
    holding the whole arrays, which load into every backend."""
    _, _, single = single_run("jax", tmp_path_factory)
    script = sharded_script("jax", tmp_path)
    results = run_jax_processes(script, "--out-dir", tmp_path / "two", "--max-steps", 20)
    for index, result in enumerate(results):
        assert result.returncode == 0, (index, result.stdout, result.stderr)
    parallel = rows(tmp_path / "two")
    assert_same_values(single, parallel, range(1, 21))
    for name in ("accuracy", "loss"):
        assert parallel[(20, "val", name)] == pytest.approx(single[(20, "val", name)], rel=1e-6), name
    assert sorted(path.name for path in (tmp_path / "two" / "checkpoints").iterdir()) == ["last", "step-000010", "step-000020"]
    assert_loads_on_every_backend(tmp_path / "two" / "checkpoints" / "step-000020")


def test_jax_sharded_two_processes_resume_on_one(tmp_path, tmp_path_factory):
    """10 steps on 2 sharded JAX processes, 10 more in 1 process = 20 steps in 1 process."""
    _, _, single = single_run("jax", tmp_path_factory)
    script = sharded_script("jax", tmp_path)
    for result in run_jax_processes(script, "--out-dir", tmp_path / "run", "--max-steps", 10):
        assert result.returncode == 0, (result.stdout, result.stderr)
    run(script, 1, "--out-dir", tmp_path / "run", "--max-steps", 20, "--resume", "auto")
    assert_resumed_equal(single, rows(tmp_path / "run"))


PLACEMENT_PROGRAM = """
import argparse, json, sys
import numpy as np
from specc.runtime.jax import processes, training
parallel = training.data_parallel(argparse.Namespace(device="cpu", devices=1, num_nodes=2), sharded=True)
tree = {"weight": np.arange(8 * 3, dtype=np.float32).reshape(8, 3), "bias": np.arange(5, dtype=np.float32), "count": np.int32(7)}
placed = parallel.place(tree)
gathered = processes.host_arrays(placed)
print(json.dumps({
    "local": {name: list(placed[name].addressable_shards[0].data.shape) for name in sorted(tree)},
    "whole": all(np.array_equal(np.asarray(gathered[name]), tree[name]) for name in tree),
}))
"""


def test_jax_sharded_placement_across_processes_splits_and_gathers(tmp_path):
    """Each of 2 processes holds half the rows of an (8, 3) array (a 5-row one and a scalar
    stay whole); ``processes.host_arrays`` gives every process the whole arrays back."""
    pytest.importorskip("jax")
    program = tmp_path / "program.py"
    program.write_text(PLACEMENT_PROGRAM)
    results = run_jax_processes(program, processes=2)
    expected = {"local": {"bias": [5], "count": [], "weight": [4, 3]}, "whole": True}
    for result in results:
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout.strip().splitlines()[-1]) == expected


# ----------------------------------------------------------------------------- Lightning


def test_lightning_sharded_on_the_cpu_over_two_ranks_is_one_line(tmp_path):
    pytest.importorskip("lightning")
    script = sharded_script("lightning", tmp_path)
    result = run_script(script, "--out-dir", tmp_path / "run", "--max-steps", 2, "--devices", 2, timeout=300, env=TWO_DEVICES)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "train.parallel = sharded on 2 ranks: Lightning's fsdp strategy needs CUDA GPUs (torch's FSDP cannot run "
        "on the CPU); run with --device cuda, or compile with --set train.parallel=replicated for ddp"
    )


def test_lightning_sharded_on_one_cpu_device_trains_as_replicated(tmp_path, tmp_path_factory):
    """One device: nothing to shard, Lightning's single-device run (the replicated losses)."""
    _, _, single = single_run("lightning", tmp_path_factory)
    script = sharded_script("lightning", tmp_path)
    run(script, 1, "--out-dir", tmp_path / "one", "--max-steps", 20)
    assert_same_values(single, rows(tmp_path / "one"), range(1, 21), tolerance=1e-6)


def test_lightning_sharded_on_gpus_is_fsdp_with_full_state_dicts():
    """On GPUs (where it runs: benchmarks/gpu_check.sh) the strategy is Lightning's FSDP
    gathering full state dicts, saved and loaded through specc's CheckpointIO."""
    pytest.importorskip("lightning")
    from lightning.pytorch.strategies import FSDPStrategy

    from specc.runtime.torch import training as torch_training
    from specc.runtime.torch.sharding import SpeccFSDPStrategy

    arguments = argparse.Namespace(device="cuda", devices=4, num_nodes=2)
    placement = torch_training.placement(arguments, sharded=True)
    assert (placement["devices"], placement["num_nodes"]) == (4, 2)
    strategy = placement["strategy"]
    assert isinstance(strategy, SpeccFSDPStrategy) and isinstance(strategy, FSDPStrategy)
    assert strategy._state_dict_type == "full" and strategy.kwargs["use_orig_params"] is True
    assert torch_training.placement(arguments)["strategy"] == "ddp"
