"""The checkpoint policy of seeds 001 and 002 (issue 15), the same on JAX, Lightning and MLX:

- ``enable = false`` (002's ``enable_checkpointing=False``): no checkpoint at all, training
  and evaluation logged as before; ``--resume`` and ``--eval-only`` without a PATH end with
  one line; every other checkpoint key is E0543;
- ``dirpath`` (002's ``ModelCheckpoint(dirpath=...)``): the checkpoints' folder, relative to
  the run directory or absolute; the run directory's ``checkpoints`` links to it, so ``last``,
  top-k, ``--resume auto``, ``specc inspect`` and ``specc.load_model`` of the run follow it;
- ``keep = all`` (001's step checkpoints, Lightning's ``save_top_k=-1``): nothing pruned;
  ``monitor`` beside it is E0543;
- ``every`` with ``every_n_epochs`` (001's step and epoch checkpoints): a checkpoint at both.

The end-to-end runs train specs/digits_mlp.mf (19 steps an epoch, batch 64) for 30 or 40
steps on each backend; the folders each one keeps must be the expected set, the same on all
three.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from specc.runtime import training
from specc.runtime.training import checkpoints, rundir

from tests.backends.runner import REPOSITORY, run_script, write_script
from tests.checker.helpers import DIGITS, edit, rendered, run

BACKENDS = ("jax", "lightning", "mlx")
MODULES = {"jax": "flax", "lightning": "lightning", "mlx": "mlx.core"}
DIGITS_CHECKPOINT = 'checkpoint { every = 10, keep = 2, monitor = "val/accuracy", mode = max }'
SPEC_CHECKPOINT = '  checkpoint {\n    every = 200\n    keep = 2\n    monitor = "val/accuracy"\n    mode = max\n  }\n'


def digits(checkpoint: str, more: str = "") -> str:
    """specs/digits_mlp.mf with ``checkpoint { <checkpoint> }`` and ``more`` lines of ``train``."""
    text = (REPOSITORY / "specs" / "digits_mlp.mf").read_text(encoding="utf-8")
    return edit(text, SPEC_CHECKPOINT, f"  checkpoint {{ {checkpoint} }}\n{more}")


def steps(run_dir) -> list[int]:
    """The steps of the checkpoint folders of a run (through its ``checkpoints`` link)."""
    return [checkpoints.manifest_step(folder) for folder in checkpoints.list_checkpoints(run_dir)]


# ----------------------------------------------------------------------------- the checker


def only_diagnostic(text: str, overrides=()) -> str:
    found = rendered(run(text, overrides))
    assert len(found) == 1, found
    return found[0]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            "0",
            (
                "spec.mf:22:35: error[E0403]: `keep` must be >= 1 or `all`, found 0\n"
                "   |\n"
                "22 |   checkpoint { every = 10, keep = 0 }\n"
                "   |                                   ^"
            ),
        ),
        (
            "alll",
            (
                "spec.mf:22:35: error[E0406]: `keep` must be an integer or `all`; found `alll`\n"
                "   |\n"
                "22 |   checkpoint { every = 10, keep = alll }\n"
                "   |                                   ^^^^\n"
                "help: did you mean `all`?"
            ),
        ),
        (
            "2.5",
            (
                "spec.mf:22:35: error[E0402]: `keep` expects an integer or `all`, found float `2.5`\n"
                "   |\n"
                "22 |   checkpoint { every = 10, keep = 2.5 }\n"
                "   |                                   ^^^"
            ),
        ),
    ],
)
def test_keep_is_a_count_or_all_and_zero_is_not_all(value, expected):
    text = edit(DIGITS, DIGITS_CHECKPOINT, f"checkpoint {{ every = 10, keep = {value} }}")
    assert only_diagnostic(text) == expected


def test_keep_all_lowers_written_or_set():
    written = run(edit(DIGITS, DIGITS_CHECKPOINT, "checkpoint { every = 10, keep = all }"))
    assert rendered(written) == [] and written.program.train.checkpoint.keep == "all"
    overridden = run(edit(DIGITS, DIGITS_CHECKPOINT, "checkpoint { every = 10 }"), ("train.checkpoint.keep=all",))
    assert rendered(overridden) == [] and overridden.program.train.checkpoint.keep == "all"


def test_enable_false_refuses_every_other_key_written():
    text = edit(DIGITS, DIGITS_CHECKPOINT, "checkpoint { enable = false, keep = 3, dirpath = \"ckpt\" }")
    assert rendered(run(text)) == [
        (
            "spec.mf:22:39: error[E0543]: checkpoint `keep` has no effect: `enable = false` writes no checkpoint\n"
            "   |\n"
            '22 |   checkpoint { enable = false, keep = 3, dirpath = "ckpt" }\n'
            "   |                                       ^\n"
            "help: remove `keep`, or `enable = false` to write checkpoints"
        ),
        (
            "spec.mf:22:52: error[E0543]: checkpoint `dirpath` has no effect: `enable = false` writes no checkpoint\n"
            "   |\n"
            '22 |   checkpoint { enable = false, keep = 3, dirpath = "ckpt" }\n'
            "   |                                                    ^^^^^^\n"
            "help: remove `dirpath`, or `enable = false` to write checkpoints"
        ),
    ]
    alone = run(edit(DIGITS, DIGITS_CHECKPOINT, "checkpoint { enable = false }"))
    assert rendered(alone) == [] and alone.program.train.checkpoint.enable is False


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("", '`dirpath` is empty: the script could not open ""'),
        ("..", '`dirpath` ".." names a folder above the run directory, which holds more than this run\'s checkpoints'),
        ("/", '`dirpath` "/" names a folder above the run directory, which holds more than this run\'s checkpoints'),
        ("./a/..", '`dirpath` "./a/.." names the run directory itself: checkpoints need a folder of their own'),
        (
            "checkpoints/best",
            '`dirpath` "checkpoints/best" is inside `checkpoints`, which the run directory links to the checkpoint folder',
        ),
    ],
)
def test_a_dirpath_that_is_no_folder_of_its_own_is_refused(path, message):
    text = edit(DIGITS, DIGITS_CHECKPOINT, f'checkpoint {{ dirpath = "{path}" }}')
    assert only_diagnostic(text).split("\n")[0] == f"spec.mf:22:26: error[E0519]: {message}"


def test_every_and_every_n_epochs_together_save_at_both():
    result = run(edit(DIGITS, DIGITS_CHECKPOINT, "checkpoint { every = 10, every_n_epochs = 2 }"))
    assert rendered(result) == []
    from specc.compiler.emit import render as emit

    for backend in ("jax", "mlx"):
        source = emit.render(result.program, backend)
        assert "epoch_checkpoint_steps = checkpoint_every_n_epochs * steps_per_epoch" in source
        assert "step % epoch_checkpoint_steps == 0" in source and "step % checkpoint_every == 0" in source
    assert "epoch_steps=epoch_checkpoint_steps" in emit.render(result.program, "lightning")


def test_a_spec_without_the_options_passes_no_folder():
    from specc.compiler.emit import render as emit

    result = run(DIGITS)
    for backend in BACKENDS:
        source = emit.render(result.program, backend)
        assert "training.start_run(arguments, SPEC_NAME, SPEC_HASH)" in source, backend
        assert "enable_checkpointing" not in source and "checkpoint_dirpath" not in source


# ----------------------------------------------------------------------------- the runtime


def test_keep_all_prunes_nothing(tmp_path):
    for step in (1, 2, 3):
        checkpoints.write_checkpoint(tmp_path, step, {"w": [float(step)]}, {}, {"metrics": {"val/loss": float(step)}})
    kept = checkpoints.prune_checkpoints(tmp_path, "all", None, "min")
    assert sorted(folder.name for folder in kept) == ["step-000001", "step-000002", "step-000003"]
    assert steps(tmp_path) == [1, 2, 3]
    assert checkpoints.retained([(1, 0.5), (2, 0.1), (3, None)], "all", "min") == {1, 2, 3}


def test_the_run_directory_links_to_an_absolute_dirpath(tmp_path):
    run_dir, folder = tmp_path / "run", tmp_path / "elsewhere" / "ckpt"
    rundir.link_checkpoint_folder(run_dir, str(folder))
    checkpoints.write_checkpoint(run_dir, 4, {"w": [1.0]}, {}, {})
    assert (run_dir / "checkpoints").is_symlink() and os.readlink(run_dir / "checkpoints") == str(folder)
    assert (folder / "step-000004" / "manifest.json").is_file()
    assert checkpoints.latest_checkpoint(run_dir) == (folder / "step-000004").resolve()
    rundir.link_checkpoint_folder(run_dir, str(folder))  # a second start keeps the link
    assert steps(run_dir) == [4]


def test_a_checkpoints_folder_of_its_own_is_not_replaced_by_the_link(tmp_path):
    checkpoints.write_checkpoint(tmp_path, 2, {"w": [1.0]}, {}, {})
    with pytest.raises(SystemExit) as stopped:
        rundir.link_checkpoint_folder(tmp_path, "ckpt")
    assert str(stopped.value) == (
        f"run directory {str(tmp_path)!r} holds checkpoints in its own {str(tmp_path / 'checkpoints')!r}, but this "
        "script writes them to 'ckpt' (train.checkpoint.dirpath): move that folder away, or choose another --out-dir"
    )
    empty = tmp_path / "fresh"
    (empty / "checkpoints").mkdir(parents=True)
    rundir.link_checkpoint_folder(empty, "ckpt")  # an empty folder becomes the link
    assert os.readlink(empty / "checkpoints") == "ckpt" and (empty / "ckpt").is_dir()


@pytest.mark.parametrize(
    ("resume", "eval_only", "message"),
    [
        (
            "auto",
            None,
            (
                "--resume auto: nothing to resume: this script writes no checkpoint (train.checkpoint.enable = false); "
                "run it without --resume (with another --out-dir to keep this run's metrics.csv)"
            ),
        ),
        (
            None,
            "all",
            (
                "--eval-only: this script writes no checkpoint (train.checkpoint.enable = false), so run directory "
                "'{run}' has none to evaluate; pass --resume PATH"
            ),
        ),
    ],
)
def test_a_run_without_checkpoints_refuses_to_resume_in_one_line(tmp_path, resume, eval_only, message):
    with pytest.raises(SystemExit) as stopped:
        rundir.resolve_start(tmp_path, resume, eval_only, checkpointing=False)
    assert str(stopped.value) == message.format(run=tmp_path)


# ----------------------------------------------------------------------------- end to end

# early stopping without checkpoints: nothing improves by 1000, so the run stops at its second evaluation
EARLY_STOP = '  early_stopping { monitor = "val/loss", patience = 1, min_delta = 1000.0 }\n'
POLICIES = {  # name: (checkpoint section, max_steps, the steps whose folders are kept)
    "enable_false": ("enable = false", 30, []),
    "dirpath": ('every = 10, keep = 2, monitor = "val/accuracy", mode = max, dirpath = "ckpt"', 30, [20, 30]),
    "keep_all": ("every = 10, keep = all", 30, [10, 20, 30]),
    # 19 steps an epoch: the epoch ends at 19 and 38, the steps at 10, 20, 30, 40 (the end)
    "every_and_every_n_epochs": ("every = 10, every_n_epochs = 1, keep = all", 40, [10, 19, 20, 30, 38, 40]),
}
OVERRIDES = ("train.eval_every=10", "train.log_every=10")


def compile_policy(name: str):
    section, max_steps, _ = POLICIES[name]
    text = digits(section, EARLY_STOP if name == "enable_false" else "")
    result = run(text, OVERRIDES + (f"train.max_steps={max_steps}",))
    assert result.program is not None, rendered(result)
    return result.program


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """{(policy, backend): run directory} of every policy trained by every backend."""
    found = {}
    for backend in BACKENDS:
        if not _importable(MODULES[backend]):
            continue
        for name in POLICIES:
            folder = tmp_path_factory.mktemp(f"{name}_{backend}")
            script = write_script(compile_policy(name), backend, folder)
            run_script(script, "--out-dir", folder / "run", check=True, env={"OMP_NUM_THREADS": "1"})
            found[name, backend] = folder / "run"
    return found


def _importable(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def backend_runs(runs, name: str) -> dict:
    found = {backend: runs[name, backend] for backend in BACKENDS if (name, backend) in runs}
    if len(found) < len(BACKENDS):
        pytest.skip("a backend's framework is not installed")
    return found


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(POLICIES))
def test_each_policy_keeps_the_expected_folders_on_every_backend(runs, name):
    kept = {backend: steps(run_dir) for backend, run_dir in backend_runs(runs, name).items()}
    assert kept["jax"] == kept["lightning"] == kept["mlx"], kept
    assert kept["jax"] == POLICIES[name][2]


@pytest.mark.slow
def test_enable_false_writes_nothing_and_stops_early_as_before(runs):
    for backend, run_dir in backend_runs(runs, "enable_false").items():
        assert not (run_dir / "checkpoints").exists(), backend
        rows = training.read_metrics(run_dir / "metrics.csv")
        assert sorted({row["step"] for row in rows if row["split"] == "val"}) == [10, 20], backend
        assert max(row["step"] for row in rows if row["split"] == "train") == 20, backend


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_enable_false_resume_and_eval_only_end_in_one_line(runs, backend, tmp_path):
    run_dir = backend_runs(runs, "enable_false")[backend]
    script = next(run_dir.parent.glob("train_*.py"))
    resumed = run_script(script, "--out-dir", run_dir, "--resume", "auto")
    assert resumed.returncode == 1 and "Traceback" not in resumed.stderr
    assert resumed.stderr.strip().splitlines()[-1].startswith("--resume auto: nothing to resume: this script writes")
    evaluated = run_script(script, "--out-dir", tmp_path / "evaluation", "--eval-only", "--resume",
                           backend_runs(runs, "keep_all")[backend] / "checkpoints" / "last")
    assert evaluated.returncode == 0, evaluated.stderr  # another run's checkpoint evaluates
    rows = training.read_metrics(tmp_path / "evaluation" / "metrics.csv")
    assert {row["split"] for row in rows} == {"val", "test"} and {row["step"] for row in rows} == {30}


@pytest.mark.slow
def test_dirpath_holds_the_checkpoints_and_everything_follows_it(runs):
    import specc

    for backend, run_dir in backend_runs(runs, "dirpath").items():
        assert os.readlink(run_dir / "checkpoints") == "ckpt", backend
        assert sorted(path.name for path in (run_dir / "ckpt").iterdir()) == ["last", "step-000020", "step-000030"]
        assert training.latest_checkpoint(run_dir) == (run_dir / "ckpt" / "step-000030").resolve()
        described = specc.describe_checkpoint(run_dir)
        assert Path(described["checkpoint"]) == (run_dir / "ckpt" / "step-000030").resolve() and described["step"] == 30
        assert type(specc.load_model(run_dir)).__name__ == "Mlp"


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_run_resumes_from_its_dirpath(runs, backend, tmp_path):
    straight = backend_runs(runs, "dirpath")[backend]
    script = write_script(compile_policy("dirpath"), backend, tmp_path)
    run_dir = tmp_path / "run"
    run_script(script, "--out-dir", run_dir, "--max-steps", "20", check=True, env={"OMP_NUM_THREADS": "1"})
    assert steps(run_dir) == [10, 20]
    resumed = run_script(script, "--out-dir", run_dir, "--resume", "auto", check=True, env={"OMP_NUM_THREADS": "1"})
    assert "starting a fresh run" not in resumed.stderr
    assert steps(run_dir) == steps(straight) == [20, 30]
    rows = training.read_metrics(run_dir / "metrics.csv")
    assert sorted({row["step"] for row in rows if row["split"] == "val"}) == [10, 20, 30]


SAVED_PATHS = '''\
import os


class SavedPaths:
    """Writes the folder of every checkpoint saved to <run_dir>/saved.txt."""

    def on_train_start(self, info):
        self.path = os.path.join(info["run_dir"], "saved.txt")

    def on_checkpoint_saved(self, step, path):
        with open(self.path, "a") as stream:
            stream.write(f"{step} {os.path.realpath(path)}\\n")
'''


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_the_user_hook_gets_the_checkpoints_in_dirpath(backend, tmp_path):
    pytest.importorskip(MODULES[backend])
    from specc.compiler import pipeline

    (tmp_path / "saved.py").write_text(SAVED_PATHS, encoding="utf-8")
    text = edit(digits("every = 10, keep = all, dirpath = \"ckpt\""), "  max_steps = 600\n",
                '  max_steps = 20\n  callbacks = [python("saved.py", "SavedPaths")]\n')
    (tmp_path / "spec.mf").write_text(text, encoding="utf-8")
    result = pipeline.check(str(tmp_path / "spec.mf"), lambda name: Path(name).read_bytes(), OVERRIDES)
    assert result.program is not None, [diagnostic.message for diagnostic in result.diagnostics]
    script = write_script(result.program, backend, tmp_path)
    run_dir = tmp_path / "run"
    run_script(script, "--out-dir", run_dir, check=True, env={"OMP_NUM_THREADS": "1"})
    folder = (run_dir / "ckpt").resolve()
    saved = (run_dir / "saved.txt").read_text(encoding="utf-8").split("\n")
    assert saved == [f"10 {folder / 'step-000010'}", f"20 {folder / 'step-000020'}", ""]
