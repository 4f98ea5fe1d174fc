"""`--eval-only [val|test]` (seed 002's validate-only and test-only runs, Lightning's
trainer.validate / trainer.test): the named split alone, or both without a name; the same
command line on every backend."""

from __future__ import annotations

import pytest

from specc.runtime import training
from tests.backends.test_trainer_surface import compile_and_run

DIGITS_SHORT = ("train.max_steps=2", "train.eval_every=2", "train.log_every=1", "data.batch_size=256")


def test_the_command_line_names_a_split_or_none():
    assert training.parse_arguments("x", ["--eval-only"]).eval_only == "all"
    assert training.parse_arguments("x", ["--eval-only", "test", "--resume", "auto"]).eval_only == "test"
    assert training.parse_arguments("x", []).eval_only is None
    with pytest.raises(SystemExit):
        training.parse_arguments("x", ["--eval-only", "train"])
    splits = ("val", "test", "train_eval")
    assert training.evaluated_splits(splits, "all") == splits
    assert training.evaluated_splits(splits, "test") == ("test",)
    assert training.evaluated_splits(splits, "val") == ("val", "train_eval")


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jax", "lightning", "mlx"])
def test_eval_only_val_and_test_evaluate_one_split(backend, tmp_path):
    run = tmp_path / "train" / "run"
    compile_and_run(tmp_path / "train", "digits_mlp", DIGITS_SHORT, backend, "--out-dir", run)
    for split in ("val", "test"):
        out = tmp_path / split / "run"
        compile_and_run(
            tmp_path / split, "digits_mlp", DIGITS_SHORT, backend, "--out-dir", out, "--eval-only", split,
            "--resume", run / "checkpoints" / "last",
        )
        rows = training.read_metrics(out / "metrics.csv")
        assert {row["split"] for row in rows} == {split}, backend
