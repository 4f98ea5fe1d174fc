"""ksin ``split_seeds`` (gap 18, seed 004's train_val_test_seeds = (123, 456, 789))."""

import numpy as np
import pytest

from specc.runtime.data import make_source


def test_each_split_draws_from_its_own_seed():
    source = make_source("ksin", k=2, signal_length=8, sizes=(6, 4, 5), split_seeds=[123, 456, 789])
    for split, seed, size in (("train", 123, 6), ("val", 456, 4), ("test", 789, 5)):
        uniform = np.random.default_rng(seed).random((size, 4))
        np.testing.assert_array_equal(source.parameters(split), (2.0 * uniform - 1.0).astype(np.float32))


def test_seed_is_unused_with_split_seeds():
    first = make_source("ksin", k=2, signal_length=8, sizes=(6, 4, 5), seed=1, split_seeds=[5, 6, 7])
    second = make_source("ksin", k=2, signal_length=8, sizes=(6, 4, 5), seed=2, split_seeds=[5, 6, 7])
    for split in ("train", "val", "test"):
        np.testing.assert_array_equal(first.parameters(split), second.parameters(split))


def test_default_keeps_the_derived_split_seeds():
    source = make_source("ksin", k=2, signal_length=8, sizes=(6, 4, 5), seed=3)
    absent = make_source("ksin", k=2, signal_length=8, sizes=(6, 4, 5), seed=3, split_seeds=None)
    uniform = np.random.default_rng([3, 1]).random((4, 4))
    np.testing.assert_array_equal(source.parameters("val"), (2.0 * uniform - 1.0).astype(np.float32))
    np.testing.assert_array_equal(absent.parameters("val"), source.parameters("val"))


def test_wrong_length_names_the_problem():
    with pytest.raises(ValueError, match=r"^ksin: split_seeds must be \(train, val, test\), got \(1, 2\)$"):
        make_source("ksin", k=2, signal_length=8, split_seeds=[1, 2])
