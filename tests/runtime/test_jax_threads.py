"""JAX follows OMP_NUM_THREADS=1 as torch does: XLA's CPU pool ignores it, so the script
turns it into an XLA flag before the backend starts (runtime/jax/training.follow_thread_count)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytest.importorskip("jax")

from specc.runtime.jax.training import follow_thread_count


def flags_for(environment: dict) -> str | None:
    follow_thread_count(environment)
    return environment.get("XLA_FLAGS")


def test_one_thread_turns_off_the_eigen_pool_and_keeps_the_users_flags():
    assert flags_for({"OMP_NUM_THREADS": "1"}) == "--xla_cpu_multi_thread_eigen=false"
    environment = {"OMP_NUM_THREADS": "1", "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    assert flags_for(environment) == "--xla_force_host_platform_device_count=2 --xla_cpu_multi_thread_eigen=false"


@pytest.mark.parametrize("environment", [
    {},  # unset: XLA's own default
    {"OMP_NUM_THREADS": "4"},  # XLA has no flag for a count: its default
    {"OMP_NUM_THREADS": "1", "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=true"},  # the user's choice wins
])
def test_nothing_changes_otherwise(environment):
    before = environment.get("XLA_FLAGS")
    assert flags_for(dict(environment)) == before


def test_xla_accepts_the_flag():
    """XLA aborts on a flag it does not know: the one added must start a backend."""
    program = (
        "from specc.runtime.jax.training import follow_thread_count\n"
        "follow_thread_count()\n"
        "import jax.numpy as jnp\n"
        "print(float(jnp.ones(3).sum()))\n"
    )
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "JAX_PLATFORMS": "cpu"}
    environment.pop("XLA_FLAGS", None)
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, env=environment, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "3.0"
