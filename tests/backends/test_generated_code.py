"""Generated scripts are code a hand-writer would sign: ``ruff check`` with its default
rules reports nothing, and the two reference scripts stay short enough to read top to bottom.

ruff runs ``--isolated`` (no configuration file applies) on each script alone in a fresh
folder, as a user's repository would hold it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.backends.test_golden import EXPECTED

RUFF = shutil.which("ruff") or str((__import__("pathlib").Path(sys.executable).parent / "ruff"))

# spec -> the most lines its generated script may have on any backend
# (ksin_flow: 460 since its test_sampler, whose guided integration Lightning prints in 10 lines)
LINE_BUDGETS = {"digits_mlp": 250, "ksin_flow": 460}


@pytest.mark.parametrize("path", sorted(EXPECTED), ids=lambda path: path.name)
def test_ruff_reports_nothing(path, tmp_path):
    script = tmp_path / "train.py"
    script.write_text(EXPECTED[path], encoding="utf-8")
    result = subprocess.run(
        [RUFF, "check", "--isolated", "--no-cache", "--output-format", "concise", script.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "path",
    sorted(path for path in EXPECTED if path.name.split(".")[0] in LINE_BUDGETS),
    ids=lambda path: path.name,
)
def test_reference_scripts_stay_short(path):
    lines = EXPECTED[path].count("\n")
    budget = LINE_BUDGETS[path.name.split(".")[0]]
    assert lines <= budget, f"{path.name}: {lines} lines, budget {budget}"


def _ruff_problems(text: str, folder) -> str:
    script = folder / "train.py"
    script.write_text(text, encoding="utf-8")
    result = subprocess.run(
        [RUFF, "check", "--isolated", "--no-cache", "--output-format", "concise", script.name],
        cwd=folder,
        capture_output=True,
        text=True,
    )
    return "" if result.returncode == 0 else result.stdout + result.stderr


WITHOUT_METRICS = {
    "digits_mlp": ("eval.metrics=[]", 'train.checkpoint.monitor="val/loss"'),
    "astro_lm": ("eval.metrics=[]",),
    "audio_classifier": ("eval.metrics=[]",),
}


@pytest.mark.parametrize("spec", sorted(WITHOUT_METRICS))
def test_a_spec_without_evaluation_metrics_leaves_no_unused_name(spec, tmp_path):
    """With ``eval.metrics = []`` the evaluation step computes no metric, so it must not keep
    the logits or the shifted labels a metric would have read (``ruff``: F841, RUF059)."""
    from specc.compiler.cli.main import read
    from specc.compiler.emit.render import render
    from specc.compiler.pipeline import check
    specs = __import__("pathlib").Path(__file__).resolve().parents[2] / "specs"
    result = check(str(specs / f"{spec}.mf"), read, WITHOUT_METRICS[spec], None)
    assert not [item for item in result.diagnostics if item.severity == "error"], result.diagnostics
    problems = {backend: _ruff_problems(render(result.program, backend), tmp_path) for backend in ("jax", "lightning", "mlx")}
    assert problems == {"jax": "", "lightning": "", "mlx": ""}


# astro_lm with its loss reduced to the cross-entropy: no expected-value term is left
CROSS_ENTROPY_ONLY = ("objective.loss=cross_entropy(ignore_index = 0)",)
# the names and calls of the expected-value terms' machinery (arrays, position draws)
EXPECTED_VALUE_MACHINERY = ("expected_value_arrays", "expected_value_term", "position_draws", "token_positions", "ranges =")


def _language_model_without_terms(spec: str, backend: str, folder):
    """The checked program of astro_lm (cross-entropy only) or of the token-stream LM of
    tests/data/test_token_stream_end_to_end.py (its data folder written into ``folder``)."""
    from specc.compiler.cli.main import read
    from specc.compiler.pipeline import check

    from tests.data.test_token_stream_end_to_end import SPEC, token_folder

    if spec == "astro_lm":
        specs = __import__("pathlib").Path(__file__).resolve().parents[2] / "specs"
        result = check(str(specs / "astro_lm.mf"), read, CROSS_ENTROPY_ONLY, backend)
    else:
        vocabulary = token_folder(folder / "tok")
        (folder / "stream_lm.mf").write_text(SPEC.format(vocab=vocabulary), encoding="utf-8")
        result = check(str(folder / "stream_lm.mf"), read, (), backend)
    assert not [item for item in result.diagnostics if item.severity == "error"], result.diagnostics
    assert result.program.objective.kind == "language_model"
    return result.program


@pytest.mark.parametrize("backend", ("jax", "lightning", "mlx"))
@pytest.mark.parametrize("spec", ("astro_lm", "stream_lm"))
def test_a_language_model_without_expected_value_terms_carries_none_of_their_machinery(spec, backend, tmp_path):
    """A loss of cross-entropy alone: no ``objectives`` import, no term arrays, no position
    draws, nothing passed around for them (ruff: F401, F841), the loss still the cross-entropy."""
    from specc.compiler.emit.render import render

    text = render(_language_model_without_terms(spec, backend, tmp_path), backend)
    assert _ruff_problems(text, tmp_path) == ""
    imports = [line for line in text.splitlines() if line.startswith("from specc.runtime.")]
    assert imports and not [line for line in imports if "objectives" in line], imports
    assert [name for name in EXPECTED_VALUE_MACHINERY if name in text] == []
    assert "transform=" not in text  # the loaders draw nothing for the objective
    calls = [line.strip() for line in text.splitlines() if "losses.cross_entropy(logits, labels" in line]
    assert len(calls) == 1, calls  # the loss is the cross-entropy, with astro_lm's ignore_index
    assert ("ignore_index=" in calls[0]) == (spec == "astro_lm"), calls


@pytest.mark.slow
@pytest.mark.parametrize("backend", ("jax", "lightning", "mlx"))
def test_a_cross_entropy_only_astro_lm_trains_two_steps(backend, tmp_path):
    """The script without the expected-value machinery runs: two logged training steps and
    one evaluation of astro_lm shrunk, its loss equal to its cross-entropy."""
    import csv

    from specc.compiler.cli.main import read
    from specc.compiler.emit.render import render
    from specc.compiler.pipeline import check

    from tests.backends.runner import run_script

    shrunk = (
        "d_model=16", "n_layers=1", "n_heads=2", "d_ff=32", "max_len=64", "image_vocabulary=16",
        "scalar_vocabulary=8", "spectrum_vocabulary=8", "data.sequence_length=48", "data.image_tokens=16",
        "data.scalar_tokens=8", "data.spectrum_tokens=16", "data.sizes=[32,8,8]", "data.batch_size=4",
        "train.max_steps=2", "train.log_every=1", "train.eval_every=2", "train.checkpoint.every=2",
        "train.precision=fp32", "schedule.warmup=1",
    )
    specs = __import__("pathlib").Path(__file__).resolve().parents[2] / "specs"
    result = check(str(specs / "astro_lm.mf"), read, CROSS_ENTROPY_ONLY + shrunk, backend)
    assert not [item for item in result.diagnostics if item.severity == "error"], result.diagnostics
    script = tmp_path / "train.py"
    script.write_text(render(result.program, backend), encoding="utf-8")
    run = run_script(script, "--out-dir", tmp_path / "run", timeout=300, env={"OMP_NUM_THREADS": "1"})
    assert run.returncode == 0, run.stdout + run.stderr
    with open(tmp_path / "run" / "metrics.csv", newline="") as handle:
        rows = {(row["split"], int(row["step"]), row["name"]): float(row["value"]) for row in csv.DictReader(handle)}
    for split, step in (("train", 1), ("train", 2), ("val", 2)):
        assert rows[(split, step, "loss")] == pytest.approx(rows[(split, step, "cross_entropy")], rel=1e-6), (split, step)
    assert {name for split, _, name in rows if split == "val"} >= {"loss", "cross_entropy", "perplexity", "accuracy"}
