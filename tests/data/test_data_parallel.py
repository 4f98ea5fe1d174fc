"""Data parallel without processes: each rank's rows of a batch (Loader.shard), the rank-0
guards of the run files, the --devices / --num-nodes flags."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys

import numpy as np
import pytest

from specc.runtime import training
from specc.runtime.data import Loader, make_source
from specc.runtime.training import distributed

RANK_VARIABLES = distributed.RANK_VARIABLES


def source(sizes=(50, 21, 20)):
    return make_source("ksin", k=2, signal_length=16, sizes=sizes, seed=0)


def noisy(batch, rng):
    """An objective draw shaped like the batch: the noise of a flow."""
    return {**batch, "noise": rng.standard_normal(batch["params"].shape).astype(np.float32)}


@pytest.fixture
def single_process(monkeypatch):
    for name in RANK_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def sorted_rows(rows):
    return rows[np.lexsort(rows.T[::-1])]


def concatenated(parts):
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}


def test_the_ranks_rows_of_each_step_are_the_single_process_batch():
    whole = list(itertools.islice(Loader(source(), "train", 8, seed=3, transform=noisy).forever(), 14))
    ranks = [Loader(source(), "train", 8, seed=3, transform=noisy).shard(rank, 2) for rank in range(2)]
    per_rank = [list(itertools.islice(loader.forever(), 14)) for loader in ranks]
    for step, batch in enumerate(whole):  # 14 steps cross an epoch boundary (6 batches an epoch)
        joined = concatenated([per_rank[0][step], per_rank[1][step]])
        assert len(per_rank[0][step]["params"]) == len(per_rank[1][step]["params"]) == 4
        for name in batch:  # the same examples, in order, with the same noise
            np.testing.assert_array_equal(joined[name], batch[name])


def test_a_resumed_rank_continues_its_own_rows():
    straight = Loader(source(), "train", 8, seed=3, transform=noisy).shard(1, 2)
    expected = list(itertools.islice(straight.forever(), 9))
    first = Loader(source(), "train", 8, seed=3, transform=noisy).shard(1, 2)
    list(itertools.islice(first.forever(), 4))
    resumed = Loader(source(), "train", 8, seed=3, transform=noisy).shard(1, 2)
    resumed.load_state_dict(first.state_dict())  # the position is the global batch's: any rank count
    for left, right in zip(expected[4:], itertools.islice(resumed.forever(), 5)):
        np.testing.assert_array_equal(left["params"], right["params"])


@pytest.mark.parametrize("ranks", [2, 3, 4])
def test_evaluation_covers_every_example_once_without_padding(ranks):
    # val has 21 examples: batches of 8, 8, 5; with 4 ranks a share of the last is 1 row
    whole = list(Loader(source(), "val", 8, seed=0, shuffle=False, drop_last=False).epoch_batches(0))
    loaders = [Loader(source(), "val", 8, seed=0, shuffle=False, drop_last=False).shard(r, ranks) for r in range(ranks)]
    seen = np.concatenate([batch["params"] for loader in loaders for batch in loader.epoch_batches(0)])
    expected = np.concatenate([batch["params"] for batch in whole])
    assert len(seen) == len(expected) == 21
    np.testing.assert_array_equal(sorted_rows(seen), sorted_rows(expected))


def test_an_empty_share_of_a_short_evaluation_batch_is_skipped():
    # test has 20 examples in batches of 19 and 1: rank 0 of 2 gets nothing of the second
    loaders = [Loader(source(), "test", 19, seed=0, shuffle=False, drop_last=False).shard(r, 2) for r in range(2)]
    sizes = [[len(batch["params"]) for batch in loader.epoch_batches(0)] for loader in loaders]
    assert sizes == [[9], [10, 1]]


def test_a_training_batch_that_does_not_divide_by_the_ranks_is_refused():
    loader = Loader(source(), "train", 9, seed=0)
    with pytest.raises(ValueError) as error:
        loader.shard(0, 2)
    assert str(error.value) == (
        "batch_size = 9 (the global batch) does not divide by the 2 data-parallel ranks: "
        "choose a batch size that is a multiple of 2"
    )
    with pytest.raises(ValueError, match=r"rank must be in \[0, 2\), got 2"):
        loader.shard(2, 2)


@pytest.mark.parametrize(
    "environment, main",
    [({}, True), ({"LOCAL_RANK": "0", "NODE_RANK": "0"}, True), ({"LOCAL_RANK": "1"}, False),
     ({"MLX_RANK": "1"}, False), ({"RANK": "3"}, False), ({"SLURM_PROCID": "2"}, False), ({"NODE_RANK": "1"}, False),
     ({"SPECC_PROCESS_ID": "1"}, False), ({"SPECC_PROCESS_ID": "0"}, True), ({"OMPI_COMM_WORLD_RANK": "1"}, False)],
)
def test_the_main_process_is_rank_zero_of_every_launcher(environment, main):
    assert distributed.is_main_process(environment) is main


def test_only_the_main_process_writes_metrics_checkpoints_and_run_files(tmp_path, single_process):
    single_process.setenv("MLX_RANK", "1")
    log = training.MetricsLog(tmp_path / "metrics.csv")
    log.write_many(1, 0, "train", {"loss": 1.0})
    log.close()
    training.prepare_run_directory(tmp_path / "run", "spec x\n", None, {})
    written = training.write_checkpoint(tmp_path, 1, {"w": np.zeros(2, np.float32)}, {}, {"epoch": 0})
    assert written.name == "step-000001"
    assert sorted(path.name for path in tmp_path.iterdir()) == []
    single_process.delenv("MLX_RANK")
    training.write_checkpoint(tmp_path, 1, {"w": np.zeros(2, np.float32)}, {}, {"epoch": 0})
    assert (tmp_path / "checkpoints" / "step-000001").is_dir()


def test_only_the_main_process_locks_the_run_directory(tmp_path, single_process):
    arguments = training.parse_arguments("x", ["--out-dir", str(tmp_path / "run")])
    training.start_run(arguments, "x", "0" * 64)  # this process is rank 0: it holds the lock
    other = f"from specc.runtime import training; training.start_run(training.parse_arguments('x', ['--out-dir', {str(tmp_path / 'run')!r}]), 'x', '0' * 64)"
    environment = {name: value for name, value in os.environ.items() if name not in RANK_VARIABLES}
    refused = subprocess.run([sys.executable, "-c", other], capture_output=True, text=True, env=environment, check=False)
    assert refused.returncode != 0 and "lock" in refused.stderr  # a second rank-0 run is refused
    shared = subprocess.run([sys.executable, "-c", other], capture_output=True, text=True, env={**environment, "LOCAL_RANK": "1"}, check=False)
    assert shared.returncode == 0, shared.stderr  # a rank Lightning started shares the directory
    training.release_run_directory(tmp_path / "run")


def test_devices_and_nodes_flags(capsys):
    arguments = training.parse_arguments("x", ["--devices", "2", "--num-nodes", "3"])
    assert (arguments.devices, arguments.num_nodes) == (2, 3)
    assert (training.parse_arguments("x", []).devices, training.parse_arguments("x", []).num_nodes) == (None, 1)
    with pytest.raises(SystemExit):
        training.parse_arguments("x", ["--devices", "0"])
    assert "--devices must be at least 1, got 0" in capsys.readouterr().err


def test_only_the_main_process_makes_the_other_loggers(tmp_path, single_process):
    pytest.importorskip("torch.utils.tensorboard")
    single_process.setenv("MLX_RANK", "1")
    assert training.make_loggers(["tensorboard"], tmp_path) == []
    with pytest.raises(ValueError, match="logger 'nope' is not available"):  # still checked on every rank
        training.make_loggers(["nope"], tmp_path)
    assert not (tmp_path / "tensorboard").exists()
    single_process.delenv("MLX_RANK")
    [logger] = training.make_loggers(["tensorboard"], tmp_path)
    logger.close()
    assert (tmp_path / "tensorboard").is_dir()
