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
