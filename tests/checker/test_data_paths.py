"""Data file paths are relative to the spec file that writes them, like imports, and a
missing one is warning E0527 at its position (``specc.compiler.check.data_paths``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from specc.compiler.check.data_paths import located
from specc.compiler.cli.main import read
from specc.compiler.pipeline import check
from specc.dsl.diagnostics import render_text
from tests.checker.helpers import DIGITS, edit

NPZ = edit(DIGITS, "data digits {", 'data npz {\n  path = "data/digits.npz"\n  fields = { x = "f32[64]", y = "i64[]" }')
ROOT = Path(__file__).resolve().parents[2]


def arguments(result) -> dict:
    return dict(result.program.data.source.arguments)


@pytest.fixture
def project(tmp_path):
    (tmp_path / "specs" / "data").mkdir(parents=True)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(120, 64)).astype(np.float32), rng.integers(0, 10, 120)
    np.savez(tmp_path / "specs" / "data" / "digits.npz", x=x, y=y)
    (tmp_path / "specs" / "spec.mf").write_text(NPZ)
    return tmp_path


def test_located():
    assert located("data/x.npz", "specs", None) == "specs/data/x.npz"
    assert located("../x.npz", "specs/sub", "/home/me/project") == "/home/me/project/specs/x.npz"
    assert located("/data/x.npz", "specs", "/home/me") == "/data/x.npz"
    assert located("x.npz", "", None) == "x.npz"


def test_a_relative_path_starts_at_the_spec_file_folder(project, monkeypatch):
    monkeypatch.chdir(project)
    result = check("specs/spec.mf", read, (), "jax", base=str(project), exists=os.path.exists)
    assert result.diagnostics == []
    assert arguments(result)["path"] == f"{project}/specs/data/digits.npz"
    written = check("specs/spec.mf", read, ('data.path="specs/data/digits.npz"',), "jax", exists=os.path.exists)
    assert written.diagnostics == []  # --set: relative to the current folder, as command lines are
    assert arguments(written)["path"] == "specs/data/digits.npz"


def test_an_absolute_path_is_kept(project, monkeypatch):
    monkeypatch.chdir(project)
    absolute = str(project / "specs" / "data" / "digits.npz")
    result = check("specs/spec.mf", read, (f'data.path="{absolute}"',), "jax", base="/somewhere", exists=os.path.exists)
    assert arguments(result)["path"] == absolute


def test_a_missing_data_file_is_a_warning_at_its_position(project, monkeypatch):
    monkeypatch.chdir(project)
    (project / "specs" / "data" / "digits.npz").unlink()
    result = check("specs/spec.mf", read, (), "jax", base=str(project), exists=os.path.exists)
    assert [render_text(d, result.sources) for d in result.diagnostics] == [
        "specs/spec.mf:5:10: warning[E0527]: `path` names `data/digits.npz`, which does not exist (the script opens "
        "`specs/data/digits.npz`)\n"
        "  |\n"
        '5 |   path = "data/digits.npz"\n'
        "  |          ^^^^^^^^^^^^^^^^^\n"
        "help: create the file before running the script, or fix the path: a relative path starts at the folder of "
        "the spec file that writes it, like an import"
    ]
    assert result.program is not None  # a warning: the file may be made before the run
    documented = (ROOT / "docs" / "diagnostics" / "checker.md").read_text(encoding="utf-8")
    assert "## E0527:" in documented and render_text(result.diagnostics[0], result.sources) in documented


def test_lint_reports_it_and_strict_fails(project):
    (project / "specs" / "data" / "digits.npz").unlink()
    lint = [sys.executable, "-m", "specc", "lint", "specs/spec.mf"]
    shown = subprocess.run(lint, cwd=project, capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0 and "specs/spec.mf:5:10: warning[E0527]: `path` names `data/digits.npz`" in shown.stdout
    assert subprocess.run([*lint, "--strict"], cwd=project, capture_output=True, timeout=120).returncode == 1


@pytest.mark.slow
def test_the_script_runs_from_any_folder(project, tmp_path):
    pytest.importorskip("jax")
    script = tmp_path / "elsewhere" / "train.py"
    script.parent.mkdir()
    compiled = subprocess.run(
        [sys.executable, "-m", "specc", "compile", "specs/spec.mf", "--backend", "jax", "-o", str(script)],
        cwd=project, capture_output=True, text=True, timeout=120,
    )
    assert compiled.returncode == 0, compiled.stderr
    ran = subprocess.run(
        [sys.executable, str(script), "--out-dir", "run", "--max-steps", "2"], cwd=script.parent,
        env=dict(os.environ, OMP_NUM_THREADS="1"), capture_output=True, text=True, timeout=300,
    )
    assert ran.returncode == 0, ran.stderr
    assert "step 2 val: accuracy" in ran.stdout


def test_the_token_stream_metadata_is_read_from_the_spec_folder(tmp_path, monkeypatch):
    from tests.checker.cases import STREAM_LM

    text = DIGITS
    for old, new in STREAM_LM + [("block_size = 8", 'block_size = 8\n  meta = "tok/meta.json"')]:
        text = edit(text, old, new)
    (tmp_path / "specs" / "tok").mkdir(parents=True)
    (tmp_path / "specs" / "spec.mf").write_text(text)
    (tmp_path / "specs" / "tok" / "meta.json").write_text('{"vocab_size": 66}')
    (tmp_path / "specs" / "tok" / "train.bin").write_bytes(b"\0" * 64)
    monkeypatch.chdir(tmp_path)
    result = check("specs/spec.mf", read, (), None, base=str(tmp_path), exists=os.path.exists)
    assert [d.message for d in result.diagnostics] == [
        "`tok/meta.json` gives vocab_size = 66, but model `mlp` returns 40 logits per token"
    ]
