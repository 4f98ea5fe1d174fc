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
UNSUPPORTED: list = []
EXPECTED = REGENERATOR.expected_files(UNSUPPORTED)


def test_every_example_spec_has_golden_files_for_every_backend():
    """Every pair renders, except those a backend explicitly refuses as not implemented."""
    assert EXPECTED, "no example specs found"
    refused = {(spec, backend) for spec, backend, _ in UNSUPPORTED}
    for spec in REGENERATOR.example_specs():
        name = spec.rsplit("/", 1)[1].removesuffix(".mf")
        for backend in REGENERATOR.golden_backends():
            golden = REPOSITORY / "tests" / "golden" / f"{name}.{backend}.py"
            assert (golden in EXPECTED) != ((spec, backend) in refused)
    for spec, backend, message in UNSUPPORTED:
        assert "is not implemented by the" in message, message
    if UNSUPPORTED:
        print("\n".join(f"not rendered: {spec} on {backend}: {message}" for spec, backend, message in UNSUPPORTED))


def test_no_stray_golden_files():
    stray = sorted(path.name for path in (REPOSITORY / "tests" / "golden").glob("*.py") if path not in EXPECTED)
    assert not stray, f"golden files without a spec x backend: {stray} (run python scripts/regenerate_golden.py)"


@pytest.mark.parametrize("path", sorted(EXPECTED), ids=lambda path: path.name)
def test_golden_file_is_current(path):
    assert path.is_file(), f"missing {path.name}: run python scripts/regenerate_golden.py"
    assert path.read_text(encoding="utf-8") == EXPECTED[path], (
        f"{path.name} is stale: run python scripts/regenerate_golden.py and review the diff"
    )
