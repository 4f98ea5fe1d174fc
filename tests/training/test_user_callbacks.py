"""The user's callbacks (``train.callbacks = [python("file.py", "Name", ...)]``): the
dispatcher (``specc.runtime.training.user_callbacks``) on its own, then generated scripts on
jax, lightning and mlx (slow): the hooks fire at the same steps with the same values, a
``"stop"`` ends every backend at the same step with a checkpoint there, and a hook that
raises ends the run with one line naming the user's file and line."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from specc.compiler import pipeline
from specc.compiler.emit import render as emit
from specc.runtime import training
from specc.runtime.extensions import Reference, UserCodeError
from specc.runtime.training.user_callbacks import UserCallbacks
from tests.backends.test_spec_parity import run_backends_together

BACKENDS = ("jax", "lightning", "mlx")
TOLERANCE = 1e-4

RECORDER = '''\
import json
import os


class Recorder:
    """Writes every hook call to <run_dir>/events.jsonl."""

    def __init__(self, stop_at=0, fail_at=0):
        self.stop_at, self.fail_at = stop_at, fail_at

    def write(self, hook, step, value):
        with open(self.path, "a") as stream:
            stream.write(json.dumps([hook, step, value]) + "\\n")

    def on_train_start(self, info):
        self.path = os.path.join(info["run_dir"], "events.jsonl")
        self.write("on_train_start", None, info)

    def on_step_end(self, step, values):
        self.write("on_step_end", step, values)
        if step == self.fail_at:
            raise ValueError("the hook failed")
        if step == self.stop_at:
            return "stop"

    def on_evaluation_end(self, step, metrics):
        self.write("on_evaluation_end", step, metrics)

    def on_checkpoint_saved(self, step, path):
        self.write("on_checkpoint_saved", step, os.path.basename(path))

    def on_train_end(self, info):
        self.write("on_train_end", info["step"], info)
'''
FAIL_LINE = RECORDER.splitlines().index('            raise ValueError("the hook failed")') + 1

SPEC = """\
spec callbacks_small

data digits {{
  batch_size = 16
}}

model mlp(x: f32[B, 64]) -> f32[B, 10] {{
  return linear(relu(linear(x, 32)), 10)
}}

objective classification {{
  model = mlp
  target = data.y
  inputs = {{ x = data.x }}
}}

optimizer adam {{ lr = 1e-3 }}

train {{
  max_steps = {max_steps}
  log_every = 3
  eval_every = {eval_every}
  checkpoint {{ every = 6 }}
  callbacks = [python("recorder.py", "Recorder", arguments = {{ {arguments} }})]
}}

