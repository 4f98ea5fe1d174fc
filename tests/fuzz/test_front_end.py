"""The front end under fuzzing: no exception escapes lint, fmt or compile; output stays
bounded; fmt is idempotent and keeps the tree and the diagnostics (tests/fuzz/harness.py).

The inputs are grammar-aware (tests/fuzz/grammar.py): every spec of the repository as
written, then mutations of them and specs written from the grammar, drawn by hypothesis
(``st.randoms()``: each choice is a draw, so a failure shrinks to a small input). The run is
derandomized, hence the same in CI every time, and sized to take well under a minute on the
2-core CI machine. The long, randomly seeded, coverage-guided run of the same cases is
``python scripts/fuzz_front_end.py --minutes 10``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz import grammar, harness

SEEDS = grammar.seed_texts()
EXAMPLES = 120


@pytest.fixture(scope="module")
def workspace():
    folder = harness.Workspace()
    yield folder
    folder.close()


@st.composite
def cases(draw):
    return grammar.make_case(draw(st.randoms(use_true_random=False)), SEEDS)


def test_the_seeds_are_every_spec_of_the_repository():
    names = {path.relative_to(grammar.ROOT).as_posix() for path in grammar.seed_paths()}
    assert {"specs/ksin_flow.mf", "specs/digits_mlp.mf", "specs/std/transformer.mf"} <= names
    assert len(SEEDS) == len(names) >= 14


@pytest.mark.parametrize("path", grammar.seed_paths(), ids=lambda path: path.name)
def test_every_seed_as_written(path, workspace, tmp_path):
    if b'extends "../' in path.read_bytes():  # its base is in the folder above: the same layout in tmp_path
        (tmp_path / path.parent.name).mkdir()
        for base in path.parent.parent.glob("*.mf"):
            shutil.copy(base, tmp_path)
        workspace = harness.Workspace(str(tmp_path / path.parent.name))
    if path.parent.name == "examples":  # an example's data lives beside it (specs/examples/chars)
        for folder in path.parent.iterdir():
            if folder.is_dir() and folder.name != "__pycache__":
                shutil.copytree(folder, Path(workspace.spec).parent / folder.name, dirs_exist_ok=True)
            elif folder.suffix == ".py":  # user code a spec names (data python, python(...))
                shutil.copy(folder, Path(workspace.spec).parent / folder.name)
    outcome = harness.exercise(grammar.Case(path.read_bytes()), workspace)
    assert outcome.formatted
    if path.parent.name != "std":
        assert outcome.lint_status == 0 and outcome.rendered  # an example spec compiles


@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)
@given(case=cases())
def test_no_input_breaks_the_front_end(case, workspace):
    harness.exercise(case, workspace)
