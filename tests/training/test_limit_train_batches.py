"""`train.limit_train_batches` (seed 002's `Trainer(limit_train_batches=N)`, Lightning's int
form): an epoch ends after N training batches, on every backend, so `max_epochs` counts the
shortened epochs; the order is the full epoch's (its first N batches)."""

from __future__ import annotations

import numpy as np
import pytest

from specc.runtime import training
from specc.runtime.data import Loader, make_source
from tests.backends.test_trainer_surface import compile_and_run


def test_the_loader_ends_each_epoch_after_the_limit_with_the_full_epochs_first_batches():
    source = make_source("ksin", k=2, signal_length=16, sizes=(64, 16, 16))
    full = Loader(source, "train", 8, 0)
    limited = Loader(source, "train", 8, 0, limit_batches=3)
    assert (len(full), len(limited)) == (8, 3)
    for epoch in (0, 1):
        expected = [batch["params"] for batch in full.epoch_batches(epoch)][:3]
        found = [batch["params"] for batch in limited.epoch_batches(epoch)]
        np.testing.assert_array_equal(np.stack(found), np.stack(expected))
    stream = limited.forever()
    [next(stream) for _ in range(4)]
    assert limited.state_dict() == {"epoch": 1, "batch_index": 1}
    with pytest.raises(ValueError, match="limit_batches"):
        Loader(source, "train", 8, 0, limit_batches=0)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jax", "lightning", "mlx"])
def test_two_epochs_of_three_batches_are_six_steps(backend, tmp_path):
    overrides = ("train.max_steps=none", "train.max_epochs=2", "train.limit_train_batches=3",
                 "train.log_every=1", "train.eval_every=3", "train.checkpoint.every=3")
    compile_and_run(tmp_path, "digits_mlp", overrides, backend, "--out-dir", tmp_path / "run")
    rows = [row for row in training.read_metrics(tmp_path / "run" / "metrics.csv")
            if row["split"] == "train" and row["name"] == "loss"]
    # the epoch column is the loader's position after the step: step 3 ends epoch 0
    assert [(row["step"], row["epoch"]) for row in rows] == [(1, 0), (2, 0), (3, 1), (4, 1), (5, 1), (6, 2)]
