"""Composition with ``extends`` (dsl/compose.py): a file is its base spec with its own lets,
sections, models and blocks over it; provenance names the file that set each value."""

from __future__ import annotations

from pathlib import Path

import pytest

from specc.compiler.check.explain import explain
from specc.compiler.cli.main import read as read_disk
from specc.compiler.emit.render import render
from specc.compiler.lsp.documents import analyze
from specc.compiler.lsp.hover import hover_text
from specc.compiler.lsp.navigation import definition
from specc.compiler.pipeline import check
from specc.dsl.compose import composed_text
from specc.dsl.formatter import format_source
from specc.dsl.imports import load_program
from specc.dsl.parser import parse
from tests.checker.cases import STREAM_LM
from tests.checker.helpers import DIGITS, FLOW, codes, edit, memory_reader, rendered, run
from tests.checker.test_resolved_source import shape

REPOSITORY = Path(__file__).resolve().parents[2]
EXAMPLE = "specs/examples/ksin_baseline.mf"

# FLOW's optimizer with a key that `sgd` does not take, to see a component replaced whole
FLOW_BASE = FLOW.replace("optimizer adamw { lr = 1e-3 }", "optimizer adamw {\n  lr = 1e-3\n  weight_decay = 0.05\n}")

# DIGITS with its model's layers in a block, to replace the block alone
DIGITS_WITH_BLOCK = DIGITS.replace(
    "model mlp(x: f32[B, 64]) -> f32[B, 10] {\n  return linear(relu(linear(x, hidden)), 10)\n}",
    "block head(x: [B, D]) -> [B, 10] {\n  return linear(relu(linear(x, hidden)), 10)\n}\n\n"
    "model mlp(x: f32[B, 64]) -> f32[B, 10] {\n  return head(x)\n}",
)


def compose(text: str, **files: str):
    """``spec.mf`` (``text``) checked with the other files in memory."""
    return run(text, files={name.replace("_", "."): source for name, source in files.items()})


def read_repository(path: str) -> bytes:
    return (REPOSITORY / path).read_bytes()


# ---------------------------------------------------------------- lets


def test_a_let_overridden_is_read_by_the_base_section_and_model():
    result = compose('spec preset\nextends "base.mf"\nlet k = 3\n', base_mf=FLOW_BASE)
    assert result.diagnostics == []
    resolution = result.resolution
    assert (resolution.constants["k"].value, resolution.constants["k"].origin) == (3, "spec.mf:3")
    data_k = resolution.sections["data"].entries["k"]
    assert (data_k.value, data_k.origin, data_k.via) == (3, "base.mf:5", ("k = 3 (spec.mf:3)",))
    assert dict(result.program.data.source.arguments)["k"] == 3
    assert explain(resolution, "objective.target")[0] == (  # a data field: the base's data section wrote it
        "objective.target = data.params\n  from: base.mf:18\n  chain: spec.mf extends base.mf\n"
        "  via: data.params = data.params (base.mf:4)\n"
    )
    # the base's model reads k in its input and output shapes
    graph = result.program.models[0]
    assert dict(graph.inputs)["x"].shape == ("B", 6)
    assert graph.outputs[0].shape == ("B", 6)


def test_set_still_overrides_what_an_extending_file_set():
    result = run('spec preset\nextends "base.mf"\nlet k = 3\n', ("k=4",), files={"base.mf": FLOW_BASE})
    assert result.diagnostics == []
    assert dict(result.program.models[0].inputs)["x"].shape == ("B", 8)
    assert explain(result.resolution, "k")[0] == "k = 4\n  from: --set (command-line override)\n"


def test_a_problem_with_an_overridden_value_is_shown_where_the_base_reads_it():
    result = compose('spec preset\nextends "base.mf"\nlet k = 0\n', base_mf=FLOW_BASE)
    assert rendered(result)[0] == (
        "base.mf:5:7: error[E0403]: `k` must be >= 1, found 0\n"
        "  |\n"
        "5 |   k = k\n"
        "  |       ^"
    )


