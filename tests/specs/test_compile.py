"""Every seed spec compiles for every backend (at reduced sizes) into a script that parses,
or is refused, naming the backend: a capability diagnostic (E08xx) from the checker or
``NotImplementedByBackend`` from the renderer. ``REFUSED`` records which are refused today."""

from __future__ import annotations

import ast

import pytest

from specc.compiler.emit import render as emit
from tests.specs.helpers import BACKENDS, check
from tests.specs.test_std import PROGRAMS

REFUSED: set = set()
CASES = [(spec, overrides) for spec, overrides in PROGRAMS if spec != "meanflow_audio"] + [PROGRAMS[0]]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("spec", "overrides"), CASES, ids=[spec for spec, _ in CASES])
def test_compiles_or_names_the_missing_capability(spec, overrides, backend):
    result = check(spec, overrides, backend)
    if result.errors:
        assert all(d.code.startswith("E08") and backend in d.message for d in result.errors), result.errors
        return
    try:
        script = emit.render(result.program, backend)
    except emit.NotImplementedByBackend as refusal:
        assert backend in str(refusal)
        REFUSED.add((spec, backend, str(refusal)))
        return
    tree = ast.parse(script)
    classes = {node.name for node in ast.walk(tree) if isinstance(node, ast.ClassDef)}
    roots = {graph.root for graph in result.program.models}
    assert roots <= classes
    assert f"specs/{spec}.mf" in script or f"{spec}.mf" in script


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("architecture", ["mlp", "conv", "mixer"])
def test_meanflow_architectures_compile_with_flow_matching(tmp_path, architecture, backend):
    """The seed's FlowMatchingLoss variant (the objective's component edited in place, as
    `--set` cannot change a component): the three flow architectures render for every backend."""
    from specc.compiler import pipeline
    from tests.specs.helpers import read, spec_path
    from tests.specs.test_seed_specs import MEANFLOW_SMALL

    text = read(spec_path("meanflow_audio")).decode().replace("objective improved_mean_flow", "objective flow_matching")
    text = text.replace("sampler = one_step", "sampler = euler(steps = 1)")  # one Euler step: the same map
    path = tmp_path / "meanflow_flow_matching.mf"
    path.write_text(text)
    result = pipeline.check(str(path), read, tuple(MEANFLOW_SMALL + [f'architecture="{architecture}"']), backend)
    assert not result.errors, [d.message for d in result.errors]
    assert result.program.objective.kind == "flow_matching"
    tree = ast.parse(emit.render(result.program, backend))
    assert result.program.models[0].root in {node.name for node in ast.walk(tree) if isinstance(node, ast.ClassDef)}
