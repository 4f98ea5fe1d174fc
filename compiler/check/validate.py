"""Validation of the resolved sections against the pydantic models of ``schema.py``.

Each section's resolved values are converted to plain data guided by the registry's
parameter types (a bare word where a number belongs is an undefined name, E0301; an
unknown component is E0306 with did-you-mean), validated by the section's pydantic model,
and every pydantic error is mapped back to the span of the offending value (E04xx).

``validate_sections(resolution)`` -> ``Checked``: the validated values of every section
(defaults filled in) with the spans needed by the later rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from specc.compiler.vocabulary import registry
from specc.compiler.vocabulary.words import type_phrase, with_article
from specc.dsl.diagnostics import Diagnostic, Span, did_you_mean
from specc.compiler.check.resolve import Resolution
from specc.compiler.check.values import ComponentCall, FieldRef, ResolvedSection, RValue, Terms, Word, describe, type_name

_FAILED = object()  # a value already diagnosed: pydantic errors at or below it are dropped


@dataclass
class CheckedSection:
    section: ResolvedSection
    values: dict  # validated values, defaults filled in (nested sections under their kind)
    spans: dict[tuple, Span]  # loc -> span of the value written there
    dropped: frozenset = frozenset()  # keys whose written value was invalid (defaults stand in)


@dataclass
class Checked:
    sections: dict[str, CheckedSection] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)


def _display(section: ResolvedSection, parent: ResolvedSection | None = None) -> str:
    path = f"{parent.key}.{section.kind}" if parent else section.key
    return f"{path} {section.component}" if section.component else path


class _Converter:
    """Registry-typed conversion of resolved values to plain data for pydantic."""

    def __init__(self, constants: dict[str, RValue], diagnostics: list[Diagnostic]):
        self.constants = constants
        self.diagnostics = diagnostics
        self.spans: dict[tuple, Span] = {}
        self.key_spans: dict[tuple, Span] = {}
        self.allowed: dict[tuple, tuple[str, str]] = {}  # loc -> (description, allowed keys...) for E0401
        self.heads: dict[tuple, Span] = {}  # loc of a container -> span for "missing" errors
        self.failed: set[tuple] = set()
        self.section: ResolvedSection | None = None  # the section being converted

    def error(self, code, message, span, help=None):
        self.diagnostics.append(Diagnostic(code, message, span, help=help))

    def fail(self, loc: tuple):
        self.failed.add(loc)
        return _FAILED

    def undefined(self, value: RValue, loc: tuple, expected: str):
        word = value.value.name
        self.error(
            "E0301", f"undefined name `{word}` (expected {expected})", value.span, did_you_mean(word, self.constants)
        )
        return self.fail(loc)

    def convert(self, value: RValue, kind: str | None, loc: tuple):
        self.spans[loc] = value.span
        inner = value.value
        if kind is None:
            return _generic(value)
        optional = kind.endswith("?")
        kind = kind.rstrip("?")
        if optional and isinstance(inner, Word) and inner.name == "none":
            return None
        if kind in ("int", "float", "bool", "str"):
            if isinstance(inner, Word):
                return self.undefined(value, loc, type_phrase(kind))
            return _generic(value)
        if kind in ("enum", "model", "int|enum"):  # int|enum: a number or a word (keep = all)
            return inner.name if isinstance(inner, Word) else _generic(value)
        if kind == "arguments":
            return self.convert_arguments(value, loc)
        if kind in ("field", "list[model]", "inputs", "tensors", "pair[float]") or kind.startswith("list["):
            return self.convert_container(value, kind, loc)
        if kind == "terms":
            return self.convert_terms(value, loc)
        return self.convert_component(value, kind, loc)

    def convert_container(self, value: RValue, kind: str, loc: tuple):
        inner = value.value
        if kind == "field":
            return f"data.{inner.name}" if isinstance(inner, FieldRef) else _generic(value)
        if kind in ("inputs", "tensors") and isinstance(inner, dict):
            item_kind = "field" if kind == "inputs" else "str"
            for key, item in inner.items():
                self.key_spans[loc + (key,)] = item.span
            return {key: self.convert(item, item_kind, loc + (key,)) for key, item in inner.items()}
        if isinstance(inner, list):
            item_kind = {"list[model]": "model", "pair[float]": "float"}.get(kind, kind[5:-1])
            return [self.convert(item, item_kind, loc + (index,)) for index, item in enumerate(inner)]
        return _generic(value)

    def convert_arguments(self, value: RValue, loc: tuple):
        """Keyword arguments handed to the user's code: numbers, strings, booleans, ``none`` and
        lists of them (what Python reads back as the same literal)."""
        inner = value.value
        if not isinstance(inner, dict):
            return _generic(value)
        converted = {}
        for key, item in inner.items():
            self.key_spans[loc + (key,)] = item.span
            self.spans[loc + (key,)] = item.span
            literal = _literal(item)
            if literal is _FAILED:
                self.error(
                    "E0402",
                    f"argument `{key}` of user code must be a number, a string, a boolean, `none` or a "
                    f"list of them, found {_found(item)}",
                    item.span,
                    "a word is not a value here: write a string (\"max\") for a name",
                )
                literal = self.fail(loc + (key,))
            converted[key] = literal
        return converted

    def convert_terms(self, value: RValue, loc: tuple):
        inner = value.value
        if isinstance(inner, Terms):
            pairs = inner.terms
        elif isinstance(inner, (Word, ComponentCall)):
            pairs = ((1.0, value),)
        else:
            return _generic(value)
        converted = []
        for index, (weight, term) in enumerate(pairs):
            self.spans[loc + (index,)] = term.span
            self.spans[loc + (index, "term")] = term.span
            converted.append({"weight": weight, "term": self.convert_component(term, "loss", loc + (index, "term"))})
        return converted

    def convert_component(self, value: RValue, kind: str, loc: tuple):
        inner = value.value
        if isinstance(inner, Word):
            name, name_span, args, kwargs = inner.name, value.span, (), ()
        elif isinstance(inner, ComponentCall):
            name, name_span, args, kwargs = inner.name, inner.name_span, inner.args, inner.kwargs
        else:  # a number, a string, a list, a mapping: never a component (a mapping once passed as one)
            key = next((part for part in reversed(loc) if isinstance(part, str)), kind)
            self.error(
                "E0402",
                f"`{key}` expects {with_article(kind)} (a name or a call), found {type_name(value)}",
                value.span,
                _options(kind),
            )
            return self.fail(loc)
        component = registry.lookup(kind, name)
        if component is None:
            self.error(
                "E0306",
                f"unknown {kind} `{name}`",
                name_span,
                did_you_mean(name, registry.components(kind)) or _options(kind),
            )
            return self.fail(loc)
        tagged = loc + (name,)
        self.heads[tagged] = value.span
        self.allowed[tagged] = (f"{kind} {name}", tuple(p.name for p in component.params))
        data = {"kind": name}
        if len(args) > len(component.params):
            self.error(
                "E0402",
                f"{kind} `{name}` takes at most {len(component.params)} positional arguments, " f"found {len(args)}",
                args[len(component.params)].span,
            )
            return self.fail(loc)
        named = [(parameter.name, item, item.span) for parameter, item in zip(component.params, args)]
        for key, item, key_span in named + list(kwargs):
            if key in data:  # twice as keywords: the parser reports it (E0108)
                if key in {parameter.name for parameter, _ in zip(component.params, args)}:
                    self.error(
                        "E0303", f"argument `{key}` of {kind} `{name}` is given by position and by name", key_span
                    )
                continue
            parameter = component.param(key)
            self.key_spans[tagged + (key,)] = key_span
            data[key] = self.convert(item, parameter.type if parameter else None, tagged + (key,))
        return self.validate_component(kind, name, data, loc)

    def validate_component(self, kind: str, name: str, data: dict, loc: tuple):
        """Validate one component's arguments with its own pydantic model."""
        from pydantic import ValidationError

        from specc.compiler.check import validators
        from specc.compiler.check.validation_messages import diagnostic_for

        try:
            return validators.component_values(kind, name, _strip_failed(data))
        except ValidationError as error:
            failed_before = set(self.failed)
            for problem in error.errors(include_url=False):
                full = loc + (name,) + tuple(problem["loc"])
                if any(full[: len(failed)] == failed for failed in failed_before):
                    continue
                diagnostic = diagnostic_for(problem, full, self, self.section, data)
                if diagnostic is not None:
                    self.diagnostics.append(diagnostic)
            return self.fail(loc)


