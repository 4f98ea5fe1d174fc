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
LINE_BUDGETS = {"digits_mlp": 250, "ksin_flow": 450}


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
