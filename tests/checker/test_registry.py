"""The registry is consistent, and the fast validators agree with the pydantic models."""

import pytest

from specc.compiler.vocabulary import registry
from specc.compiler.vocabulary import json_schema as schema
from specc.compiler.check import validators


def test_every_component_has_a_doc_and_a_backend():
    """Which backends implement a component is read from the backend tables alone."""
    for component in registry.COMPONENTS:
        assert component.doc, component.name
        assert not hasattr(component, "backends"), "backends are the backend tables' fact"
        assert registry.backends_of(component.kind, component.name), component.name
        for parameter in component.params:
            assert parameter.doc, (component.name, parameter.name)
            registry.parse_range(parameter.range)  # every range parses


@pytest.mark.parametrize("kind", [kind for kind in registry.COMPONENT_KINDS if kind != "precision"])
def test_component_defaults_validate_with_the_model(kind):
    for name in registry.components(kind):
        component = registry.lookup(kind, name)
        if any(parameter.required for parameter in component.params):
            continue
        dumped = schema.component_model(kind, name)(kind=name).model_dump()
        assert dumped == validators.component_values(kind, name, {"kind": name})


def test_section_values_equal_model_dump():
    data = {"max_steps": 10, "checkpoint": {"keep": 2}}
    plain = validators.section_values("train", None, dict(data, checkpoint=dict(data["checkpoint"])))
    model = schema.section_model("train", None).model_validate(data).model_dump()
    assert plain == model


def test_field_dims_follow_source_arguments():
    ksin = registry.lookup("data", "ksin")
    assert [registry.field_dims(field, {"k": 3, "signal_length": 16}) for field in ksin.fields] == [(6,), (16,)]
    assert registry.field_dims(ksin.fields[0], {}) is None


def test_ranges():
    assert registry.parse_range("[0,1)").contains(0) and not registry.parse_range("[0,1)").contains(1)
    assert not registry.parse_range(">0").contains(0) and registry.parse_range(">=1").contains(1)


SPEC_ONLY = {"fields"}  # declared in the spec for file sources; not a constructor argument


def test_data_sources_match_the_runtime_constructors():
    """Every registry data source exists in specc.runtime.data with the same parameter names;
    the constructor's required parameters are registry parameters; defaults agree."""
    import inspect

    from specc.runtime.data import SOURCES

    for name, component in registry.components("data").items():
        assert name in SOURCES, name
        signature = inspect.signature(SOURCES[name].__init__).parameters
        declared = {parameter.name: parameter for parameter in component.params if parameter.name not in SPEC_ONLY}
        assert set(declared) <= set(signature), (name, set(declared) - set(signature))
        for argument, runtime in signature.items():
            if argument == "self" or runtime.kind is runtime.VAR_KEYWORD:
                continue
            if runtime.default is inspect.Parameter.empty:
                assert argument in declared, (name, argument)
            elif argument in declared and not declared[argument].required:
                expected = runtime.default
                assert declared[argument].default == expected, (name, argument, declared[argument].default, expected)


@pytest.mark.parametrize(
    "name, arguments",
    [
        ("ksin", {"k": 3, "signal_length": 16, "sizes": [4, 2, 2]}),
        ("digits", {}),
        ("synthetic_regression", {"num_features": 5, "num_outputs": 2, "sizes": [4, 2, 2]}),
        ("synthetic_audio", {"length": 32, "sizes": [4, 2, 2]}),
        ("synthetic_tokens", {"sizes": [4, 2, 2]}),
    ],
)
def test_declared_fields_match_the_runtime_sources(name, arguments):
    from specc.runtime.data import make_source

    source = make_source(name, **arguments)
    component = registry.lookup("data", name)
    values = {parameter.name: parameter.default for parameter in component.params} | arguments
    declared = {field.name: (field.dtype, registry.field_dims(field, values)) for field in component.fields}
    assert declared == {key: (dtype, tuple(shape)) for key, (dtype, shape) in source.fields.items()}


@pytest.mark.parametrize("kind, module", [("schedule", "schedules"), ("metric", "metrics")])
def test_schedules_and_metrics_match_the_reference_runtime(kind, module):
    """Registry parameters are keyword arguments of the numpy reference with equal defaults."""
    import importlib
    import inspect

    reference = importlib.import_module(f"specc.runtime.reference.{module}")
    for name, component in registry.components(kind).items():
        if name == "graph":  # written in the spec: a function of the script, not of the runtime
            continue
        signature = inspect.signature(getattr(reference, name)).parameters
        for parameter in component.params:
            assert parameter.name in signature, (name, parameter.name)
            default = signature[parameter.name].default
            if not parameter.required and not parameter.derived and default is not inspect.Parameter.empty:
                assert parameter.default == default, (name, parameter.name)


def test_backend_tables_name_only_registry_components():
    from specc.compiler.backends import BACKEND_NAMES, ParameterRefusal, get_backend
    from specc.compiler.vocabulary import layers

    for name in BACKEND_NAMES:
        table = get_backend(name)
        for kind, values in table.capabilities.items():
            known = set(layers.ENTRIES) if kind == "layer" else set(registry.components(kind))
            assert kind == "layer" or kind in registry.COMPONENT_KINDS, (name, kind)
            assert values <= known, (name, kind, values - known)
        for refusal in table.refusals:
            if isinstance(refusal, ParameterRefusal):
                component = registry.lookup(refusal.kind, refusal.component)
                assert component is not None and component.param(refusal.parameter) is not None, refusal


def test_every_layer_lives_in_a_module_the_emitter_renders():
    """``emit.models.runtime_module`` refuses an op of another module: none exists (``draws``,
    the random primitives, are printed by ``emit.models.draw_code``)."""
    from specc.compiler.emit.models import RUNTIME_MODULES
    from specc.compiler.vocabulary import layers

    assert {entry.module for entry in layers.ENTRIES.values()} <= set(RUNTIME_MODULES)
    assert {entry.name for entry in layers.ENTRIES.values() if entry.module == "draws"} == {
        entry.name for entry in layers.ENTRIES.values() if entry.draws
    }


def test_every_metric_has_an_evaluation_rule():
    """``emit.render.evaluation_view`` refuses a metric it has no rule for: none exists."""
    from specc.compiler.emit.render import METRIC_INPUTS

    assert set(registry.components("metric")) <= set(METRIC_INPUTS)
