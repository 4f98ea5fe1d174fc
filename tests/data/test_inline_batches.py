"""The Loader's default prefetch: batches that are rows of in-memory arrays are built in the
consumer's thread (no executor, no future); sources that generate, read files or run
transforms keep a prefetch thread; an explicit ``prefetch`` / ``workers`` wins. The batches,
their order and resume are the same either way (runtime/data/loader.py)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from specc.runtime.data import Loader, loader_options, make_source


def digits():
    return make_source("digits")


def npz_pool(folder, dtype=np.float32):
    generator = np.random.default_rng(0)
    path = folder / "pool.npz"
    np.savez(path, x=generator.standard_normal((90, 3)).astype(dtype), y=np.arange(90) % 4)
    return make_source("npz", path=str(path))


def npz_splits(folder):
    generator = np.random.default_rng(1)
    (folder / "splits").mkdir()
    for split, count in (("train", 70), ("val", 13)):
        np.savez(folder / "splits" / f"{split}.npz", x=generator.standard_normal((count, 2)).astype(np.float32),
                 y=np.arange(count))
    return make_source("npz", path=str(folder / "splits"))


def take(loader, count):
    return list(itertools.islice(loader.forever(), count))


def assert_same(first, second):
    assert len(first) == len(second)
    for left, right in zip(first, second):
        assert list(left) == list(right)
        for name in left:
            assert left[name].dtype == right[name].dtype
            np.testing.assert_array_equal(left[name], right[name])


def no_pool(self):
    raise AssertionError("an in-memory source started a prefetch pool")


def test_in_memory_rows_are_built_in_the_consumers_thread_by_default(monkeypatch):
    monkeypatch.setattr(Loader, "_pool", no_pool)
    for split in ("train", "val", "train_eval"):
        loader = Loader(digits(), split, 64, seed=0, **loader_options({}, split))
        assert (loader.prefetch, loader.lookahead) == (0, 0), split
        assert len(list(loader.epoch_batches(0))) == loader.batches_per_epoch


def test_sources_that_do_work_per_batch_keep_the_prefetch_thread(tmp_path):
    ksin = make_source("ksin", k=2, signal_length=16, sizes=(50, 20, 20), seed=0)
    assert Loader(ksin, "train", 8, seed=0).prefetch == 2  # generated per batch
    np.save(tmp_path / "x.npy", np.zeros((40, 2), dtype=np.float32))
    npy = make_source("npy", path=str(tmp_path))
    assert npy.memory_arrays("train") is None  # a memory map: rows are read from the file
    assert Loader(npy, "train", 8, seed=0).prefetch == 2
    converted = npz_pool(tmp_path, np.float64)  # stored float64, served float32: converted per batch
    assert Loader(converted, "train", 8, seed=0).prefetch == 2
    options = loader_options({"transforms": ({"kind": "normalize", "eps": 1e-8, "field": None},)}, "train")
    assert Loader(digits(), "train", 8, seed=0, **options).prefetch == 2  # a data transform
    assert Loader(digits(), "train", 8, seed=0, transform=lambda batch, rng: batch).prefetch == 2  # draws
    assert Loader(digits(), "train", 8, seed=0, repeat_first_batch=True).prefetch == 2


def test_an_explicit_prefetch_or_workers_wins():
    assert Loader(digits(), "train", 8, seed=0, prefetch=3).lookahead == 3
    workers = Loader(digits(), "train", 8, seed=0, workers=2)
    assert (workers.prefetch, workers.lookahead) == (2, 4)
    spec_options = loader_options({"prefetch_factor": 2}, "train")
    assert Loader(digits(), "train", 8, seed=0, **spec_options).lookahead == 2


def regression(folder):
    return make_source("synthetic_regression", num_features=3, sizes=(70, 20, 0), seed=2)


@pytest.mark.parametrize("make", [lambda folder: digits(), npz_pool, npz_splits, regression])
def test_inline_batches_and_resume_equal_the_prefetched_ones(make, tmp_path):
    source = make(tmp_path)
    assert source.memory_arrays("train") is not None
    inline = Loader(source, "train", 16, seed=4)
    threaded = Loader(source, "train", 16, seed=4, prefetch=2)
    assert (inline.lookahead, threaded.lookahead) == (0, 2)
    count = 3 * inline.batches_per_epoch + 2
    assert_same(take(inline, count), take(threaded, count))
    stopped = Loader(source, "train", 16, seed=4)
    take(stopped, inline.batches_per_epoch + 1)
    resumed = Loader(source, "train", 16, seed=4)
    resumed.load_state_dict(stopped.state_dict())
    uninterrupted = take(Loader(source, "train", 16, seed=4, prefetch=2), inline.batches_per_epoch + 6)
    assert_same(take(resumed, 5), uninterrupted[-5:])
    for split in ("val", "train_eval"):
        options = loader_options({}, split)
        evaluation = list(Loader(source, split, 16, seed=4, **options).epoch_batches(0))
        reference = list(Loader(source, split, 16, seed=4, **{**options, "prefetch": 2}).epoch_batches(0))
        assert_same(evaluation, reference)


def test_inline_batches_shard_like_the_prefetched_ones():
    for rank in (0, 1):
        inline = Loader(digits(), "train", 64, seed=2).shard(rank, 2)
        threaded = Loader(digits(), "train", 64, seed=2, prefetch=2).shard(rank, 2)
        first, second = take(inline, 4), take(threaded, 4)
        assert len(first[0]["x"]) == 32
        assert_same(first, second)


def test_a_dtype_declared_after_the_loader_is_made_is_served(tmp_path):
    source = npz_pool(tmp_path)  # y stored int64
    inline = Loader(source, "train", 16, seed=1)
    assert inline.prefetch == 0
    source.serve_declared({"y": ("i32", ())})  # from now on y is served as int32: no longer rows as stored
    batches = take(inline, 3)
    assert batches[0]["y"].dtype == np.int32
    assert_same(batches, take(Loader(source, "train", 16, seed=1, prefetch=2), 3))