eval {{
  metrics = [accuracy]
}}
"""


# ----------------------------------------------------------------------------- the dispatcher


class Events:
    """A callback class in a file of its own (``Reference`` caches instances per file)."""

    SOURCE = '''\
class Hooks:
    def __init__(self, answer=None):
        self.answer, self.calls = answer, []

    def on_train_start(self, info):
        self.calls.append(("on_train_start", info))

    def on_step_end(self, step, values):
        self.calls.append(("on_step_end", step, values))
        return self.answer

    def on_evaluation_end(self, step, metrics):
        self.calls.append(("on_evaluation_end", step, metrics))

    def on_train_end(self, info):
        self.calls.append(("on_train_end", info))
        return "stop" if self.answer == "stop at the end" else None
'''


def dispatcher(tmp_path, **arguments) -> tuple[UserCallbacks, str]:
    path = tmp_path / f"hooks_{len(list(tmp_path.iterdir()))}.py"
    path.write_text(Events.SOURCE, encoding="utf-8")
    return UserCallbacks([Reference(str(path), "Hooks", arguments)], "jax"), str(path)


def calls(callbacks: UserCallbacks) -> list:
    return callbacks.instances[0][1].calls


def test_rows_become_hooks_with_plain_floats_and_without_the_timing(tmp_path):
    callbacks, _ = dispatcher(tmp_path)
    callbacks.write_many(3, 0, "train", {"loss": 1.0, "steps_per_s": 9.0})  # before the start: no hook
    callbacks.train_start(0, 12, 7, tmp_path)
    callbacks.write_many(3, 0, "train", {"loss": 0.5, "grad_norm": 2, "steps_per_s": 9.0})
    callbacks.write_many(3, 0, "train", {"lr": 0.1})  # an epoch's learning-rate row: not a step's row
    callbacks.write_many(6, 0, "val", {"loss": 0.25, "accuracy": 0.5})
    callbacks.write_many(6, 0, "test", {"loss": 0.25})
    assert calls(callbacks) == [
        ("on_train_start", {"backend": "jax", "max_steps": 12, "seed": 7, "run_dir": str(tmp_path), "start_step": 0}),
        ("on_step_end", 3, {"loss": 0.5, "grad_norm": 2.0}),
        ("on_evaluation_end", 6, {"val/loss": 0.25, "val/accuracy": 0.5}),
    ]
    assert all(type(value) is float for value in calls(callbacks)[1][2].values())


def test_a_stop_is_requested_once_printed_on_one_line_and_reported_at_the_end(tmp_path, capsys):
    callbacks, file = dispatcher(tmp_path, answer="stop")
    stops = []
    callbacks.on_stop = lambda: stops.append(True)
    callbacks.train_start(0, 12, 0, tmp_path)
    callbacks.write_many(3, 0, "train", {"loss": 0.5, "steps_per_s": 1.0})
    callbacks.write_many(6, 0, "train", {"loss": 0.5, "steps_per_s": 1.0})
    assert callbacks.stop_requested and stops == [True]
    reason = f'Hooks.on_step_end ({file}) returned "stop"'
    assert capsys.readouterr().out == f"stopping after step 3: {reason}\n"
    instance = callbacks.instances[0][1]
    callbacks.train_end(3)
    assert instance.calls[-1] == ("on_train_end", {**callbacks.info, "step": 3, "stopped": reason})
    callbacks.write_many(9, 0, "train", {"loss": 0.5, "steps_per_s": 1.0})  # after the end: no hook
    assert len(instance.calls) == 4


def test_a_return_value_other_than_none_or_stop_is_named(tmp_path):
    callbacks, file = dispatcher(tmp_path, answer=True)
    callbacks.train_start(0, 12, 0, tmp_path)
    with pytest.raises(UserCodeError) as raised:
        callbacks.write_many(3, 0, "train", {"loss": 0.5, "steps_per_s": 1.0})
    assert str(raised.value) == (
        f'{file}: Hooks.on_step_end returned True: a hook returns None to go on, or "stop" to end the run after this step'
    )


def test_stop_from_a_hook_that_cannot_stop_is_named(tmp_path):
    callbacks, file = dispatcher(tmp_path, answer="stop at the end")
    callbacks.train_start(0, 12, 0, tmp_path)
    with pytest.raises(UserCodeError) as raised:
        callbacks.train_end(12)
    assert str(raised.value) == (
        f"{file}: Hooks.on_train_end returned 'stop': on_train_end returns None (only on_step_end and "
        'on_evaluation_end can stop the run, by returning "stop")'
    )


def test_an_exception_in_a_hook_names_the_users_file_and_line(tmp_path):
    path = tmp_path / "broken.py"
    path.write_text("class Broken:\n    def on_step_end(self, step, values):\n        return values['missing']\n")
    callbacks = UserCallbacks([Reference(str(path), "Broken")], "mlx")
    callbacks.train_start(0, 12, 0, tmp_path)
    with pytest.raises(UserCodeError) as raised:
        callbacks.write_many(3, 0, "train", {"loss": 0.5, "steps_per_s": 1.0})
    assert str(raised.value) == f"{path}:3: Broken: on_step_end at step 3: KeyError: 'missing'"


def test_an_exception_in_init_names_the_users_file_and_line(tmp_path):
    path = tmp_path / "broken_init.py"
    path.write_text("class Broken:\n    def __init__(self, every=1):\n        self.every = 1 / 0\n\n    def on_train_end(self, info):\n        pass\n")
    callbacks = UserCallbacks([Reference(str(path), "Broken", {"every": 2})], "mlx")
    with pytest.raises(UserCodeError) as raised:
        callbacks.train_start(0, 12, 0, tmp_path)
    assert str(raised.value) == f"{path}:3: Broken: creating it: ZeroDivisionError: division by zero"


# ----------------------------------------------------------------------------- generated scripts


def scripts(folder: Path, max_steps: int, eval_every: int, arguments: str) -> dict[str, str]:
    (folder / "recorder.py").write_text(RECORDER, encoding="utf-8")
    spec = folder / "callbacks_small.mf"
    spec.write_text(SPEC.format(max_steps=max_steps, eval_every=eval_every, arguments=arguments), encoding="utf-8")
    result = pipeline.check(str(spec), lambda name: Path(name).read_bytes())
    assert result.program is not None, [diagnostic.message for diagnostic in result.diagnostics]
    return {backend: emit.render(result.program, backend) for backend in BACKENDS}


def events(folder: Path, backend: str) -> list:
    lines = (folder / f"run_{backend}" / "events.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def comparable(event: list) -> list:
    """An event without what differs by design between backends (the run directory, the
    backend's name)."""
    hook, step, value = event
    if isinstance(value, dict):
        value = {name: item for name, item in value.items() if name not in ("run_dir", "backend")}
    return [hook, step, value]


def assert_close(first: list, second: list, where: str) -> None:
    assert [(hook, step) for hook, step, _ in first] == [(hook, step) for hook, step, _ in second], where
    for (hook, step, a), (_, _, b) in zip(first, second):
        if isinstance(a, dict) and all(isinstance(item, float) for item in a.values()):
            assert a.keys() == b.keys(), f"{where}: {hook} at {step}"
            for name in a:
                difference = abs(a[name] - b[name]) / max(abs(a[name]), abs(b[name]), 1e-12)
                assert difference <= TOLERANCE, f"{where}: {hook} at {step}: {name} {a[name]} vs {b[name]}"
        else:
            assert a == b, f"{where}: {hook} at {step}"


@pytest.mark.slow
def test_the_hooks_fire_alike_on_every_backend(tmp_path):
    results = run_backends_together(scripts(tmp_path, 12, 6, ""), tmp_path, check=False)
    for backend, (code, out, err) in results.items():
        assert code == 0, f"{backend} failed:\n{out[-2000:]}\n{err[-3000:]}"
    recorded = {backend: [comparable(event) for event in events(tmp_path, backend)] for backend in BACKENDS}
    assert [(hook, step) for hook, step, _ in recorded["jax"]] == [
        ("on_train_start", None),
        ("on_step_end", 3),
        ("on_step_end", 6),
        ("on_evaluation_end", 6),
        ("on_checkpoint_saved", 6),
        ("on_step_end", 9),
        ("on_step_end", 12),
        ("on_evaluation_end", 12),
        ("on_checkpoint_saved", 12),
        ("on_train_end", 12),
    ]
    assert recorded["jax"][0][2] == {"max_steps": 12, "seed": 0, "start_step": 0}
    assert recorded["jax"][1][2].keys() == {"loss"}  # the train row's values, steps_per_s left out
    assert recorded["jax"][3][2].keys() == {"val/loss", "val/accuracy"}
    assert recorded["jax"][4][2] == "step-000006"
    assert recorded["jax"][-1][2] == {"max_steps": 12, "seed": 0, "start_step": 0, "step": 12, "stopped": None}
    for backend in ("lightning", "mlx"):
        assert_close(recorded["jax"], recorded[backend], f"jax vs {backend}")
    for backend in BACKENDS:  # the values are the logged rows'
        row = {name: value for step, name, value in train_rows(tmp_path / f"run_{backend}") if step == 3}
        assert recorded[backend][1][2] == {name: value for name, value in row.items() if name != "steps_per_s"}


def train_rows(run_dir: Path) -> list[tuple[int, str, float]]:
    return [(row["step"], row["name"], row["value"]) for row in training.read_metrics(run_dir / "metrics.csv") if row["split"] == "train"]


@pytest.mark.slow
def test_a_stop_request_ends_every_backend_at_that_step_with_a_checkpoint(tmp_path):
    results = run_backends_together(scripts(tmp_path, 30, 4, "stop_at = 9"), tmp_path, check=False)  # checkpoints every 6, rows every 3
    reason = f'Recorder.on_step_end ({tmp_path / "recorder.py"}) returned "stop"'
    for backend, (code, out, err) in results.items():
        assert code == 0, f"{backend} failed:\n{out[-2000:]}\n{err[-3000:]}"
        run_dir = tmp_path / f"run_{backend}"
        assert out.count(f"stopping after step 9: {reason}\n") == 1, f"{backend}:\n{out}"
        assert max(step for step, _, _ in train_rows(run_dir)) == 9, backend
        assert [path.name for path in training.list_checkpoints(run_dir)] == ["step-000009"], backend  # keep = 1
        assert training.read_checkpoint(training.latest_checkpoint(run_dir)).step == 9, backend
        recorded = [comparable(event) for event in events(tmp_path, backend)]
        assert [(hook, step) for hook, step, _ in recorded] == [
            ("on_train_start", None),
            ("on_step_end", 3),
            ("on_evaluation_end", 4),
            ("on_step_end", 6),
            ("on_checkpoint_saved", 6),
            ("on_evaluation_end", 8),
            ("on_step_end", 9),
            ("on_evaluation_end", 9),  # ended as at max_steps: evaluated,
            ("on_checkpoint_saved", 9),  # then saved
            ("on_train_end", 9),
        ], backend
        assert recorded[-1][2] == {"max_steps": 30, "seed": 0, "start_step": 0, "step": 9, "stopped": reason}


@pytest.mark.slow
def test_a_hook_that_raises_ends_the_run_with_one_line_naming_the_users_file_and_line(tmp_path):
    results = run_backends_together(scripts(tmp_path, 12, 6, "fail_at = 3"), tmp_path, check=False)
    expected = f"{tmp_path / 'recorder.py'}:{FAIL_LINE}: Recorder: on_step_end at step 3: ValueError: the hook failed"
    for backend, (code, out, err) in results.items():
        assert code == 1, f"{backend}: exit {code}\n{out[-2000:]}\n{err[-3000:]}"
        assert "Traceback" not in err, f"{backend}:\n{err[-3000:]}"
        assert err.rstrip("\n").splitlines()[-1].strip() == expected, f"{backend}:\n{err[-2000:]}"


# ----------------------------------------------------------------------------- the example

EXAMPLES = Path(__file__).resolve().parents[2] / "specs" / "examples"


@pytest.mark.parametrize("backend", [None, *BACKENDS])
def test_the_example_lints_clean(backend):
    result = pipeline.check(str(EXAMPLES / "seed002_callbacks.mf"), lambda name: Path(name).read_bytes(), (), backend)
    assert [diagnostic.message for diagnostic in result.diagnostics] == []


@pytest.mark.slow
def test_the_example_prints_every_100_steps_alike_on_every_backend(tmp_path):
    result = pipeline.check(str(EXAMPLES / "seed002_callbacks.mf"), lambda name: Path(name).read_bytes(), ("train.max_steps=200",))
    results = run_backends_together({backend: emit.render(result.program, backend) for backend in BACKENDS}, tmp_path, check=False)
    printed = {}
    for backend, (code, out, err) in results.items():
        assert code == 0, f"{backend} failed:\n{out[-2000:]}\n{err[-3000:]}"
        found = re.findall(r"Step (\d+): loss = (\d+\.\d{4})\n", out)  # Lightning's bar may share the line
        assert [int(step) for step, _ in found] == [100, 200], f"{backend}:\n{out[-2000:]}"
        printed[backend] = [float(loss) for _, loss in found]
    for backend in ("lightning", "mlx"):
        assert printed[backend] == pytest.approx(printed["jax"], abs=2e-4), backend  # printed to 4 decimals


# ----------------------------------------------------------------------------- several processes

STOPPED_AT_9 = [
    ("on_train_start", None), ("on_step_end", 3), ("on_evaluation_end", 4), ("on_step_end", 6),
    ("on_checkpoint_saved", 6), ("on_evaluation_end", 8), ("on_step_end", 9), ("on_evaluation_end", 9),
    ("on_checkpoint_saved", 9), ("on_train_end", 9),
]


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_on_two_ranks_the_hooks_run_once_and_a_stop_ends_every_rank_at_that_step(backend, tmp_path):
    # The hooks run on the main process only (one events.jsonl line per event, one "stopping"
    # line), and its stop reaches the other rank at the same row: both leave after step 9,
    # evaluate and save there (a rank stopping alone would hang the other in its next
    # all-reduce). JAX runs as two processes joined by jax.distributed, Lightning as ddp over
    # gloo, MLX under mlx.launch.
    from tests.backends.test_data_parallel_end_to_end import MODULES, run, run_jax_processes

    pytest.importorskip(MODULES[backend])
    script = tmp_path / f"train_{backend}.py"
    script.write_text(scripts(tmp_path, 30, 4, "stop_at = 9")[backend], encoding="utf-8")
    if backend == "jax":
        results = run_jax_processes(script, "--out-dir", tmp_path / f"run_{backend}")
        assert [result.returncode for result in results] == [0, 0], [result.stderr[-2000:] for result in results]
        out = "".join(result.stdout for result in results)
    else:
        out = run(script, 2, "--out-dir", tmp_path / f"run_{backend}").stdout
    run_dir = tmp_path / f"run_{backend}"
    reason = f'Recorder.on_step_end ({tmp_path / "recorder.py"}) returned "stop"'
    assert out.count(f"stopping after step 9: {reason}\n") == 1, out[-3000:]
    assert max(step for step, _, _ in train_rows(run_dir)) == 9
    assert training.read_checkpoint(training.latest_checkpoint(run_dir)).step == 9
    assert [(hook, step) for hook, step, _ in map(comparable, events(tmp_path, backend))] == STOPPED_AT_9