def _options(kind: str) -> str:
    return "expected one of: " + ", ".join(registry.components(kind))


def _generic(value: RValue):
    """Plain data of a value where no registry type guides the conversion."""
    inner = value.value
    if isinstance(inner, list):
        return [_generic(item) for item in inner]
    if isinstance(inner, dict):
        return {key: _generic(item) for key, item in inner.items()}
    if isinstance(inner, Word):
        return _WordValue(inner.name)
    if isinstance(inner, FieldRef):
        return f"data.{inner.name}"
    if isinstance(inner, (ComponentCall, Terms)):
        return _WordValue(describe(inner))
    return inner


def _found(value: RValue) -> str:
    word = value.value
    return f"the name `{word.name}`" if isinstance(word, Word) else type_name(value)


def _literal(value: RValue):
    """The plain Python value of a literal argument (lists of literals included), or _FAILED."""
    inner = value.value
    if isinstance(inner, Word):
        return None if inner.name == "none" else _FAILED
    if isinstance(inner, list):
        items = [_literal(item) for item in inner]
        return _FAILED if any(item is _FAILED for item in items) else items
    if isinstance(inner, (bool, int, float, str)):
        return inner
    return _FAILED


class _WordValue(str):
    """A bare word or call where a plain value is expected (never valid for pydantic's strict
    types except ``str``, which ``convert`` routes elsewhere)."""