def test_an_import_still_refuses_a_second_definition():
    library = "let k = 5\n"
    result = compose('spec preset\nextends "base.mf"\nimport "lib.mf"\n', base_mf=FLOW_BASE, lib_mf=library)
    assert rendered(result) == [
        ("base.mf:2:5: error[E0303]: duplicate definition of constant `k`\n"
        "  |\n"
        "2 | let k = 2\n"
        "  |     ^\n"
        "note: first defined at lib.mf:1:5")
    ]


def test_a_let_given_twice_in_the_extending_file_is_a_duplicate():
    result = compose('spec preset\nextends "base.mf"\nlet k = 3\nlet k = 4\n', base_mf=FLOW_BASE)
    assert rendered(result) == [
        ("spec.mf:4:5: error[E0303]: duplicate definition of constant `k`\n"
        "  |\n"
        "4 | let k = 4\n"
        "  |     ^\n"
        "note: first defined at spec.mf:3:5")
    ]


# ---------------------------------------------------------------- sections


def test_a_section_merges_into_the_base_section():
    result = compose('spec preset\nextends "base.mf"\noptimizer adamw { weight_decay = 0.1 }\n', base_mf=FLOW_BASE)
    assert result.diagnostics == []
    optimizer = dict(result.program.optimizers[0].optimizer.arguments)
    assert (result.program.optimizers[0].optimizer.kind, optimizer["lr"], optimizer["weight_decay"]) == ("adamw", 1e-3, 0.1)
    assert explain(result.resolution, "optimizer.lr")[0] == (
        "optimizer.lr = 0.001\n  from: base.mf:23\n  chain: spec.mf extends base.mf\n"
    )
    assert explain(result.resolution, "optimizer.weight_decay")[0] == (
        "optimizer.weight_decay = 0.1\n  from: spec.mf:3\n  overrides: base.mf:24\n"
    )


def test_a_section_without_a_component_merges_into_the_base_component():
    result = compose('spec preset\nextends "base.mf"\noptimizer { lr = 5e-4 }\n', base_mf=FLOW_BASE)
    assert result.diagnostics == []
    optimizer = result.program.optimizers[0].optimizer
    assert (optimizer.kind, dict(optimizer.arguments)["lr"], dict(optimizer.arguments)["weight_decay"]) == (
        "adamw",
        5e-4,
        0.05,
    )


def test_nested_sections_merge_key_by_key():
    result = compose('spec preset\nextends "base.mf"\ntrain {\n  checkpoint { keep = 5 }\n}\n', base_mf=DIGITS)
    assert result.diagnostics == []
    checkpoint = result.program.train.checkpoint
    assert (checkpoint.every, checkpoint.keep, checkpoint.monitor, checkpoint.mode) == (10, 5, "val/accuracy", "max")
    assert result.program.train.max_steps == 20
    assert explain(result.resolution, "train.checkpoint.keep")[0] == (
        "train.checkpoint.keep = 5\n  from: spec.mf:4\n  overrides: base.mf:22\n"
    )


def test_a_section_naming_another_component_replaces_the_base_section_whole():
    # adamw's weight_decay = 0.05 is not carried over: sgd gets its own default
    result = compose('spec preset\nextends "base.mf"\noptimizer sgd { lr = 0.1 }\n', base_mf=FLOW_BASE)
    assert result.diagnostics == []
    optimizer = result.program.optimizers[0].optimizer
    assert (optimizer.kind, dict(optimizer.arguments)["lr"], dict(optimizer.arguments)["weight_decay"]) == ("sgd", 0.1, 0.0)


def test_a_key_the_base_component_does_not_take_is_shown_in_the_extending_file():
    result = compose('spec preset\nextends "base.mf"\noptimizer { momentum = 0.9 }\n', base_mf=FLOW_BASE)
    assert rendered(result) == [
        ("spec.mf:3:13: error[E0401]: unknown key `momentum` in optimizer adamw\n"
        "  |\n"
        "3 | optimizer { momentum = 0.9 }\n"
        "  |             ^^^^^^^^")
    ]


