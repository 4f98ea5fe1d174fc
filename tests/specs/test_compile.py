"""Every seed spec compiles for every backend (at reduced sizes) into a script that parses,
or is refused with a backend capability diagnostic (E08xx) naming the backend."""

from __future__ import annotations

import ast

import pytest

from specc.compiler import emit
from tests.specs.helpers import BACKENDS, check
from tests.specs.test_std import PROGRAMS

CASES = [(spec, overrides) for spec, overrides in PROGRAMS if spec != "meanflow_audio"] + [PROGRAMS[0]]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("spec", "overrides"), CASES, ids=[spec for spec, _ in CASES])
def test_compiles_or_names_the_missing_capability(spec, overrides, backend):
    result = check(spec, overrides, backend)
    if result.errors:
        assert all(d.code.startswith("E08") and backend in d.message for d in result.errors), result.errors
        return
    script = emit.render(result.program, backend)
    tree = ast.parse(script)
    classes = {node.name for node in ast.walk(tree) if isinstance(node, ast.ClassDef)}
    roots = {graph.root for graph in result.program.models}
    assert roots <= classes
    assert f"specs/{spec}.mf" in script or f"{spec}.mf" in script
