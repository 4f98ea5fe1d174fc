"""Where a generated script runs among data-parallel processes (stdlib only).

The spec says what training means (``batch_size`` is the global batch); the command line
(``--devices``, ``--num-nodes``) and the launchers' environment variables say where it runs.
A process is the *main process* (rank 0) unless a launcher says otherwise: ``RANK``
(torchrun, Lightning), ``LOCAL_RANK`` / ``NODE_RANK`` (Lightning's own launcher sets them in
the processes it starts), ``MLX_RANK`` (``mlx.launch``), ``SLURM_PROCID`` (``srun``),
``OMPI_COMM_WORLD_RANK`` (Open MPI's ``mpirun``), ``SPECC_PROCESS_ID`` (JAX processes joined
through ``SPECC_COORDINATOR``: ``specc.runtime.jax.processes``).
Only the main process locks the run directory and writes run files, metrics.csv, the other
loggers and checkpoints; every process computes the same replicated state, so rank 0's copy
is the run's.

Sharding a batch: rank ``r`` of ``n`` keeps the rows ``[count * r // n, count * (r + 1) // n)``
of every batch, so the ranks' rows, concatenated in rank order, are exactly the batch a
single process draws (training batches must divide evenly; an evaluation batch may not, and
its shards differ by at most one row).
"""

from __future__ import annotations

import os

RANK_VARIABLES = ("RANK", "LOCAL_RANK", "NODE_RANK", "MLX_RANK", "SLURM_PROCID", "OMPI_COMM_WORLD_RANK", "SPECC_PROCESS_ID")


def is_main_process(environ=None) -> bool:
    """True unless a launcher's variable (``RANK_VARIABLES``) names a rank other than 0."""
    environ = os.environ if environ is None else environ
    for name in RANK_VARIABLES:
        value = environ.get(name, "0").strip() or "0"
        if value.isdigit() and int(value) != 0:
            return False
    return True


def shard_bounds(count: int, rank: int, ranks: int) -> tuple[int, int]:
    """Rows ``[start, stop)`` of a ``count``-row batch that rank ``rank`` of ``ranks`` keeps."""
    if ranks < 1 or not 0 <= rank < ranks:
        raise ValueError(f"shard_bounds: rank must be in [0, {ranks}), got {rank}")
    return count * rank // ranks, count * (rank + 1) // ranks


def shard_batch(batch: dict, rank: int, ranks: int) -> dict:
    """Rank ``rank``'s rows of ``batch`` (every array whose first axis is the batch's)."""
    if ranks == 1:
        return batch
    count = batch_rows(batch)
    start, stop = shard_bounds(count, rank, ranks)
    return {
        name: value[start:stop] if getattr(value, "ndim", 0) >= 1 and len(value) == count else value
        for name, value in batch.items()
    }


def batch_rows(batch: dict) -> int:
    """The number of rows of a batch: the first axis of its first array field."""
    for value in batch.values():
        if getattr(value, "ndim", 0) >= 1:
            return len(value)
    raise ValueError("shard_batch: the batch has no array field")


def check_divisible(batch_size: int, ranks: int, what: str = "batch_size") -> None:
    """``batch_size`` (the global batch) must divide by the number of data-parallel ranks."""
    if ranks > 1 and batch_size % ranks:
        raise ValueError(
            f"{what} = {batch_size} (the global batch) does not divide by the {ranks} data-parallel "
            f"ranks: choose a batch size that is a multiple of {ranks}"
        )