def test_a_section_the_base_does_not_have_is_added():
    base = FLOW_BASE.replace("schedule warmup_cosine { warmup = 5 }\n", "")
    result = compose('spec preset\nextends "base.mf"\nschedule warmup_cosine { warmup = 4 }\n', base_mf=base)
    assert result.diagnostics == []
    assert dict(result.program.optimizers[0].schedule.arguments)["warmup"] == 4


def test_a_data_path_is_relative_to_the_file_that_wrote_it():
    base = DIGITS
    for old, new in STREAM_LM:
        base = edit(base, old, new)
    files = {"specs/base.mf": base, "specs/examples/preset.mf": 'spec preset\nextends "../base.mf"\nlet hidden = 16\n'}
    result = check("specs/examples/preset.mf", memory_reader(files))
    assert result.diagnostics == [] and dict(result.program.data.source.arguments)["path"] == "specs/tok"
    files["specs/examples/preset.mf"] += 'data { path = "tokens" }\n'
    result = check("specs/examples/preset.mf", memory_reader(files))
    assert result.diagnostics == [] and dict(result.program.data.source.arguments)["path"] == "specs/examples/tokens"


# ---------------------------------------------------------------- models and blocks


def test_a_model_replaces_the_base_model_of_its_name():
    model = "model mlp(x: f32[B, 64]) -> f32[B, 10] {\n  return linear(x, 10)\n}\n"
    result = compose('spec preset\nextends "base.mf"\n' + model, base_mf=DIGITS)
    assert result.diagnostics == []
    (graph,) = result.program.models
    assert [name for name, _ in graph.parameters] == ["linear_0.bias", "linear_0.weight"]


def test_a_block_replaces_the_base_block_the_base_model_calls():
    block = "block head(x: [B, D]) -> [B, 10] {\n  return linear(x, 10)\n}\n"
    result = compose('spec preset\nextends "base.mf"\n' + block, base_mf=DIGITS_WITH_BLOCK)
    assert result.diagnostics == []
    (graph,) = result.program.models
    assert [name for name, _ in graph.parameters] == ["head_0.linear_0.bias", "head_0.linear_0.weight"]


# ---------------------------------------------------------------- chains, errors


def test_a_chain_of_two_files_over_a_base():
    middle = 'extends "base.mf"\nlet k = 3\noptimizer { lr = 5e-4 }\n'
    result = compose('spec preset\nextends "middle.mf"\nlet k = 4\n', base_mf=FLOW_BASE, middle_mf=middle)
    assert result.diagnostics == []
    resolution = result.resolution
    assert explain(resolution, "k")[0] == "k = 4\n  from: spec.mf:3\n  overrides: middle.mf:2\n"
    assert explain(resolution, "optimizer.lr")[0] == (
        "optimizer.lr = 0.0005\n  from: middle.mf:3\n  overrides: base.mf:23\n  chain: spec.mf extends middle.mf\n"
    )
    assert explain(resolution, "optimizer.weight_decay")[0] == (
        "optimizer.weight_decay = 0.05\n  from: base.mf:24\n  chain: spec.mf extends middle.mf extends base.mf\n"
    )
    assert result.program.spec_name == "preset"
    assert dict(result.program.models[0].inputs)["x"].shape == ("B", 8)


def test_a_file_without_a_spec_line_takes_the_base_spec_name():
    result = compose('extends "base.mf"\nlet k = 3\n', base_mf=FLOW_BASE)
    assert result.diagnostics == [] and result.program.spec_name == "ksin_small"


def test_an_extends_cycle_is_shown_at_the_extends_line_that_closes_it():
    base = FLOW_BASE.replace("spec ksin_small\n", 'spec ksin_small\nextends "spec.mf"\n')
    result = compose('spec preset\nextends "base.mf"\nlet k = 3\n', base_mf=base)
    assert rendered(result) == [
        ("base.mf:2:1: error[E0211]: `extends` cycle: spec.mf -> base.mf -> spec.mf\n"
        "  |\n"
        '2 | extends "spec.mf"\n'
        "  | ^^^^^^^^^^^^^^^^^\n"
        "help: a file cannot be its own base: extend a file that neither extends nor imports this one")
    ]


