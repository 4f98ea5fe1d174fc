"""A loss that is not finite on one data-parallel rank stops every rank at the same step
(Lightning / DDP): ``check_finite`` takes the first bad step of any rank. Before, only the
rank that saw it stopped, and the others waited in the next gradient all-reduce."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")

PROGRAM = r"""
import sys
import torch
import torch.distributed as distributed
from specc.runtime import training
from specc.runtime.torch import training as torch_training

rank, port, cases = int(sys.argv[1]), sys.argv[2], sys.argv[3].split(";")
torch.set_num_threads(1)
distributed.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
for case in cases:  # "bad step of rank 0,bad step of rank 1" (-1: every loss finite)
    bad = [int(value) for value in case.split(",")]
    try:
        torch_training.check_finite(torch.tensor(bad[rank]), "unused-run-dir")
        print("finite")
    except training.NonFiniteLoss as error:
        print(f"stopped at {error.step}")
distributed.destroy_process_group()
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_two_ranks(bad_steps: str) -> list[str]:
    port = str(free_port())
    processes = [
        subprocess.Popen([sys.executable, "-c", PROGRAM, str(rank), port, bad_steps],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for rank in (0, 1)
    ]
    outputs = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, stderr
        outputs.append(stdout.strip())
    return outputs


def test_every_rank_stops_at_the_first_bad_step_of_any_rank():
    cases = {"-1,7": "stopped at 7", "9,4": "stopped at 4", "-1,-1": "finite"}  # rank 1 alone; the first; none
    expected = "\n".join(cases.values())
    assert run_two_ranks(";".join(cases)) == [expected, expected]


def test_a_single_process_reads_its_own_step():
    from specc.runtime.torch import training as torch_training

    assert torch_training.first_bad_step_of_any_rank(torch.tensor(-1)) == -1
    assert torch_training.first_bad_step_of_any_rank(torch.tensor(3)) == 3


MLX_PROGRAM = r"""
import sys
import mlx.core as mx
from specc.runtime.mlx import training as mlx_training

group = mx.distributed.init()
for case in sys.argv[1].split(";"):  # "bad step of rank 0,bad step of rank 1" (-1: every loss finite)
    flag = mlx_training.NonFiniteFlag()
    flag.value = mx.array(int(case.split(",")[group.rank()]), dtype=mx.int32)
    bad = flag.first_bad()
    print("finite" if bad is None else f"stopped at {bad}", flush=True)
"""


def test_every_mlx_rank_stops_at_the_first_bad_step_of_any_rank(tmp_path):
    """The same under mlx.launch (ring, two processes on this machine)."""
    pytest.importorskip("mlx.core")
    import shutil

    launcher = shutil.which("mlx.launch") or str(__import__("pathlib").Path(sys.executable).parent / "mlx.launch")
    script = tmp_path / "flag.py"
    script.write_text(MLX_PROGRAM, encoding="utf-8")
    cases = {"-1,7": "stopped at 7", "9,4": "stopped at 4", "-1,-1": "finite"}
    result = subprocess.run(
        [launcher, "-n", "2", "--backend", "ring", "--python", sys.executable, str(script), ";".join(cases)],
        capture_output=True, text=True, timeout=180,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    lines = [line.split("]", 1)[-1].strip() for line in result.stdout.splitlines() if line.strip()]
    assert sorted(lines) == sorted(list(cases.values()) * 2)
