"""The data section's loader keys: workers, prefetch, persistent workers, pin_memory,
drop_last, worker_type and transforms (runtime/data/loader.py ``loader_options``)."""

from __future__ import annotations

import itertools
import threading

import numpy as np
import pytest

from specc.compiler.vocabulary import registry
from specc.runtime.data import LOADER_KEYS, LOADER_OPTIONS, Loader, loader_options, make_source
from specc.runtime.data.transforms import TRANSFORMS


def source():
    return make_source("ksin", k=2, signal_length=16, sizes=(50, 20, 20), seed=0)


def noisy(batch, rng):
    return {**batch, "noise": rng.standard_normal(batch["params"].shape).astype(np.float32)}


def take(loader, count):
    return list(itertools.islice(loader.forever(), count))


def test_the_loader_keys_are_the_registrys_data_keys_and_runtime_defaults():
    # render and predict are read by the evaluation and by --predict: neither the source's nor the loader's
    assert set(LOADER_KEYS) == set(LOADER_OPTIONS) | {"render", "predict"}
    data_keys = {parameter.name: parameter.default for parameter in registry.DATA_KEYS}
    for key, (_, default) in LOADER_OPTIONS.items():
        assert data_keys[key] == default, key
    for name, entry in TRANSFORMS.items():
        component = registry.lookup("transform", name)
        declared = {parameter.name: parameter.default for parameter in component.params if parameter.name != "field"}
        assert declared == entry.defaults(), name
    assert set(TRANSFORMS) == set(registry.components("transform"))


def test_make_source_leaves_the_loader_keys_out():
    made = make_source(
        "ksin", k=2, signal_length=16, sizes=(50, 20, 20), num_workers=3, transforms=("normalize",), drop_last=False
    )
    assert made.size("train") == 50


def test_loader_options_per_split():
    arguments = {
        "k": 2,
        "num_workers": 4,
        "prefetch_factor": 3,
        "persistent_workers": True,
        "pin_memory": True,
        "drop_last": False,
        "worker_type": "thread",
        "transforms": ({"kind": "normalize", "eps": 1e-8, "field": None}, {"kind": "random_gain", "field": None}),
    }
    train = loader_options(arguments, "train")
    assert {key: value for key, value in train.items() if key != "transforms"} == {
        "workers": 4,
        "prefetch": 3,
        "persistent_workers": True,
        "pin_memory": True,
        "drop_last": False,
        "worker_type": "thread",
        "shuffle": True,
        "repeat_first_batch": False,
    }
    assert [transform.kind for transform in train["transforms"]] == ["normalize", "random_gain"]
    val = loader_options(arguments, "val")
    assert (val["shuffle"], val["drop_last"], val["workers"], val["prefetch"]) == (False, False, 4, 3)
    assert [transform.kind for transform in val["transforms"]] == ["normalize"]
    defaults = loader_options({"k": 2}, "train")
    assert defaults == {
        "workers": 0,
        "prefetch": None,  # the Loader decides (tests/data/test_inline_batches.py)
        "persistent_workers": False,
        "pin_memory": True,  # pinned when a CUDA GPU is present (Lightning)
        "drop_last": True,
        "worker_type": "thread",
        "shuffle": True,
        "transforms": (),
        "repeat_first_batch": False,
    }
    assert loader_options({"worker_type": "process"}, "train")["worker_type"] == "process"
    with pytest.raises(ValueError, match="data: worker_type must be one of 'thread', 'process', got 'fork'"):
        loader_options({"worker_type": "fork"}, "train")
    with pytest.raises(ValueError, match="data: drop_last = false needs train.accumulate = 1 \\(got 4\\)"):
        loader_options({"drop_last": False}, "train", accumulate=4)
    assert loader_options({"drop_last": False}, "val", accumulate=4)["drop_last"] is False


def test_options_reach_the_loader():
    options = loader_options({"num_workers": 2, "prefetch_factor": 3, "pin_memory": True}, "train")
    loader = Loader(source(), "train", 8, seed=0, **options)
    assert (loader.workers, loader.prefetch, loader.pin_memory, loader.lookahead) == (2, 3, True, 6)
    assert Loader(source(), "train", 8, seed=0, prefetch=2).lookahead == 2
    assert Loader(source(), "train", 8, seed=0, prefetch=0).lookahead == 0
    assert Loader(source(), "train", 8, seed=0, prefetch=0, workers=3).lookahead == 3


def test_drop_last_false_keeps_the_tail_in_training():
    loader = Loader(source(), "train", 8, seed=0, **loader_options({"drop_last": False}, "train"))
    assert loader.batches_per_epoch == 7
    assert [len(batch["params"]) for batch in loader.epoch_batches(0)] == [8] * 6 + [2]


@pytest.mark.parametrize("workers,prefetch", [(0, 0), (0, 2), (1, 1), (4, 2)])
def test_every_worker_setting_gives_the_same_batches_and_resume(workers, prefetch):
    reference = take(Loader(source(), "train", 8, seed=3, transform=noisy, prefetch=0), 15)
    loader = Loader(source(), "train", 8, seed=3, transform=noisy, prefetch=prefetch, workers=workers)
    first = take(loader, 5)
    resumed = Loader(source(), "train", 8, seed=3, transform=noisy, prefetch=prefetch, workers=workers)
    resumed.load_state_dict(loader.state_dict())
    produced = first + take(resumed, 10)
    for left, right in zip(reference, produced):
        np.testing.assert_array_equal(left["params"], right["params"])
        np.testing.assert_array_equal(left["noise"], right["noise"])


def loader_threads():
    return {thread for thread in threading.enumerate() if thread.name.startswith("specc-loader")}


def test_persistent_workers_keep_one_pool_across_epochs():
    before = loader_threads()
    loader = Loader(source(), "train", 8, seed=0, workers=2, persistent_workers=True)
    list(loader)
    pool = loader._executor
    assert pool is not None
    list(loader)  # the next epoch reuses it
    assert loader._executor is pool and loader.epoch == 2
    loader.close()
    assert loader._executor is None
    transient = Loader(source(), "train", 8, seed=0, workers=2)
    list(transient)
    assert transient._executor is None  # a pool per pass, shut down after it
    for thread in loader_threads() - before:
        thread.join(timeout=5)
    assert loader_threads() <= before


def test_shuffle_false_keeps_the_source_order_every_epoch_and_evaluation_is_never_shuffled():
    source = make_source("ksin", k=2, signal_length=16, sizes=(50, 20, 20))
    unshuffled = loader_options({"shuffle": False}, "train")
    assert unshuffled["shuffle"] is False and loader_options({"shuffle": True}, "val")["shuffle"] is False
    loader = Loader(source, "train", 10, 0, **{key: value for key, value in unshuffled.items()})
    first = [batch["params"] for batch in loader.epoch_batches(0)]
    second = [batch["params"] for batch in loader.epoch_batches(1)]
    everything = source.get("train", np.arange(50))["params"]
    np.testing.assert_array_equal(np.concatenate(first), everything)
    np.testing.assert_array_equal(np.concatenate(second), everything)
    shuffled = Loader(source, "train", 10, 0, **loader_options({}, "train"))
    assert not np.array_equal(np.concatenate([batch["params"] for batch in shuffled.epoch_batches(0)]), everything)