def test_a_missing_base_is_the_only_problem_reported():
    result = compose('spec preset\nextends "missing.mf"\nlet k = 3\n')
    assert rendered(result) == [
        ("spec.mf:2:1: error[E0201]: cannot find `missing.mf`\n"
        "  |\n"
        '2 | extends "missing.mf"\n'
        "  | ^^^^^^^^^^^^^^^^^^^^")
    ]


def test_a_base_with_a_syntax_error_stops_there():
    result = compose('spec preset\nextends "base.mf"\nlet k = 3\n', base_mf=FLOW_BASE.replace("let k = 2", "let k = = 2"))
    assert codes(result) == ["E0101"] and result.diagnostics[0].span.file == "base.mf"


def test_a_base_that_is_not_utf8_names_the_extends_line():
    files = {"spec.mf": b'spec preset\nextends "base.mf"\n', "base.mf": b"let k = 1 \xff\n"}
    result = check("spec.mf", files.__getitem__)
    assert rendered(result) == [
        ("base.mf:1:11: error[E0001]: the file is not valid UTF-8: byte 0xff at offset 10\n"
        "  |\n"
        "1 | let k = 1 \ufffd\n"
        "  |           ^\n"
        "help: save the file as UTF-8\n"
        "note: extended at spec.mf:2:1")
    ]


def test_an_extends_path_is_checked_like_an_import_path():
    result = compose('spec preset\nextends "base.yaml"\n')
    assert rendered(result) == [
        ("spec.mf:2:1: error[E0204]: `base.yaml` is not a spec file: `extends` names a `.mf` file\n"
        "  |\n"
        '2 | extends "base.yaml"\n'
        "  | ^^^^^^^^^^^^^^^^^^^")
    ]
    result = compose('spec preset\nextends "/home/me/base.mf"\n')
    assert codes(result) == ["E0206"]
    assert result.diagnostics[0].message == "absolute `extends` path `/home/me/base.mf`"


# ---------------------------------------------------------------- formatter, resolved spec, editor


def test_the_formatter_keeps_extends_where_it_is():
    text = 'spec preset\nlanguage 1\n\n# the base\nextends  "base.mf"  # ksin\nimport "lib.mf"\n\nlet k=3\n'
    formatted, diagnostics = format_source(text, "spec.mf")
    assert diagnostics == []
    assert formatted == (
        'spec preset\nlanguage 1\n\n# the base\nextends "base.mf"  # ksin\nimport "lib.mf"\n\nlet k = 3\n'
    )
    assert format_source(formatted, "spec.mf")[0] == formatted
    module, _ = parse(formatted, "spec.mf")
    assert module.extends.path == "base.mf"


def test_the_example_round_trips_through_the_formatter():
    text = read_repository(EXAMPLE).decode("utf-8")
    assert format_source(text, EXAMPLE)[0] == text


def test_the_composed_module_prints_as_one_standalone_spec():
    program = load_program("spec.mf", memory_reader({"spec.mf": 'spec preset\nextends "base.mf"\nlet k = 3\n',
                                                     "base.mf": FLOW_BASE}), "<std>")
    (module,) = program.modules
    text = composed_text(module)
    assert text.startswith("# composed: spec.mf over base.mf\nspec preset\n")
    assert "let k = 3\n" in text and "let k = 2" not in text and "extends" not in text
    again = run(text)
    assert again.diagnostics == []
    assert dict(again.program.models[0].inputs)["x"].shape == ("B", 6)


def test_a_composed_module_with_merged_sections_prints_in_the_formatter_layout():
    preset = 'spec preset\nextends "base.mf"\nlet rate = 2e-3\noptimizer { lr = rate, weight_decay = 0.1 }\n' \
        "train {\n  checkpoint { keep = 5 }\n}\n"
    files = {"spec.mf": preset, "base.mf": DIGITS}
    (module,) = load_program("spec.mf", memory_reader(files), "<std>").modules
    text = composed_text(module)
    assert "let hidden = 32\nlet rate = 2e-3\n\ndata digits {" in text
    assert "optimizer adam {\n  lr = rate\n  weight_decay = 0.1\n}\n" in text
    assert "  checkpoint {\n    every = 10\n    keep = 5\n" in text
    assert format_source(text, "spec.mf")[0] == text
    first, again = run(preset, files={"base.mf": DIGITS}), run(text)
    assert first.diagnostics == [] and again.diagnostics == []
    assert (again.program.optimizers, again.program.train) == (first.program.optimizers, first.program.train)


