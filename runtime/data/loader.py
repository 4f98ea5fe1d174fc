"""A deterministic, resumable batch loader over a ``Source``.

Order: epoch e visits ``np.random.default_rng([seed, e]).permutation(n)`` (or ``0..n-1``
without shuffling) in consecutive batches; with ``drop_last`` the incomplete tail is
dropped. Randomness: batch b of epoch e gets its own generator
``np.random.default_rng([seed, stream, e, b])``, passed to ``transform(batch, rng)``; no
generator state is carried, so a batch is a pure function of (seed, stream, epoch, b) and
resuming from ``state_dict()`` reproduces the uninterrupted run exactly. ``stream``
defaults to the split's index (train 0, val 1, test 2, train_eval 3), so evaluation never
draws from training's generators. ``train_eval`` (``eval { on_train = true }``) is the
training examples read as evaluation reads them (``source.examples_of``).

``repeat_first_batch`` (debugging): every training batch holds the examples of batch 0 of
epoch 0 (its rows, or its drawn windows, and its data transforms with their draws), while
the objective's draws (``transform``) stay those of the batch's own (epoch, index): a flow
sees new noise and times on the same examples. Epoch length, evaluation and the resumable
position are unchanged, so resume stays exact.

Sources that draw (``streams.TokenStream``: random windows of a token stream, with
replacement) are asked for each training batch with ``default_rng([seed, stream, e, b, 2])``
instead of being indexed by the epoch's order; evaluation indexes their fixed windows.

Data transforms (``transforms``: normalize, clip, random gain, ...; see ``transforms.py``)
run first, on the batch as the source returns it, with their own generator
``default_rng([seed, stream, e, b, 1])``; then ``transform`` (the objective's draws) with
``default_rng([seed, stream, e, b])``. Adding an augmentation therefore never changes the
objective's noise, times or masks.

Workers (the data section's loader keys, ``loader_options``):

- ``workers`` (``num_workers``): threads producing batches ahead of the consumer. 0: one
  background thread when ``prefetch > 0`` (the consumer's thread when ``prefetch = 0``).
  Batches are handed out in order whatever the thread timing (each is a pure function of
  (seed, epoch, b)), so the batches and resume are identical for every worker count.
- ``prefetch`` (``prefetch_factor``): batches loaded ahead per worker; at most
  ``max(1, prefetch) * max(1, workers)`` batches are in flight (``prefetch`` with 0 workers).
  ``None`` (the default) decides once, when the loader is made: 0 (batches built in the
  consumer's thread) when a batch is nothing but rows of in-memory arrays
  (``Source.memory_arrays``: digits, npz, synthetic_regression) and neither data transforms
  nor the objective's draws run on it, so a batch costs one fancy index per field and no
  thread hand-off; otherwise 2 (ksin, synthetic audio, wav folders, npy memory maps, hdf5,
  token streams, python sources, fake data, any transform). An explicit ``prefetch`` or
  ``workers > 0`` always wins.
- ``worker_type``: ``thread`` (a thread pool) or ``process`` (a pool of spawned processes,
  see ``workers.py``: the loader is pickled once into each worker); the batches, their
  order and the resumable position are the same for both.
- ``persistent_workers``: keep the thread pool between epochs (and between evaluation
  passes) instead of starting one per pass; ``close()`` stops it.
- ``pin_memory`` (default on): recorded for the backend. Lightning's DataLoader pins the
  tensors it makes from the numpy batch when a CUDA GPU is present, and Lightning copies them
  with ``non_blocking=True``; the numpy batches themselves do not change.

Data parallel (``shard(rank, ranks)``): ``batch_size`` stays the global batch. Each rank
draws the whole global batch (same order, same transforms and objective draws, which are
keyed by the global batch) and keeps its rows ``[n * rank // ranks, n * (rank + 1) // ranks)``
(``specc.runtime.training.distributed.shard_batch``), so the ranks' rows in rank order are
exactly the single-process batch. A training batch must divide evenly by ``ranks``; an
evaluation batch need not (shards differ by one row at most, none is padded, so every
example is evaluated exactly once).
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from specc.runtime import checks
from specc.runtime.data import workers as process_workers
from specc.runtime.data.sources import READ_SPLITS
from specc.runtime.data.transforms import apply_transforms, build_transforms, parse_transform
from specc.runtime.training.distributed import batch_rows, check_divisible, shard_batch

TRANSFORM_STREAM = 1  # last entry of the data transforms' generator key
WINDOW_STREAM = 2  # last entry of the random windows' generator key (streams.py)


class Loader:
    """Batches of ``source``'s ``split``; iterate it for the rest of the current epoch,
    ``forever()`` for step-based training, ``epoch_batches(e)`` for a stateless pass."""

    def __init__(
        self,
        source,
        split: str,
        batch_size: int,
        seed: int,
        shuffle: bool = True,
        drop_last: bool = True,
        transform=None,
        prefetch: int | None = None,
        workers: int = 0,
        stream: int | None = None,
        transforms=(),
        persistent_workers: bool = False,
        pin_memory: bool = True,
        worker_type: str = "thread",
        limit_batches: int | None = None,
        repeat_first_batch: bool = False,
    ):
        checks.check_choice("Loader", "split", split, READ_SPLITS)
        checks.check_positive("Loader", "batch_size", batch_size)
        if prefetch is not None:
            checks.check_non_negative("Loader", "prefetch", prefetch)
        checks.check_non_negative("Loader", "workers", workers)
        checks.check_choice("Loader", "worker_type", worker_type, WORKER_TYPES)
        self.source, self.split, self.batch_size, self.seed = source, split, int(batch_size), int(seed)
        self.shuffle, self.drop_last = bool(shuffle), bool(drop_last)
        self.transforms = (
            tuple(transform) if isinstance(transform, (list, tuple)) else ((transform,) if transform else ())
        )
        self.data_transforms = tuple(parse_transform(item) for item in transforms or ())
        self.workers = int(workers)
        self.persistent_workers, self.pin_memory = bool(persistent_workers), bool(pin_memory)
        self.worker_type = worker_type
        self.limit_batches = None if limit_batches is None else int(limit_batches)
        self.repeat_first_batch = bool(repeat_first_batch)
        if self.limit_batches is not None:
            checks.check_positive("Loader", "limit_batches", self.limit_batches)
        self._executor = None
        self.heartbeat = None  # called as each batch is handed out (set by a data-parallel run)
        self.stream = READ_SPLITS.index(split) if stream is None else int(stream)
        self.size = source.size(split)
        if self.drop_last and self.size < self.batch_size and not self.draws_windows:
            raise ValueError(
                f"Loader: the {split} split has {self.size} examples, fewer than batch_size = {self.batch_size} "
                "(with drop_last every batch must be full)"
            )
        self.epoch, self.batch_index = 0, 0
        self.rank, self.ranks = 0, 1
        self.indexes_memory = self._indexes_memory()
        inline = self.indexes_memory and not self.workers  # no thread hand-off: it costs more than the batch
        self.prefetch = int(prefetch) if prefetch is not None else (0 if inline else 2)

    def _indexes_memory(self) -> bool:
        """A batch is rows of the source's in-memory arrays and nothing else
        (``source.memory_arrays``; no data transforms, no objective draws, no drawn windows,
        not repeating the first batch)."""
        if self.transforms or self.data_transforms or self.draws_windows or self.repeat_first_batch:
            return False
        return self.source.memory_arrays(self.split) is not None

    def shard(self, rank: int, ranks: int) -> "Loader":
        """Hand out rank ``rank``'s rows (of ``ranks``) of every batch; returns the loader."""
        if not 0 <= int(rank) < int(ranks):
            raise ValueError(f"Loader: rank must be in [0, {ranks}), got {rank}")
        if self.drop_last:  # training: every rank's part of a step has the same size
            check_divisible(self.batch_size, int(ranks))
        self.close()  # process workers hold a copy of the loader: new ones see the shard
        self.rank, self.ranks = int(rank), int(ranks)
        return self

    @property
    def batches_per_epoch(self) -> int:
        """``n // batch_size`` with ``drop_last``, else ``ceil(n / batch_size)``; at least 1 for
        a source that draws (its windows are drawn with replacement, each batch full); at most
        ``limit_batches`` (``train.limit_train_batches``: the epoch ends there)."""
        if self.draws_windows:
            count = max(1, self.size // self.batch_size)
        else:
            count = self.size // self.batch_size if self.drop_last else -(-self.size // self.batch_size)
        return count if self.limit_batches is None else min(count, self.limit_batches)

    def __len__(self) -> int:
        return self.batches_per_epoch

    def order(self, epoch: int) -> np.ndarray:
        """The example order of an epoch: ``default_rng([seed, epoch]).permutation(n)``."""
        if not self.shuffle or self.draws_windows:
            return np.arange(self.size)
        return np.random.default_rng([self.seed, int(epoch)]).permutation(self.size)

    def generator(self, epoch: int, batch_index: int) -> np.random.Generator:
        """The generator of one batch: ``default_rng([seed, stream, epoch, batch_index])``."""
        return np.random.default_rng([self.seed, self.stream, int(epoch), int(batch_index)])

    @property
    def draws_windows(self) -> bool:
        """A shuffled loader over a source that draws its batches (``draw``: the random
        windows of ``streams.TokenStream``) asks it for each batch instead of indexing."""
        return self.shuffle and hasattr(self.source, "draw")

    def window_generator(self, epoch: int, batch_index: int) -> np.random.Generator:
        """The window draws' generator: ``default_rng([seed, stream, epoch, batch_index, 2])``."""
        return np.random.default_rng([self.seed, self.stream, int(epoch), int(batch_index), WINDOW_STREAM])

    def transform_generator(self, epoch: int, batch_index: int) -> np.random.Generator:
        """The data transforms' generator: ``default_rng([seed, stream, epoch, batch_index, 1])``."""
        return np.random.default_rng([self.seed, self.stream, int(epoch), int(batch_index), TRANSFORM_STREAM])

    def batch(self, epoch: int, batch_index: int, order: np.ndarray | None = None) -> dict:
        """Batch ``batch_index`` of ``epoch``, transformed: a pure function of its arguments
        (with ``repeat_first_batch``, the examples of batch 0 of epoch 0)."""
        batch = self.examples(0, 0, None) if self.repeat_first_batch else self.examples(epoch, batch_index, order)
        if self.transforms:
            generator = self.generator(epoch, batch_index)
            for transform in self.transforms:
                batch = transform(batch, generator)
        return shard_batch(batch, self.rank, self.ranks)

    def examples(self, epoch: int, batch_index: int, order: np.ndarray | None = None) -> dict:
        """The examples of batch ``batch_index`` of ``epoch`` after the data transforms, before
        the objective's draws."""
        if self.draws_windows:
            batch = self.source.draw(self.split, self.batch_size, self.window_generator(epoch, batch_index))
        else:
            order = self.order(epoch) if order is None else order
            rows = order[batch_index * self.batch_size : (batch_index + 1) * self.batch_size]
            batch = self.source.get(self.split, rows)
        if self.data_transforms:
            batch = apply_transforms(self.data_transforms, batch, self.transform_generator(epoch, batch_index))
        return batch

    @property
    def lookahead(self) -> int:
        """Batches in flight: ``max(1, prefetch) * max(1, workers)`` (``prefetch`` without workers)."""
        if self.workers == 0:
            return self.prefetch
        return max(1, self.prefetch) * self.workers

    @property
    def uses_processes(self) -> bool:
        """Batches are computed in worker processes (``worker_type = process``, workers > 0)."""
        return self.worker_type == "process" and self.workers > 0

    def __getstate__(self) -> dict:
        """The loader without its pool and heartbeat (pickled into process workers)."""
        return {**self.__dict__, "_executor": None, "heartbeat": None}

    def _pool(self):
        if self._executor is not None:
            return self._executor
        if self.uses_processes:
            executor = process_workers.process_pool(self, self.workers)
        else:
            executor = ThreadPoolExecutor(max_workers=max(1, self.workers), thread_name_prefix="specc-loader")
        if self.persistent_workers:
            self._executor = executor
        return executor

    def close(self) -> None:
        """Stop the persistent workers (a later pass starts new ones)."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    def epoch_batches(self, epoch: int, start: int = 0):
        """Yield batches ``start, start + 1, ...`` of ``epoch`` (prefetched); no state changes."""
        batches = self._prefetched(epoch, start)
        if self.ranks > 1:  # a rank's share of a short evaluation batch may be empty: skipped
            batches = (batch for batch in batches if batch_rows(batch))
        for batch in batches:
            if self.heartbeat is not None:  # a data-parallel rank's progress (training.peer_watchdog)
                self.heartbeat()
            yield batch

    def _prefetched(self, epoch: int, start: int):
        order = self.order(epoch)
        count = self.batches_per_epoch
        memory = self.source.memory_arrays(self.split) if self.lookahead == 0 and self.indexes_memory else None
        if memory is not None:  # asked each pass: a dtype the source serves may have changed
            yield from self._indexed(memory, order, start, count)
            return
        if self.lookahead == 0:
            for index in range(start, count):
                yield self.batch(epoch, index, order)
            return
        executor = self._pool()
        pending, following = deque(), start
        try:
            while pending or following < count:
                while following < count and len(pending) < self.lookahead:
                    pending.append(self._submit(executor, epoch, following, order))
                    following += 1
                yield process_workers.result(pending.popleft(), self.split)
        finally:
            for future in pending:
                future.cancel()
            if executor is not self._executor:
                executor.shutdown(wait=False, cancel_futures=True)

    def _indexed(self, memory: tuple, order: np.ndarray, start: int, count: int):
        """Batches of in-memory arrays (``source.memory_arrays``) in the consumer's thread:
        one fancy index per field (the same arrays as ``batch``, which goes through
        ``source.get``)."""
        arrays, selection = memory
        rows = order if selection is None else selection[order]
        size, fields = self.batch_size, tuple(arrays.items())
        for index in range(start, count):
            chosen = rows[index * size : (index + 1) * size]
            batch = {name: array[chosen] for name, array in fields}
            yield batch if self.ranks == 1 else shard_batch(batch, self.rank, self.ranks)

    def _submit(self, executor, epoch: int, batch_index: int, order: np.ndarray):
        if self.uses_processes:
            return process_workers.submit(executor, epoch, batch_index, self.split)
        return executor.submit(self.batch, epoch, batch_index, order)

    def __iter__(self):
        """The rest of the current epoch; the position advances as each batch is handed out."""
        self._normalize()
        epoch = self.epoch
        for batch in self.epoch_batches(epoch, self.batch_index):
            self.batch_index += 1
            yield batch
        self._normalize()

    def forever(self):
        """Batches across epochs without end (step-based training)."""
        if self.batches_per_epoch == 0:
            raise ValueError(f"Loader: the {self.split} split has no batches")
        while True:
            yield from self

    def _normalize(self) -> None:
        if self.batches_per_epoch and self.batch_index >= self.batches_per_epoch:
            self.epoch, self.batch_index = self.epoch + 1, 0

    def state_dict(self) -> dict:
        """``{"epoch", "batch_index"}`` of the next batch to hand out."""
        epoch, index = self.epoch, self.batch_index
        if self.batches_per_epoch and index >= self.batches_per_epoch:
            epoch, index = epoch + 1, 0
        return {"epoch": int(epoch), "batch_index": int(index)}

    def load_state_dict(self, state: dict) -> None:
        """Resume at ``state`` (from :meth:`state_dict`): the next batch is exactly the one
        the interrupted run would have drawn."""
        epoch, index = int(state["epoch"]), int(state["batch_index"])
        checks.check_non_negative("Loader", "epoch", epoch)
        checks.check_non_negative("Loader", "batch_index", index)
        self.epoch, self.batch_index = epoch, index


# The data section's loader keys: spec key -> (Loader keyword, default). They reach the
# script inside ``data_arguments`` (``make_source`` ignores them); ``loader_options`` turns
# them into Loader keywords.
LOADER_OPTIONS = {
    "num_workers": ("workers", 0),
    "prefetch_factor": ("prefetch", None),  # None: decided by the Loader (in-memory rows: 0)
    "persistent_workers": ("persistent_workers", False),
    "pin_memory": ("pin_memory", True),
    "drop_last": ("drop_last", True),
    "shuffle": ("shuffle", True),
    "worker_type": ("worker_type", "thread"),
    "transforms": ("transforms", ()),
    "repeat_first_batch": ("repeat_first_batch", False),
    "fake": (None, False),  # read by make_source (fake.FakeSource), not the Loader
}
WORKER_TYPES = ("thread", "process")


def loader_options(arguments: dict, split: str, accumulate: int = 1) -> dict:
    """Keyword arguments of ``Loader`` for ``split`` from the data section's arguments.

    ``train``: shuffled unless ``shuffle = false`` (then the source's order every epoch),
    every option as written (``repeat_first_batch``: the first batch's examples at every
    step). ``fake`` is no Loader keyword (``make_source`` reads it). ``val`` / ``test`` / ``train_eval``: in
    order, never dropping the tail (every example is evaluated), only the deterministic
    transforms (see ``transforms.build_transforms``); workers, prefetch, persistence and
    pinning as for train.
    ``accumulate`` (train.accumulate): micro-batches stacked into one step need equal sizes,
    so ``drop_last = false`` with ``accumulate > 1`` is a ValueError.
    """
    checks.check_choice("loader_options", "split", split, READ_SPLITS)
    values = {key: default for key, (_, default) in LOADER_OPTIONS.items()}
    values.update({key: value for key, value in arguments.items() if key in LOADER_OPTIONS and value is not None})
    checks.check_choice("data", "worker_type", values["worker_type"], WORKER_TYPES)
    if split == "train" and not values["drop_last"] and int(accumulate) > 1:
        raise ValueError(
            f"data: drop_last = false needs train.accumulate = 1 (got {accumulate}): the micro-batches of a step "
            "are stacked and must all be full"
        )
    options = {keyword: values[key] for key, (keyword, _) in LOADER_OPTIONS.items() if keyword and key != "transforms"}
    options["transforms"] = build_transforms(values["transforms"], split)
    options["shuffle"] = split == "train" and bool(values["shuffle"])  # evaluation: always in order
    if split != "train":
        options["drop_last"] = False
        options["repeat_first_batch"] = False  # evaluation reads every example
    return options
