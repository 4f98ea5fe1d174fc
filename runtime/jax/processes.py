"""JAX across processes: ``jax.distributed.initialize`` for ``--num-nodes N`` (N above 1).

One process per node (or per launcher task), each over its ``--devices`` local devices; the
mesh spans every process's devices. Where the processes come from:

- ``SPECC_COORDINATOR=host:port`` and ``SPECC_PROCESS_ID=i`` (0 .. N-1) set by whoever starts
  the processes (a shell loop, ``pdsh``, a job script): ``jax.distributed.initialize(
  coordinator_address=host:port, num_processes=N, process_id=i)``; process 0 runs the
  coordinator at that address;
- otherwise JAX's own detection (SLURM's ``srun``, Open MPI's ``mpirun``, Cloud TPU pods):
  ``jax.distributed.initialize()`` with no arguments, then the number of processes it
  found must equal ``--num-nodes``.

On the CPU the processes reduce through gloo (``jax_cpu_collectives_implementation``).
Every failure to join is one line (``SystemExit``).
"""

from __future__ import annotations

import os

import jax

COORDINATOR = "SPECC_COORDINATOR"
PROCESS_ID = "SPECC_PROCESS_ID"


def join_processes(num_nodes: int, environ=None) -> None:
    """Join the ``num_nodes`` processes of the run (nothing when ``num_nodes`` is 1). Must
    run before JAX touches a device."""
    if num_nodes <= 1:
        return
    environ = os.environ if environ is None else environ
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    coordinator = environ.get(COORDINATOR, "").strip()
    try:
        if coordinator:
            jax.distributed.initialize(
                coordinator_address=coordinator, num_processes=num_nodes, process_id=process_id(num_nodes, environ)
            )
        else:
            jax.distributed.initialize()
    except (RuntimeError, ValueError) as error:
        where = f"{COORDINATOR}={coordinator}" if coordinator else f"JAX's cluster detection ({COORDINATOR} is not set)"
        raise SystemExit(f"--num-nodes {num_nodes}: jax.distributed.initialize failed through {where}: {one_line(error)}") from None
    if jax.process_count() != num_nodes:
        raise SystemExit(
            f"--num-nodes {num_nodes}: jax.distributed found {jax.process_count()} process(es); "
            f"start one process a node, or set {COORDINATOR} and {PROCESS_ID}"
        )


def process_id(num_nodes: int, environ) -> int:
    """``SPECC_PROCESS_ID``: this process's index in ``[0, num_nodes)`` (one line if not)."""
    value = environ.get(PROCESS_ID, "").strip()
    if not value.isdigit() or int(value) >= num_nodes:
        raise SystemExit(
            f"--num-nodes {num_nodes} with {COORDINATOR} set: {PROCESS_ID} must be a process index "
            f"from 0 to {num_nodes - 1}, got {value!r}"
        )
    return int(value)


def one_line(error: BaseException) -> str:
    """The first line of ``error``'s message."""
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def host_arrays(tree):
    """``tree`` with every array split over several processes' devices (``train.parallel =
    sharded`` across processes) gathered whole into a numpy array on every process
    (``multihost_utils.process_allgather``: a collective, so every process calls it at the
    same point); the other leaves unchanged. Nothing happens in one process."""
    if jax.process_count() == 1:
        return tree
    from jax.experimental import multihost_utils

    def gathered(leaf):
        if isinstance(leaf, jax.Array) and not (leaf.is_fully_addressable or leaf.is_fully_replicated):
            return multihost_utils.process_allgather(leaf, tiled=True)
        return leaf

    return jax.tree_util.tree_map(gathered, tree)
