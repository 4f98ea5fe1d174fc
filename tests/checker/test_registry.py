"""The registry is consistent, and the fast validators agree with the pydantic models."""

import pytest

from specc.compiler import registry, schema, schema_lean


def test_every_component_has_a_doc_and_known_backends():
    for component in registry.COMPONENTS:
        assert component.doc, component.name
        assert component.backends <= registry.ALL_BACKENDS and component.backends, component.name
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
        assert dumped == schema_lean.component_values(kind, name, {"kind": name})


def test_section_values_equal_model_dump():
    data = {"max_steps": 10, "checkpoint": {"keep": 2}}
    lean = schema_lean.section_values("train", None, dict(data, checkpoint=dict(data["checkpoint"])))
    model = schema.section_model("train", None).model_validate(data).model_dump()
    assert lean == model


def test_field_dims_follow_source_arguments():
    ksin = registry.lookup("data", "ksin")
    assert [registry.field_dims(field, {"k": 3, "signal_length": 16}) for field in ksin.fields] == [(6,), (16,)]
    assert registry.field_dims(ksin.fields[0], {}) is None


def test_ranges():
    assert registry.parse_range("[0,1)").contains(0) and not registry.parse_range("[0,1)").contains(1)
    assert not registry.parse_range(">0").contains(0) and registry.parse_range(">=1").contains(1)