def _section_parameters(section: ResolvedSection) -> dict[str, registry.Param]:
    definition = registry.SECTIONS[section.kind]
    parameters = {parameter.name: parameter for parameter in definition.keys}
    if definition.component_kind and section.component:
        component = registry.lookup(definition.component_kind, section.component)
        parameters.update({parameter.name: parameter for parameter in component.params})
    return parameters


def _check_header(section: ResolvedSection, converter: _Converter) -> bool:
    """The section's component (unknown, missing or not allowed) and name; False when the
    section cannot be validated further."""
    definition = registry.SECTIONS[section.kind]
    head = Span(
        section.span.file,
        section.span.line,
        section.span.column,
        section.span.line,
        section.span.column + len(section.kind),
    )
    if definition.reserved:
        converter.error("E0409", f"section `{section.kind}` is reserved for a later version of specc", head)
        return False
    if section.name and not definition.named:
        converter.error("E0408", f"section `{section.kind}` cannot be named", head)
    kind = definition.component_kind
    if kind is None and section.component:
        converter.error(
            "E0408",
            f"section `{section.kind}` does not take a component (found `{section.component}`)",
            section.component_span or head,
        )
        return False
    if kind is not None and not section.component:
        noun = "data source" if kind == "data" else kind
        converter.error(
            "E0408",
            f"section `{section.kind}` needs {'an' if noun[0] in 'aeiou' else 'a'} {noun}: "
            f"`{section.kind} <name> {{ ... }}`",
            head,
            _options(kind),
        )
        return False
    if kind is not None and registry.lookup(kind, section.component) is None:
        converter.error(
            "E0306",
            f"unknown {kind} `{section.component}`",
            section.component_span or head,
            did_you_mean(section.component, registry.components(kind)) or _options(kind),
        )
        return False
    return True


def _section_data(section: ResolvedSection, converter: _Converter, loc: tuple, label: str) -> dict:
    parameters = _section_parameters(section)
    converter.heads[loc] = Span(
        section.span.file,
        section.span.line,
        section.span.column,
        section.span.line,
        section.span.column + len(section.kind),
    )
    allowed = tuple(parameters) + registry.SECTIONS[section.kind].children
    converter.allowed[loc] = (label, allowed)
    data = {}
    if section.component:
        data["component"] = section.component
    for key, value in section.entries.items():
        converter.key_spans[loc + (key,)] = section.key_spans.get(key, value.span)
        parameter = parameters.get(key)
        data[key] = converter.convert(value, parameter.type if parameter else None, loc + (key,))
    for key in section.key_spans:  # keys whose value failed to resolve: not reported as missing
        if key not in section.entries:
            data[key] = converter.fail(loc + (key,))
    for kind, child in section.children.items():
        if child.component is not None or child.name:
            _check_header(child, converter)
        data[kind] = _section_data(child, converter, loc + (kind,), f"{label}.{kind}")
    return data


