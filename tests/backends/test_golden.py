"""Golden files pin the generated code of every example spec x backend
(regenerate with ``python scripts/regenerate_golden.py``)."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from tests.backends.runner import REPOSITORY


def load_regenerator():
    spec = importlib.util.spec_from_file_location("regenerate_golden", REPOSITORY / "scripts" / "regenerate_golden.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["regenerate_golden"] = module
    spec.loader.exec_module(module)
    return module


REGENERATOR = load_regenerator()
EXPECTED = REGENERATOR.expected_files()


def test_every_example_spec_has_golden_files_for_every_backend():
    assert EXPECTED, "no example specs found"
    for spec in REGENERATOR.example_specs():
        name = spec.rsplit("/", 1)[1].removesuffix(".mf")
        for backend in REGENERATOR.golden_backends():
            assert (REPOSITORY / "tests" / "golden" / f"{name}.{backend}.py") in EXPECTED


@pytest.mark.parametrize("path", sorted(EXPECTED), ids=lambda path: path.name)
def test_golden_file_is_current(path):
    assert path.is_file(), f"missing {path.name}: run python scripts/regenerate_golden.py"
    assert path.read_text(encoding="utf-8") == EXPECTED[path], (
        f"{path.name} is stale: run python scripts/regenerate_golden.py and review the diff"
    )
