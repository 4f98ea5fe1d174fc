"""JAX follows OMP_NUM_THREADS as torch does: XLA's CPU pool ignores it, so the script turns
it into XLA flags before the backend starts (runtime/jax/training.follow_thread_count)."""

from __future__ import annotations

import pytest

pytest.importorskip("jax")

from specc.runtime.jax.training import follow_thread_count


def flags_for(environment: dict) -> str | None:
    follow_thread_count(environment)
    return environment.get("XLA_FLAGS")


def test_one_thread_turns_off_the_eigen_pool():
    assert flags_for({"OMP_NUM_THREADS": "1"}) == "--intra_op_parallelism_threads=1 --xla_cpu_multi_thread_eigen=false"


def test_n_threads_bound_the_pool_and_keep_the_users_flags():
    environment = {"OMP_NUM_THREADS": "4", "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    assert flags_for(environment) == "--xla_force_host_platform_device_count=2 --intra_op_parallelism_threads=4"


@pytest.mark.parametrize("environment", [
    {},  # unset: XLA's own default
    {"OMP_NUM_THREADS": "auto"},
    {"OMP_NUM_THREADS": "0"},
    {"OMP_NUM_THREADS": "1", "XLA_FLAGS": "--intra_op_parallelism_threads=2"},  # the user's choice wins
])
def test_nothing_changes_without_a_thread_count_or_with_one_in_the_flags(environment):
    before = environment.get("XLA_FLAGS")
    assert flags_for(dict(environment)) == before
