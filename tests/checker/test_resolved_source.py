"""``Program.resolved_source`` (written to every run directory as spec.resolved.mf) is one
standalone spec: checked again with the listed overrides it gives the same program."""

from pathlib import Path

import pytest

from specc.compiler import pipeline

REPOSITORY = Path(__file__).resolve().parents[2]
SPECS = ["digits_mlp", "ksin_flow", "ksin_flow_transformer", "meanflow_audio", "audio_classifier"]
OVERRIDES = ("train.max_steps=50000",)


def read(name):
    path = Path(name)
    return (path if path.is_absolute() else REPOSITORY / path).read_bytes()


def shape(graph):
    modules = [(module.name, module.inputs, module.outputs, module.submodules,
                [(statement.targets, statement.call, statement.function, statement.inputs, statement.arguments)
                 for statement in module.body]) for module in graph.modules]
    return graph.name, graph.parameters, graph.inputs, graph.outputs, modules


@pytest.mark.parametrize("name", SPECS)
def test_the_resolved_spec_checks_to_the_same_program(name, tmp_path):
    first = pipeline.check(f"specs/{name}.mf", read, OVERRIDES).program
    assert first is not None and first.resolved_source.startswith(f"# resolved from specs/{name}.mf")
    assert "# --set train.max_steps=50000" in first.resolved_source
    copy = tmp_path / "spec.resolved.mf"
    copy.write_text(first.resolved_source, encoding="utf-8")
    again = pipeline.check(str(copy), read, OVERRIDES)
    assert again.diagnostics == []
    # the same graphs; only the origins (file:line of each statement) differ
    assert [shape(graph) for graph in again.program.models] == [shape(graph) for graph in first.models]
    assert again.program.objective == first.objective
    assert again.program.train == first.train
