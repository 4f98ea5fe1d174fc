"""Top-k retention ranks each checkpoint by the evaluation at its own step, on every backend.

specs/digits_mlp.mf with a large learning rate (its validation loss rises and falls between
evaluations) is trained for 30 or 60 steps by the JAX, Lightning and MLX scripts. Each kept
checkpoint's manifest must carry the metrics.csv values of the latest evaluation at or
before its step (the evaluation of that very step when the run evaluates there, never the
previous one: issue 15), and the three backends must keep the same steps, namely the ones
``checkpoints.retained`` picks from metrics.csv (ties keep the older, plus the newest).

Three schedules: a checkpoint at every evaluation; a checkpoint every 10 steps with an
evaluation every 20 (a checkpoint between evaluations carries the previous one's metrics
and ties with it: the older is kept); and a run of 30 steps whose step-10 checkpoint comes
before the first evaluation (saved at once without metrics, ranked last, kept while fewer
than ``keep`` checkpoints rank above it).
"""

from __future__ import annotations

import itertools
import json

import pytest

from specc.runtime.training import checkpoints, read_metrics
from tests.backends.runner import compile_spec, run_script, write_script

pytestmark = pytest.mark.slow

BACKENDS = ("jax", "lightning", "mlx")
MODULES = {"jax": "flax", "lightning": "lightning", "mlx": "mlx.core"}
MONITOR = "val/loss"
SCHEDULES = {  # name: (max_steps, eval_every, checkpoint every, keep)
    "checkpoint_at_every_evaluation": (60, 10, 10, 2),
    "checkpoints_between_evaluations": (60, 20, 10, 3),
    "checkpoint_before_the_first_evaluation": (30, 20, 10, 3),
}


def overrides(max_steps: int, eval_every: int, every: int, keep: int) -> tuple[str, ...]:
    return (
        "optimizer.lr=0.02", f"train.max_steps={max_steps}", "train.log_every=10", f"train.eval_every={eval_every}",
        f"train.checkpoint.every={every}", f"train.checkpoint.keep={keep}",
        f'train.checkpoint.monitor="{MONITOR}"', "train.checkpoint.mode=min",
    )


def evaluations(run_dir) -> dict[int, dict[str, float]]:
    """``{step: {"val/<name>": value}}`` of every evaluation in metrics.csv."""
    found: dict[int, dict[str, float]] = {}
    for row in read_metrics(run_dir / "metrics.csv"):
        if row["split"] == "val":
            found.setdefault(row["step"], {})[f"val/{row['name']}"] = row["value"]
    return found


def kept_manifests(run_dir) -> dict[int, dict]:
    """``{step: manifest}`` of every checkpoint folder left in the run directory."""
    return {
        checkpoints.manifest_step(folder): json.loads((folder / checkpoints.MANIFEST).read_text())
        for folder in checkpoints.list_checkpoints(run_dir)
    }


def latest_evaluation(evaluated: dict[int, dict], step: int) -> dict:
    """The metrics of the latest evaluation at or before ``step`` (``{}`` before the first)."""
    earlier = [at for at in evaluated if at <= step]
    return evaluated[max(earlier)] if earlier else {}


@pytest.fixture(scope="module", params=sorted(SCHEDULES))
def runs(request, tmp_path_factory):
    """(schedule, {backend: run directory}) of the three backends' runs of one schedule."""
    program = compile_spec("specs/digits_mlp.mf", overrides(*SCHEDULES[request.param]))
    assert program is not None
    folder = tmp_path_factory.mktemp(request.param)
    found = {}
    for backend in BACKENDS:
        pytest.importorskip(MODULES[backend])
        script = write_script(program, backend, folder)
        run_dir = folder / f"run_{backend}"
        run_script(script, "--out-dir", run_dir, check=True, env={"OMP_NUM_THREADS": "1"})
        found[backend] = run_dir
    return request.param, found


def test_each_schedule_exercises_what_it_is_for(runs):
    """The 60-step runs' validation loss rises between evaluations (without a rise, ranking
    by the previous evaluation would keep the same steps and the tests below could not see
    that bug); the 30-step run keeps its step-10 checkpoint, saved before any evaluation."""
    schedule, found = runs
    for backend, run_dir in found.items():
        if schedule == "checkpoint_before_the_first_evaluation":
            assert kept_manifests(run_dir)[10]["metrics"] == {}, backend
            continue
        losses = [metrics[MONITOR] for _, metrics in sorted(evaluations(run_dir).items())]
        assert any(later > earlier for earlier, later in itertools.pairwise(losses)), (backend, losses)


@pytest.mark.parametrize("backend", BACKENDS)
def test_each_kept_checkpoint_carries_the_evaluation_of_its_own_step(runs, backend):
    schedule, found = runs
    _, eval_every, every, _ = SCHEDULES[schedule]
    evaluated = evaluations(found[backend])
    kept = kept_manifests(found[backend])
    assert kept, f"{backend} kept no checkpoint"
    for step, manifest in kept.items():
        expected = latest_evaluation(evaluated, step)
        assert manifest["metrics"].keys() == expected.keys(), (backend, step, manifest["metrics"])
        for name, value in expected.items():
            assert manifest["metrics"][name] == pytest.approx(value, rel=1e-12, abs=0), (backend, step, name)
    # some kept checkpoint is at an evaluated step (where the previous evaluation was the bug)
    assert any(step % eval_every == 0 for step in kept), sorted(kept)
    assert all(step % every == 0 for step in kept), sorted(kept)


def test_the_three_backends_keep_the_same_steps_and_rank_by_metrics_csv(runs):
    schedule, found = runs
    max_steps, _, every, keep = SCHEDULES[schedule]
    kept = {backend: sorted(kept_manifests(run_dir)) for backend, run_dir in found.items()}
    assert kept["lightning"] == kept["jax"] == kept["mlx"], kept
    for backend, run_dir in found.items():
        evaluated = evaluations(run_dir)
        saved = range(every, max_steps + 1, every)
        entries = [(step, latest_evaluation(evaluated, step).get(MONITOR)) for step in saved]
        assert kept[backend] == sorted(checkpoints.retained(entries, keep, "min")), (backend, entries)
        assert (run_dir / "checkpoints" / "last").resolve().name == checkpoints.step_directory_name(max_steps)
