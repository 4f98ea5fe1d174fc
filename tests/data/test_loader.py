"""Loader: deterministic order keyed by (seed, epoch), per-batch generators, exact resume."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from specc.runtime.data import Loader, flow_draws, make_source


def source():
    return make_source("ksin", k=2, signal_length=16, sizes=(50, 20, 20), seed=0)


def noisy(batch, rng):
    return {**batch, "noise": rng.standard_normal(batch["params"].shape).astype(np.float32)}


def take(loader, count):
    return list(itertools.islice(loader.forever(), count))


def assert_same(first, second):
    assert len(first) == len(second)
    for left, right in zip(first, second):
        assert left.keys() == right.keys()
        for name in left:
            np.testing.assert_array_equal(left[name], right[name])


def test_same_seed_same_batches_and_epochs_differ():
    first = take(Loader(source(), "train", 8, seed=5, transform=noisy), 12)
    second = take(Loader(source(), "train", 8, seed=5, transform=noisy, prefetch=0), 12)
    assert_same(first, second)
    assert not np.array_equal(first[0]["params"], first[6]["params"])  # epoch 1 batch 0 differs
    other = take(Loader(source(), "train", 8, seed=6, transform=noisy), 1)
    assert not np.array_equal(first[0]["params"], other[0]["params"])


def test_order_is_the_documented_permutation():
    loader = Loader(source(), "train", 8, seed=3)
    assert loader.batches_per_epoch == 6  # 50 // 8, tail dropped
    expected = np.random.default_rng([3, 1]).permutation(50)[8:16]
    batch = loader.batch(1, 1)
    np.testing.assert_array_equal(batch["params"], source().get("train", expected)["params"])
    draws = np.random.default_rng([3, 0, 1, 1]).standard_normal((8, 4)).astype(np.float32)
    np.testing.assert_array_equal(
        Loader(source(), "train", 8, seed=3, transform=noisy).batch(1, 1)["noise"], draws
    )


@pytest.mark.parametrize("stop", [3, 6, 8])
def test_resume_mid_epoch_is_exact(stop):
    transform = flow_draws("params", ("signal",), time="mean_flow", cfg_dropout=0.2, coupling="ot")
    uninterrupted = take(Loader(source(), "train", 8, seed=1, transform=transform), 14)
    loader = Loader(source(), "train", 8, seed=1, transform=transform)
    before = take(loader, stop)
    state = loader.state_dict()
    assert state == {"epoch": stop // 6, "batch_index": stop % 6}
    resumed = Loader(source(), "train", 8, seed=1, transform=transform, workers=2)
    resumed.load_state_dict(state)
    assert_same(before + take(resumed, 14 - stop), uninterrupted)


def test_iteration_is_one_epoch_and_tracks_position():
    loader = Loader(source(), "train", 8, seed=0)
    assert len(list(loader)) == 6 and loader.state_dict() == {"epoch": 1, "batch_index": 0}
    iterator = iter(loader)
    next(iterator)
    next(iterator)
    assert loader.state_dict() == {"epoch": 1, "batch_index": 2}
    assert len(list(iterator)) == 4 and loader.epoch == 2


def test_evaluation_loader_keeps_every_example_and_its_own_stream():
    train = Loader(source(), "train", 8, seed=0, transform=noisy)
    evaluation = Loader(source(), "val", 8, seed=0, shuffle=False, drop_last=False, transform=noisy)
    assert evaluation.batches_per_epoch == 3 and evaluation.stream == 1
    batches = list(evaluation.epoch_batches(0))
    assert [len(batch["params"]) for batch in batches] == [8, 8, 4]
    np.testing.assert_array_equal(
        np.concatenate([batch["params"] for batch in batches]), source().get("val", np.arange(20))["params"]
    )
    assert not np.array_equal(batches[0]["noise"], train.batch(0, 0)["noise"])
    before = train.state_dict()
    list(evaluation.epoch_batches(0))
    assert train.state_dict() == before  # evaluation touches nothing of training's


def test_workers_and_prefetch_give_identical_batches():
    reference = take(Loader(source(), "train", 4, seed=2, transform=noisy, prefetch=0), 20)
    threaded = take(Loader(source(), "train", 4, seed=2, transform=noisy, prefetch=3, workers=3), 20)
    assert_same(reference, threaded)


def test_loader_argument_errors():
    with pytest.raises(ValueError, match="Loader: the val split has 20 examples, fewer than batch_size = 32"):
        Loader(source(), "val", 32, seed=0)
    with pytest.raises(ValueError, match="Loader: batch_size must be positive, got 0"):
        Loader(source(), "train", 0, seed=0)


def test_a_list_of_transforms_shares_the_batch_generator():
    first = lambda batch, rng: {**batch, "a": rng.random(2)}  # noqa: E731
    second = lambda batch, rng: {**batch, "b": rng.random(2)}  # noqa: E731
    batch = Loader(source(), "train", 8, seed=0, transform=[first, second]).batch(2, 3)
    rng = np.random.default_rng([0, 0, 2, 3])
    np.testing.assert_array_equal(batch["a"], rng.random(2))
    np.testing.assert_array_equal(batch["b"], rng.random(2))
