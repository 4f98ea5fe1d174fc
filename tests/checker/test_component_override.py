"""`--set SECTION=component(...)` replaces a section's component (E0310 for anything else):
the seeds' selectable schedules (002) and objectives (000) without editing the spec."""

from __future__ import annotations

from tests.specs.helpers import check, check_ok


def test_schedule_replaced_by_a_call_keeps_only_the_keys_the_new_one_takes():
    program = check_ok("audio_classifier", ["schedule=step(step_size = 10, gamma = 0.5)"])
    schedule = program.optimizers[0].schedule
    assert schedule.kind == "step"
    # `initial` is derived from the optimizer's lr; warmup/total/min_ratio of warmup_cosine are gone
    assert dict(schedule.arguments) == {"gamma": 0.5, "initial": 0.001, "step_size": 10}


def test_schedule_replaced_by_a_name_takes_its_defaults():
    program = check_ok("audio_classifier", ["schedule=warmup_linear"])
    schedule = program.optimizers[0].schedule
    assert schedule.kind == "warmup_linear"
    assert dict(schedule.arguments)["warmup"] == 500  # the spec's warmup applies to the new schedule too


def test_objective_replaced_on_the_meanflow_spec():
    program = check_ok("meanflow_audio", ["objective=flow_matching", "objective.time=uniform"])
    assert program.objective.kind == "flow_matching"
    assert dict(program.objective.arguments)["time"] == (("kind", "uniform"),)


def test_a_missing_required_key_of_the_new_component_is_reported():
    result = check("audio_classifier", ["schedule=exponential"])
    assert [(d.code, d.message) for d in result.errors] == [
        ("E0404", "missing required key `decay_rate` in schedule exponential")
    ]


def test_an_unknown_component_is_reported_at_the_override():
    result = check("audio_classifier", ["schedule=warmup_sine"])
    assert [(d.code, d.message, d.span.file, d.span.line) for d in result.errors] == [
        ("E0306", "unknown schedule `warmup_sine`", "--set", 1)
    ]
