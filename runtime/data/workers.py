"""Process workers of ``Loader`` (``worker_type = process``).

The pool uses the ``spawn`` start method: the parent has usually imported jax, torch or
mlx, whose threads make ``fork`` unsafe, and ``spawn`` exists on every platform. Each
worker receives the loader once (pickled when the worker starts: the source, its arrays
and the transforms, all picklable) and then computes batches from their
``(epoch, batch_index)``. A batch is a pure function of (seed, stream, epoch, batch index),
so process workers hand out exactly the batches of thread workers, in the same order, and
resume at the same position.

An error raised in a worker is re-raised in the consumer with its type and message; a
worker that dies (killed, out of memory) ends the pass with one ``RuntimeError`` naming the
split.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

START_METHOD = "spawn"

_worker_loader = None  # the loader of this worker process
_worker_order = (None, None)  # (epoch, order) of the last epoch this worker served


def _start(loader) -> None:
    global _worker_loader, _worker_order
    _worker_loader, _worker_order = loader, (None, None)


def _batch(epoch: int, batch_index: int) -> dict:
    global _worker_order
    if _worker_order[0] != epoch:
        _worker_order = (epoch, _worker_loader.order(epoch))
    return _worker_loader.batch(epoch, batch_index, _worker_order[1])


def process_pool(loader, workers: int) -> ProcessPoolExecutor:
    """A pool of ``workers`` spawned processes, each holding a copy of ``loader``."""
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context(START_METHOD),
        initializer=_start,
        initargs=(loader,),
    )


def submit(executor: ProcessPoolExecutor, epoch: int, batch_index: int, split: str):
    """The future of batch ``batch_index`` of ``epoch`` computed in a worker process.

    A pool that a dead worker has already broken refuses new work: that is the same
    one-line error as a future that fails (which of the two the consumer meets first
    depends on when the pool notices the death).
    """
    try:
        return executor.submit(_batch, epoch, batch_index)
    except BrokenProcessPool as error:
        raise _stopped(split, error) from None


def result(future, split: str) -> dict:
    """The batch of ``future``; a dead worker becomes one clear ``RuntimeError``."""
    try:
        return future.result()
    except BrokenProcessPool as error:
        raise _stopped(split, error) from None


def _stopped(split: str, error: BrokenProcessPool) -> RuntimeError:
    return RuntimeError(f"data loader: a worker process of the {split} split stopped unexpectedly ({error})")
