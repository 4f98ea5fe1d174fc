"""Overrides, constants, references, provenance and `explain`."""

from specc.compiler.check.explain import explain
from specc.compiler.check.values import plain
from tests.checker.helpers import DIGITS, FLOW, codes, edit, rendered, run


def _provenance(result):
    return {record.key: record for record in result.program.provenance}


def test_override_of_a_constant_reaches_every_use():
    result = run(FLOW, overrides=("k=3",))
    assert codes(result) == []
    fields = {field.name: field.type.shape for field in result.program.data.fields}
    assert fields["params"] == (6,)
    assert dict(result.program.data.source.arguments)["k"] == 3
    assert _provenance(result)["k"].origin == "--set"
    assert _provenance(result)["data.k"].origin == "spec.mf:5"


def test_override_of_a_section_value_and_of_an_unwritten_key():
    result = run(DIGITS, overrides=("train.max_steps=100", "train.seed=7", "train.checkpoint.keep=1 + 2"))
    assert codes(result) == []
    train = result.program.train
    assert (train.max_steps, train.seed, train.checkpoint.keep) == (100, 7, 3)
    provenance = _provenance(result)
    assert provenance["train.max_steps"].origin == "--set"
    assert provenance["train.log_every"].origin == "default"
    assert provenance["optimizer.lr"].origin == "spec.mf:17"


def test_override_value_is_checked_like_spec_text():
    result = run(DIGITS, overrides=("train.max_steps=-5",))
    assert rendered(result) == [
        "--set:1:17: error[E0403]: `max_steps` must be >= 1, found -5\n"
        "  |\n"
        "1 | train.max_steps=-5\n"
        "  |                 ^^"
    ]


def test_override_with_a_syntax_error_points_into_the_override():
    result = run(DIGITS, overrides=("train.max_steps=(",))
    assert len(result.diagnostics) == 1
    diagnostic = result.diagnostics[0]
    assert diagnostic.span.file == "--set" and diagnostic.span.line == 1
    assert diagnostic.code.startswith("E01")
    assert diagnostic.span.column >= len("train.max_steps=")


def test_references_and_arithmetic_fold():
    text = edit(DIGITS, "let hidden = 32", "let hidden = 32\nlet steps = 2 ** 4 + 4")
    text = edit(text, "max_steps = 20", "max_steps = steps")
    text = edit(text, "eval_every = 10", "eval_every = train.max_steps // 2")
    result = run(text)
    assert codes(result) == []
    assert (result.program.train.max_steps, result.program.train.eval_every) == (20, 10)


def test_schedule_defaults_derive_from_optimizer_and_train():
    result = run(FLOW, overrides=("optimizer.lr=0.005",))
    schedule = dict(result.program.optimizers[0].schedule.arguments)
    assert schedule["peak"] == 0.005 and schedule["total"] == 20


def test_explain_written_value_via_constant_and_override():
    result = run(FLOW, overrides=("k=3",))
    text, diagnostics = explain(result.resolution, "data.k")
    assert diagnostics == []
    assert text == "data.k = 3\n  from: spec.mf:5\n  via: k = 3 (--set)\n"


def test_explain_default_and_derived_and_unknown():
    result = run(FLOW)
    text, _ = explain(result.resolution, "train.log_every")
    assert text == "train.log_every = 50\n  from: default (registry)\n  doc: steps between train rows of metrics.csv\n"
    text, _ = explain(result.resolution, "schedule.total")
    assert text == "schedule.total is not set\n  default: the value of `train.max_steps`\n  doc: total steps\n"
    text, diagnostics = explain(result.resolution, "optimizer.lrr")
    assert text is None and diagnostics[0].help == "did you mean `optimizer.lr`?"


def test_import_chain_in_provenance():
    library = "let width = 48\n"
    text = 'spec uses_library\nimport "lib/consts.mf"\n' + DIGITS.split("\n", 1)[1].replace(
        "let hidden = 32", "let hidden = width"
    )
    result = run(text, files={"lib/consts.mf": library})
    assert codes(result) == []
    assert _provenance(result)["width"].chain == ("spec.mf", "lib/consts.mf")
    assert plain(result.resolution.constants["hidden"]) == 48