def validate_sections(resolution: Resolution) -> Checked:
    """Validate every resolved section; diagnostics for everything wrong, all at once."""
    from pydantic import ValidationError  # pydantic: imported only when a spec is validated

    from specc.compiler.check import validators

    checked = Checked()
    for key, section in resolution.sections.items():
        converter = _Converter(resolution.constants, checked.diagnostics)
        converter.section = section
        if not _check_header(section, converter):
            continue
        data = _section_data(section, converter, (), _display(section))
        try:
            values = validators.section_values(section.kind, section.component, _strip_failed(data))
            dropped = frozenset()
            if converter.failed:  # a value diagnosed while converting (a loss term's argument):
                values, dropped = _partial(data, [], converter.failed, section)  # its default stands in
        except ValidationError as error:
            errors = error.errors(include_url=False)
            _report(errors, converter, section, data)
            values, dropped = _partial(data, errors, converter.failed, section)
        spans = dict(converter.spans)
        spans.update({("key",) + loc: span for loc, span in converter.key_spans.items()})
        if values is not None:
            checked.sections[key] = CheckedSection(section, values, spans, dropped)
    _check_required(resolution, checked)
    return checked


def _partial(data: dict, errors, failed, section: ResolvedSection) -> tuple[dict | None, frozenset]:
    """Best-effort values of an invalid section, so that the cross-field rules still run:
    every invalid key (top level or inside a nested section) falls back to its default.
    None when a required key is missing or unusable."""
    bad = {tuple(error["loc"]) for error in errors} | set(failed)
    cleaned = {
        key: (dict(value) if isinstance(value, dict) and key in registry.SECTIONS else value)
        for key, value in data.items()
    }
    dropped = set()
    for loc in bad:
        if len(loc) >= 2 and loc[0] in registry.SECTIONS and isinstance(cleaned.get(loc[0]), dict):
            cleaned[loc[0]].pop(loc[1], None)
            dropped.add(f"{loc[0]}.{loc[1]}")
        elif loc:
            cleaned.pop(loc[0], None)
            dropped.add(str(loc[0]))
    parameters = _section_parameters(section)
    for name in list(dropped):
        parameter = parameters.get(name)
        if parameter is not None and parameter.required:
            stand_in = _STAND_INS.get(parameter.type)
            if stand_in is None:
                return None, frozenset(dropped)
            cleaned[name] = stand_in
    from pydantic import ValidationError

    from specc.compiler.check import validators

    try:
        return validators.section_values(section.kind, section.component, _strip_failed(cleaned)), frozenset(dropped)
    except ValidationError:
        return None, frozenset(dropped)


# Values standing in for invalid required keys while the rules run (the key is marked dropped).
_STAND_INS = {"int": 1, "float": 1.0, "str": "", "bool": False, "list[int]": [], "tensors": {}}


def _strip_failed(data):
    """Failed values are replaced by a value pydantic cannot accept, so that the section is
    rejected as a whole but only the errors not below a failed value are reported."""
    if data is _FAILED:
        return _WordValue("<failed>")
    if isinstance(data, dict):
        return {key: _strip_failed(value) for key, value in data.items()}
    if isinstance(data, list):
        return [_strip_failed(value) for value in data]
    return data


def _check_required(resolution: Resolution, checked: Checked) -> None:
    present = {section.kind for section in resolution.sections.values()}
    where = Span.point(resolution.root_file)
    for kind, definition in registry.SECTIONS.items():
        if (
            definition.required
            and definition.parent is None
            and kind not in present
            and kind not in resolution.suggested_sections
        ):
            checked.diagnostics.append(
                Diagnostic(
                    "E0405",
                    f"the spec has no `{kind}` section",
                    where,
                    help=f"add `{kind} {'<name> ' if definition.component_kind else ''}{{ ... }}` ({definition.doc})",
                )
            )


def _report(errors, converter: _Converter, section: ResolvedSection, data) -> None:
    """Pydantic errors -> diagnostics at the spans of the offending values."""
    from specc.compiler.check.validation_messages import diagnostic_for

    seen = set()
    for error in errors:
        loc = tuple(error["loc"])
        if any(loc[: len(failed)] == failed for failed in converter.failed):
            continue
        diagnostic = diagnostic_for(error, loc, converter, section, data)
        if diagnostic is not None and (diagnostic.span, diagnostic.code) not in seen:
            seen.add((diagnostic.span, diagnostic.code))
            converter.diagnostics.append(diagnostic)
