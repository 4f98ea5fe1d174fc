"""benchmarks/gpu_check.sh runs only where a GPU exists (it is not part of CI); here its one
path that a machine without a GPU takes: one line on stderr, exit status 1, nothing run."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check.sh"
MESSAGE = "gpu_check: no GPU on this machine (nvidia-smi lists no CUDA GPU and there is no Metal GPU); run it on a GPU machine"


def run_without_gpus(tmp_path, nvidia_smi: str | None):
    """The script with ``nvidia-smi`` replaced by a shell script printing ``nvidia_smi``
    (None: no nvidia-smi on the PATH at all)."""
    folder = tmp_path / "bin"
    folder.mkdir()
    if nvidia_smi is not None:
        fake = folder / "nvidia-smi"
        fake.write_text(f"#!/bin/sh\n{nvidia_smi}\n")
        fake.chmod(0o755)
    system_path = ":".join(part for part in os.environ["PATH"].split(":") if not (Path(part) / "nvidia-smi").exists())
    environment = {**os.environ, "PATH": f"{folder}:{system_path}"}
    return subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, env=environment, timeout=120, check=False)


@pytest.mark.skipif(platform.system() == "Darwin", reason="a Mac has a Metal GPU")
@pytest.mark.parametrize(
    "nvidia_smi",
    [None, "exit 0", "echo 'NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver' >&2; exit 9"],
    ids=["no nvidia-smi", "no GPU listed", "no driver"],
)
def test_without_a_gpu_the_check_stops_with_one_line(tmp_path, nvidia_smi):
    result = run_without_gpus(tmp_path, nvidia_smi)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.strip() == MESSAGE


def test_the_script_is_executable_and_valid_bash():
    assert os.access(SCRIPT, os.X_OK)
    assert subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True, check=False).returncode == 0