def test_the_resolved_spec_of_the_example_checks_to_the_same_program(tmp_path):
    first = check(EXAMPLE, read_repository).program
    assert first.resolved_source.startswith(
        f"# resolved from {EXAMPLE}\n# composed: {EXAMPLE} over specs/ksin_flow.mf\nspec ksin_baseline\n"
    )
    copy = tmp_path / "spec.resolved.mf"
    copy.write_text(first.resolved_source, encoding="utf-8")
    again = check(str(copy), read_disk)
    assert again.diagnostics == []
    assert [shape(graph) for graph in again.program.models] == [shape(graph) for graph in first.models]
    assert (again.program.objective, again.program.train, again.program.data) == (first.objective, first.train, first.data)


def test_go_to_definition_from_the_extending_file_opens_the_base():
    text = 'spec preset\nextends "base.mf"\nlet k = 3\nobjective { model = field }\n'
    read = memory_reader({"spec.mf": text, "base.mf": FLOW_BASE})
    analysis = analyze("spec.mf", text, read)
    file, span = definition(analysis, 3, 22)  # `field`, the base's model
    assert (file, span.file, span.line, span.column) == ("base.mf", "base.mf", 11, 7)
    assert definition(analysis, 2, 4)[0] == "spec.mf"  # `k`: the extending file's own let
    assert definition(analysis, 1, 10)[0] == "base.mf"  # the `extends` line opens its file


# ---------------------------------------------------------------- the example


def test_explain_names_the_file_of_each_value_of_the_example():
    resolution = check(EXAMPLE, read_repository).resolution
    assert explain(resolution, "k")[0] == f"k = 4\n  from: {EXAMPLE}:11\n  overrides: specs/ksin_flow.mf:3\n"
    assert explain(resolution, "train.max_steps")[0] == (
        f"train.max_steps = 9766\n  from: {EXAMPLE}:30\n  overrides: specs/ksin_flow.mf:54\n"
    )
    assert explain(resolution, "train.grad_clip")[0] == (
        f"train.grad_clip = 1.0\n  from: specs/ksin_flow.mf:56\n  chain: {EXAMPLE} extends specs/ksin_flow.mf\n"
    )
    assert explain(resolution, "data.k")[0] == (
        f"data.k = 4\n  from: specs/ksin_flow.mf:13\n  chain: {EXAMPLE} extends specs/ksin_flow.mf\n"
        f"  via: k = 4 ({EXAMPLE}:11)\n"
    )


def test_the_example_model_width_is_a_let_that_set_changes():
    narrow = check(EXAMPLE, read_repository, ("d_model=256",)).program
    parameters = dict(narrow.models[0].parameters)
    assert parameters["linear_1.weight"].shape == (256, 8)


@pytest.mark.parametrize("backend", ["jax", "lightning", "mlx"])
def test_the_example_compiles_on_every_backend(backend):
    result = check(EXAMPLE, read_repository, (), backend)
    assert result.diagnostics == []
    script = render(result.program, backend)
    assert "max_epochs" in script and "9766" in script.replace("_", "")


def test_hover_on_the_extending_file_explains_its_values():
    text = 'spec preset\nextends "base.mf"\nlet k = 3\noptimizer { weight_decay = 0.1 }\n'
    analysis = analyze("spec.mf", text, memory_reader({"spec.mf": text, "base.mf": FLOW_BASE}))
    assert hover_text(analysis, 3, 14) == "```\noptimizer.weight_decay = 0.1\n  from: spec.mf:4\n  overrides: base.mf:24\n```"
    assert hover_text(analysis, 2, 4) == "```\nk = 3\n  from: spec.mf:3\n  overrides: base.mf:2\n```"
    assert hover_text(analysis, 1, 3) is None  # the `extends` keyword itself
