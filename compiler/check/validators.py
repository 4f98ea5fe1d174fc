"""Fast validators for checking specs: the registry's pydantic types as TypedDicts.

``json_schema.py`` builds ``BaseModel`` classes (for ``specc schema``); building a model class
costs several milliseconds, which a cold ``specc lint`` pays for every section and
component it meets. Validation therefore uses the same annotations (``json_schema.annotation``,
plain-component form) on TypedDicts with the same config (``extra="forbid"``, strict) through
pydantic ``TypeAdapter``s, one per section and per component used, and fills the
registry's defaults afterwards, so the values equal a model's ``model_dump()``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal, Optional

from pydantic import TypeAdapter
from typing_extensions import NotRequired, Required, TypedDict

from specc.compiler.vocabulary import registry
from specc.compiler.vocabulary.json_schema import CONFIG, default_value, model_name, annotation


def _parameters(kind: str, component: str | None) -> list[registry.Param]:
    definition = registry.SECTIONS[kind]
    parameters = []
    if definition.component_kind:
        parameters += list(registry.lookup(definition.component_kind, component).params)
    return parameters + list(definition.keys)


def _typed_dict(name: str, fields: dict):
    typed = TypedDict(name, fields)
    typed.__pydantic_config__ = CONFIG
    return typed


def _fields(parameters) -> dict:
    return {
        parameter.name: (Required if parameter.required else NotRequired)[annotation(parameter, plain_components=True)]
        for parameter in parameters
    }


@lru_cache(maxsize=None)
def _section_type(kind: str, component: str | None):
    definition = registry.SECTIONS[kind]
    fields = {"component": Required[Literal[component]]} if definition.component_kind else {}
    fields.update(_fields(_parameters(kind, component)))
    for child in definition.children:
        fields[child] = NotRequired[Optional[_section_type(child, None)]]
    return _typed_dict(model_name(kind, component or "", "lean"), fields)


@lru_cache(maxsize=None)
def _section_adapter(kind: str, component: str | None) -> TypeAdapter:
    return TypeAdapter(_section_type(kind, component))


@lru_cache(maxsize=None)
def _component_adapter(kind: str, name: str) -> TypeAdapter:
    component = registry.lookup(kind, name)
    fields = {"kind": Required[Literal[name]]}
    fields.update(_fields(component.params))
    return TypeAdapter(_typed_dict(model_name(kind, name, "lean"), fields))


def _fill(values: dict, parameters) -> dict:
    for parameter in parameters:
        if parameter.name not in values:
            values[parameter.name] = default_value(parameter, plain_components=True)
    return values


def section_values(kind: str, component: str | None, data: dict) -> dict:
    """Validated values of a section with every default filled in; raises ValidationError."""
    values = _section_adapter(kind, component).validate_python(data)
    return _fill_section(kind, component, values)


def _fill_section(kind: str, component: str | None, values: dict) -> dict:
    _fill(values, _parameters(kind, component))
    for child in registry.SECTIONS[kind].children:
        child_values = values.get(child)
        values[child] = _fill_section(child, None, child_values) if isinstance(child_values, dict) else None
    return values


def component_values(kind: str, name: str, data: dict) -> dict:
    """Validated arguments of a component with its defaults; raises ValidationError."""
    values = _component_adapter(kind, name).validate_python(data)
    return _fill(values, registry.lookup(kind, name).params)
