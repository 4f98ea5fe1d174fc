"""Process workers (``worker_type = process``, runtime/data/workers.py): the same batches, in
the same order, with the same resumable position as thread workers and as no workers; a
failing source reports its own error; a dead worker ends the pass with one line."""

from __future__ import annotations

import itertools
import os
from concurrent.futures.process import BrokenProcessPool

import numpy as np
import pytest

from specc.runtime.data import Loader, flow_draws, loader_options, make_source
from specc.runtime.data import workers as process_workers
from specc.runtime.data.sources import Source
from specc.runtime.training import read_metrics
from tests.backends.runner import compile_spec, run_script, write_script


def digits():
    return make_source("digits")


def tokens():
    return make_source("synthetic_tokens", sizes=(40, 8, 8))


def npz(tmp_path):
    generator = np.random.default_rng(0)
    path = tmp_path / "data.npz"
    np.savez(path, x=generator.standard_normal((45, 3)).astype(np.float32), y=np.arange(45) % 3)
    return make_source("npz", path=str(path))


SOURCES = {"digits": lambda tmp_path: digits(), "tokens": lambda tmp_path: tokens(), "npz": npz}


def take(loader, count):
    try:
        return list(itertools.islice(loader.forever(), count))
    finally:
        loader.close()


def assert_identical(first, second):
    assert len(first) == len(second)
    for left, right in zip(first, second):
        assert left.keys() == right.keys()
        for name in left:
            assert left[name].dtype == right[name].dtype, name
            assert left[name].tobytes() == right[name].tobytes(), name


def loader(source, worker_type="thread", workers=2, **options):
    return Loader(source, "train", 8, seed=3, workers=workers, worker_type=worker_type, **options)


@pytest.mark.parametrize("kind", sorted(SOURCES))
def test_process_workers_give_the_batches_of_thread_workers_and_of_no_workers(kind, tmp_path):
    source = SOURCES[kind](tmp_path)
    count = 2 * loader(source).batches_per_epoch + 3  # across two epoch boundaries
    processes = take(loader(source, "process", transforms=("normalize",) if kind == "digits" else ()), count)
    threads = take(loader(source, "thread", transforms=("normalize",) if kind == "digits" else ()), count)
    alone = take(loader(source, workers=0, prefetch=0, transforms=("normalize",) if kind == "digits" else ()), count)
    assert_identical(processes, threads)
    assert_identical(processes, alone)


def ksin():
    return make_source("ksin", k=2, signal_length=16, sizes=(50, 20, 20), seed=0)


def test_process_workers_run_the_objective_draws_and_resume_at_an_odd_position():
    draws = flow_draws("params", ("signal",), time="mean_flow", cfg_dropout=0.2, coupling="ot")
    uninterrupted = take(loader(ksin(), "thread", transform=draws), 16)
    interrupted = loader(ksin(), "process", transform=draws, persistent_workers=True)
    before = take(interrupted, 7)
    state = interrupted.state_dict()
    assert state == {"epoch": 1, "batch_index": 1}  # 6 batches an epoch
    resumed = loader(ksin(), "process", workers=3, transform=draws)
    resumed.load_state_dict(state)
    after = take(resumed, 9)
    assert_identical(before + after, uninterrupted)


def test_evaluation_passes_with_process_workers_equal_the_thread_passes():
    options = loader_options({"num_workers": 2, "worker_type": "process"}, "val")
    processes = Loader(ksin(), "val", 6, seed=0, **options)
    threads = Loader(ksin(), "val", 6, seed=0, **{**options, "worker_type": "thread"})
    assert processes.uses_processes and not threads.uses_processes
    assert_identical(list(processes.epoch_batches(0)), list(threads.epoch_batches(0)))  # 20 rows: 4 batches, last of 2


class FailingSource(Source):
    """Ten examples; reading example 5 raises (or kills the worker process with ``exit``)."""

    kind = "failing"

    def __init__(self, exit: bool = False):
        super().__init__()
        self.exit = exit

    @property
    def fields(self):
        return {"x": ("f32", (2,))}

    def _size(self, split):
        return 10

    def _get(self, split, indices):
        if 5 in indices:
            if self.exit:
                os._exit(3)
            raise ValueError("failing: example 5 of the train split is damaged")
        return {"x": np.ones((len(indices), 2))}


def test_a_source_error_in_a_worker_process_reaches_the_consumer_with_its_message():
    source = FailingSource()
    failing = Loader(source, "train", 2, seed=0, shuffle=False, workers=2, worker_type="process")
    with pytest.raises(ValueError) as raised:
        take(failing, 5)
    assert str(raised.value) == "failing: example 5 of the train split is damaged"
    with pytest.raises(ValueError) as threaded:  # the same as with threads
        take(Loader(source, "train", 2, seed=0, shuffle=False, workers=2), 5)
    assert str(threaded.value) == str(raised.value)


def test_a_worker_process_that_dies_ends_the_pass_with_one_line():
    failing = Loader(FailingSource(exit=True), "train", 2, seed=0, shuffle=False, workers=2, worker_type="process")
    with pytest.raises(RuntimeError) as raised:
        take(failing, 5)
    message = str(raised.value)
    assert message.startswith("data loader: a worker process of the train split stopped unexpectedly (")
    assert "\n" not in message


class BrokenPool:
    def submit(self, *arguments):
        raise BrokenProcessPool("A child process terminated abruptly, the process pool is not usable anymore")


def test_a_pool_already_broken_by_a_dead_worker_gives_the_same_one_line():
    # Which the consumer meets first, a failed future or a pool refusing new work, depends
    # on when the pool notices the death: both read the same.
    with pytest.raises(RuntimeError) as raised:
        process_workers.submit(BrokenPool(), 0, 3, "train")
    assert str(raised.value) == (
        "data loader: a worker process of the train split stopped unexpectedly "
        "(A child process terminated abruptly, the process pool is not usable anymore)"
    )


def test_an_unknown_worker_type_is_refused():
    with pytest.raises(ValueError, match="Loader: worker_type must be one of 'thread', 'process', got 'fork'"):
        Loader(ksin(), "train", 8, seed=0, worker_type="fork")


OVERRIDES = ("train.log_every=1", "train.eval_every=6", "train.checkpoint.every=6", "data.num_workers=2")
MODULES = {"jax": "jax", "lightning": "lightning", "mlx": "mlx.core"}


def losses(run_dir) -> dict:
    return {
        (row["step"], row["split"], row["name"]): row["value"]
        for row in read_metrics(run_dir / "metrics.csv")
        if row["name"] in ("loss", "accuracy")
    }


@pytest.mark.slow
@pytest.mark.parametrize("backend", sorted(MODULES))
def test_digits_trains_with_process_workers_as_with_thread_workers(backend, tmp_path):
    pytest.importorskip(MODULES[backend])
    found = {}
    for worker_type in ("thread", "process"):
        program = compile_spec("specs/digits_mlp.mf", (*OVERRIDES, f"data.worker_type={worker_type}"))
        folder = tmp_path / worker_type
        folder.mkdir()
        script = write_script(program, backend, folder)
        assert f'"worker_type": "{worker_type}"' in script.read_text() or worker_type == "thread"
        run_script(script, "--out-dir", folder / "run", "--max-steps", 6, check=True, env={"OMP_NUM_THREADS": "1"})
        found[worker_type] = losses(folder / "run")
    assert [key for key in found["thread"] if key[1] == "train"] == [(step, "train", "loss") for step in range(1, 7)]
    assert found["process"] == found["thread"]
