"""Pydantic v2 models of the spec, generated from the registry (``extra="forbid"``, strict).

Models are built lazily and cached: validating a spec builds only the models of the
sections and components it uses, so linting stays fast; ``json_schema()`` builds them all.

A section model holds the section's own keys and its component's parameters as fields,
with ``component: Literal[name]``. Component-valued keys (``path``, ``sampler``,
``metrics``, ``loggers``, loss ``terms``) are discriminated unions on ``kind`` of one
model per component. Ranges become ``ge`` / ``gt`` / ``le`` / ``lt`` constraints.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, WithJsonSchema, create_model
from pydantic_core import PydanticCustomError

from specc.compiler.vocabulary import registry

CONFIG = ConfigDict(extra="forbid", strict=True)
FIELD_PATTERN = r"^data\.[A-Za-z_][A-Za-z_0-9]*$"
COMPONENT_VALUED = ("path", "time", "sampler", "metric", "logger", "transform", "renderer", "callback", "loss", "penalty")


def _constraints(range_text: str) -> dict:
    bounds = registry.parse_range(range_text)
    constraints = {}
    if bounds.minimum is not None:
        constraints["gt" if bounds.exclusive_minimum else "ge"] = bounds.minimum
    if bounds.maximum is not None:
        constraints["lt" if bounds.exclusive_maximum else "le"] = bounds.maximum
    return constraints


def _scalar(name: str, range_text: str):
    base = {"int": StrictInt, "float": float, "bool": StrictBool, "str": StrictStr}[name]
    constraints = _constraints(range_text) if name in ("int", "float") else {}
    return Annotated[base, Field(**constraints)] if constraints else base


def annotation(parameter: registry.Param, plain_components: bool = False):
    """The pydantic annotation of one registry parameter type. ``plain_components``: component-valued
    parameters are plain mappings (validated one by one with ``component_model``)."""
    kind = parameter.type
    optional = kind.endswith("?")
    kind = kind.rstrip("?")
    result = _plain_component_annotation(kind) if plain_components else None
    result = result or _annotation(kind, parameter)
    return Optional[result] if optional else result


def _plain_component_annotation(kind: str):
    if kind in COMPONENT_VALUED:
        return dict
    if kind == "terms":
        return Annotated[list[dict], Field(min_length=1)]
    if kind.startswith("list[") and kind[5:-1] in COMPONENT_VALUED:
        return list[dict]
    return None


def _annotation(kind: str, parameter: registry.Param):
    if kind in ("int", "float", "bool", "str"):
        return _scalar(kind, parameter.range)
    if kind == "enum":
        return Literal[parameter.choices]
    if kind == "int|enum":
        return _int_or_word(parameter)
    if kind in ("model", "list[model]"):
        return StrictStr if kind == "model" else list[StrictStr]
    if kind == "field":
        return Annotated[StrictStr, Field(pattern=FIELD_PATTERN)]
    if kind == "inputs":
        return dict[StrictStr, Annotated[StrictStr, Field(pattern=FIELD_PATTERN)]]
    if kind == "tensors":
        return dict[StrictStr, StrictStr]
    if kind == "arguments":
        return dict[StrictStr, Any]
    if kind == "terms":
        return Annotated[list[term_model()], Field(min_length=1)]
    if kind == "pair[float]":
        return Annotated[list[_scalar("float", parameter.range)], Field(min_length=2, max_length=2)]
    if kind.startswith("list[") and kind[5:-1] in ("int", "float", "str"):
        return list[_scalar(kind[5:-1], parameter.range)]
    if kind.startswith("list[") and kind[5:-1] in COMPONENT_VALUED:
        return list[component_union(kind[5:-1])]
    if kind in COMPONENT_VALUED:
        return component_union(kind)
    raise KeyError(f"registry type `{kind}` has no schema")  # a registry bug, caught by the tests


def _int_or_word(parameter: registry.Param):
    """An integer in ``parameter.range`` or one of the words of ``parameter.choices``
    (``keep = all``): one error per value (``int_or_word_range``, ``int_or_word_choice``,
    ``int_or_word_type``, worded by ``check.validation_messages``), never one per member of
    a union."""
    bounds = registry.parse_range(parameter.range)
    words = parameter.choices
    context = {"range": bounds.text, "choices": ", ".join(words)}

    def check(value):
        if isinstance(value, str):
            if value in words:
                return value
            raise PydanticCustomError("int_or_word_choice", "not one of {choices}", context)
        if isinstance(value, int) and not isinstance(value, bool):
            if bounds.contains(value):
                return value
            raise PydanticCustomError("int_or_word_range", "an integer {range} or one of {choices}", context)
        raise PydanticCustomError("int_or_word_type", "an integer or one of {choices}", context)

    names = {"ge": "minimum", "gt": "exclusiveMinimum", "le": "maximum", "lt": "exclusiveMaximum"}
    integer = {"type": "integer", **{names[key]: value for key, value in _constraints(parameter.range).items()}}
    schema = {"anyOf": [integer, {"enum": list(words)}]}
    return Annotated[Any, AfterValidator(check), WithJsonSchema(schema)]


def component_defaults(kind: str, name: str) -> dict:
    """``{"kind": name, **defaults}``: a component named without arguments, as plain data."""
    component = registry.lookup(kind, name)
    data = {"kind": name}
    for parameter in component.params:
        default = parameter.default
        data[parameter.name] = list(default) if isinstance(default, tuple) else default
    return data


def default_value(parameter: registry.Param, plain_components: bool = False):
    """The parameter's default as pydantic data: component names become validated models
    (plain mappings when ``plain_components``), so that a dump holds the same shape whether a value was
    written or defaulted."""
    if parameter.required:
        return ...
    default = parameter.default
    kind = parameter.type.rstrip("?")
    if plain_components and kind in COMPONENT_VALUED and isinstance(default, str):
        return component_defaults(kind, default)
    if plain_components and kind == "terms" and isinstance(default, str):
        return [{"weight": 1.0, "term": component_defaults("loss", default)}]
    if plain_components and kind.startswith("list[") and kind[5:-1] in COMPONENT_VALUED:
        return [component_defaults(kind[5:-1], name) for name in default]
    if kind in COMPONENT_VALUED and isinstance(default, str):
        return component_model(kind, default)(kind=default)
    if kind == "terms" and isinstance(default, str):
        return [term_model()(weight=1.0, term=component_model("loss", default)(kind=default))]
    if kind.startswith("list[") and kind[5:-1] in COMPONENT_VALUED:
        return [component_model(kind[5:-1], name)(kind=name) for name in default]
    if kind in ("inputs", "tensors", "arguments"):
        return dict(default)
    return list(default) if isinstance(default, tuple) else default


def _field(parameter: registry.Param, plain_components: bool = False):
    annotated = annotation(parameter, plain_components)
    return (annotated, Field(default_value(parameter, plain_components), description=parameter.doc or None))


def model_name(*parts: str) -> str:
    return "".join(part.title().replace("_", "") for part in parts if part)


@lru_cache(maxsize=None)
def component_model(kind: str, name: str) -> type[BaseModel]:
    """``{"kind": name, **parameters}`` of one component."""
    component = registry.lookup(kind, name)
    fields = {"kind": (Literal[name], Field(..., description=component.doc))}
    for parameter in component.params:
        fields[parameter.name] = _field(parameter)
    return create_model(model_name(kind, name), __config__=CONFIG, __doc__=component.doc, **fields)


@lru_cache(maxsize=None)
def component_union(kind: str):
    models = tuple(component_model(kind, name) for name in registry.components(kind))
    if len(models) == 1:
        return models[0]
    return Annotated[Union[models], Field(discriminator="kind")]


@lru_cache(maxsize=None)
def term_model() -> type[BaseModel]:
    return create_model("LossTerm", __config__=CONFIG, weight=(float, 1.0), term=(component_union("loss"), ...))


@lru_cache(maxsize=None)
def section_model(kind: str, component: str | None) -> type[BaseModel]:
    """The model of one section (with its component's parameters and nested sections).
    Checking a spec uses the same annotations through ``specc.compiler.check.validators``
    (faster to build)."""
    definition = registry.SECTIONS[kind]
    fields = {}
    if definition.component_kind:
        fields["component"] = (Literal[component], ...)
        for parameter in registry.lookup(definition.component_kind, component).params:
            fields[parameter.name] = _field(parameter)
    for parameter in definition.keys:
        fields[parameter.name] = _field(parameter)
    for child in definition.children:
        fields[child] = (Optional[section_model(child, None)], None)
    return create_model(
        model_name(kind, component or "", "section"), __config__=CONFIG, __doc__=definition.doc, **fields
    )


def _section_union(kind: str):
    definition = registry.SECTIONS[kind]
    if not definition.component_kind:
        return section_model(kind, None)
    models = tuple(section_model(kind, name) for name in registry.components(definition.component_kind))
    return Annotated[Union[models], Field(discriminator="component")]


@lru_cache(maxsize=None)
def spec_model() -> type[BaseModel]:
    """The whole spec: one field per top-level section. Named optimizers and schedules are a
    mapping from name to section (``""`` for the unnamed one)."""
    fields = {
        "spec": (Optional[StrictStr], Field(None, description="the spec's name (`spec NAME`)")),
        "language": (Optional[StrictInt], Field(None, description="the language version (`language 1`)")),
        "constants": (dict[StrictStr, object], Field({}, description="the `let` constants, by name")),
    }
    for kind in registry.TOP_LEVEL_SECTIONS:
        definition = registry.SECTIONS[kind]
        if definition.reserved:
            continue
        union = _section_union(kind)
        value = dict[StrictStr, union] if definition.named else union
        doc = definition.doc + (" (by name; \"\" is the unnamed one)" if definition.named else "")
        default = ... if definition.required else None
        fields[kind] = (value if definition.required else Optional[value], Field(default, description=doc))
    return create_model("Spec", __config__=CONFIG, __doc__="A specc training spec.", **fields)


SCHEMA_ID = "urn:specc:schema:spec:language-1"
SCHEMA_DESCRIPTION = (
    "The sections of a specc spec (language 1) as a JSON or YAML document: every section, "
    "component and key with its type, default, range and description, as `specc lint` "
    "validates them. A section's component is its `component` key (`data npz { ... }` is "
    '{"data": {"component": "npz", ...}}), a component value is {"kind": name, ...arguments}, '
    "named optimizers and schedules map a name to their section. Blocks and models are not "
    "described (the language server checks them). A .mf file is not JSON: this schema serves "
    "JSON/YAML tooling and editors for such documents (docs/tools.md), not .mf files."
)


def json_schema() -> dict:
    """JSON Schema (draft 2020-12) of the spec's sections (``SCHEMA_DESCRIPTION``)."""
    schema = spec_model().model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = SCHEMA_ID
    schema["title"] = "specc spec"
    schema["description"] = SCHEMA_DESCRIPTION
    for name, definition in schema["properties"].items():  # pydantic drops it beside a bare $ref
        if "description" not in definition and name in registry.SECTIONS:
            definition["description"] = registry.SECTIONS[name].doc
    return schema
