"""`specc lint` (the command CI runs) is clean on the seed specs and the standard library,
and the files are in the formatter's canonical layout."""

from __future__ import annotations

import subprocess
import sys

import pytest

from specc.dsl.formatter import format_source
from tests.specs.helpers import SEED_SPECS, SPECS, spec_path

FILES = [spec_path(name) for name in SEED_SPECS] + sorted(str(path) for path in (SPECS / "std").glob("*.mf"))


def test_specc_lint_is_clean():
    command = [sys.executable, "-c", "from specc.compiler.cli.main import main; main()", "lint", *FILES]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert f"{len(FILES)} file(s) checked, no problems" in completed.stdout + completed.stderr


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.rsplit("/", 2)[-1])
def test_file_is_formatted(path):
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    formatted, diagnostics = format_source(text, path)
    assert diagnostics == []
    assert formatted == text
