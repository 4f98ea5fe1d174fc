"""Pydantic validation errors -> positioned diagnostics (E0401-E0406).

Every error's ``loc`` is mapped back to the span of the value (or, for an unknown key, of the
key; for a missing key, of the section or call) recorded while converting the section, and
its message is specc's own: ``unknown key `lrr` in optimizer adamw``, ``` `lr` must be > 0,
found -1 ```, ``` `mode` must be one of min, max; found `minn` ```.
"""

from __future__ import annotations

from specc.compiler.vocabulary import registry
from specc.dsl.diagnostics import Diagnostic, Span, did_you_mean
from specc.compiler.check.values import describe, type_name

_EXPECTED = {
    "int_type": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "string_type": "a string",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a component",
    "model_attributes_type": "a component",
    "union_tag_not_found": "a component",
    "union_tag_invalid": "a component",
    "string_pattern_mismatch": "a data field such as `data.x`",
    "model_class": "a component",
}
_COMPARISONS = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}


def _label(section) -> str:
    return f"{section.key} {section.component}" if section.component else section.key


def _span_for(loc: tuple, converter, section) -> Span:
    for cut in range(len(loc), -1, -1):
        if loc[:cut] in converter.spans:
            return converter.spans[loc[:cut]]
        if loc[:cut] in converter.heads:
            return converter.heads[loc[:cut]]
    return section.span


def _key_name(loc: tuple) -> str:
    names = [str(part) for part in loc if not isinstance(part, int)]
    return names[-1] if names else "value"


def _lookup(data, loc: tuple):
    for part in loc:
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and isinstance(part, int) and part < len(data):
            data = data[part]
        elif isinstance(data, dict) and data.get("kind") == part:
            continue
        else:
            return None
    return data


def _is_section_loc(loc: tuple) -> bool:
    return all(isinstance(part, str) and part in registry.SECTIONS for part in loc)


def _first_line(span: Span) -> Span:
    if span.end_line == span.line:
        return span
    return Span(span.file, span.line, span.column, span.line, span.column + 1)


def _shown(value) -> str:
    if isinstance(value, (dict, list)):
        return type_name(value)
    if isinstance(value, str) and type(value) is not str:  # a bare word
        return f"`{value}`"
    return f"`{describe(value)}`"


def _found(value) -> str:
    if isinstance(value, (dict, list)):
        return type_name(value)
    kind = "name" if isinstance(value, str) and type(value) is not str else type_name(value)
    return f"{kind} {_shown(value)}"


def diagnostic_for(error: dict, loc: tuple, converter, section, data) -> Diagnostic | None:
    kind = error["type"]
    context = error.get("ctx") or {}
    if kind == "extra_forbidden":
        container = loc[:-1]
        label, allowed = converter.allowed.get(container, (_label(section), ()))
        span = converter.key_spans.get(loc) or _span_for(loc, converter, section)
        what = "key" if _is_section_loc(container) else "argument"
        return Diagnostic(
            "E0401", f"unknown {what} `{loc[-1]}` in {label}", span, help=did_you_mean(str(loc[-1]), allowed)
        )
    if kind == "missing":
        container = loc[:-1]
        label = converter.allowed.get(container, (_label(section),))[0]
        span = converter.heads.get(container, section.span)
        what = "key" if _is_section_loc(container) else "argument"
        return Diagnostic("E0404", f"missing required {what} `{loc[-1]}` in {label}", _first_line(span))
    span = _span_for(loc, converter, section)
    value = error["input"] if "input" in error else _lookup(data, loc)
    key = _key_name(loc)
    if kind in _COMPARISONS:
        bound = list(context.values())[0] if context else "?"
        bound = int(bound) if isinstance(bound, float) and bound.is_integer() else bound
        return Diagnostic("E0403", f"`{key}` must be {_COMPARISONS[kind]} {bound}, found {describe(value)}", span)
    if kind == "literal_error":
        choices = [choice.strip().strip("'") for choice in context.get("expected", "").replace(" or ", ", ").split(",")]
        shown = f"`{value}`" if isinstance(value, str) and value.isidentifier() else _shown(value)
        return Diagnostic(
            "E0406",
            f"`{key}` must be one of {', '.join(choices)}; found {shown}",
            span,
            help=did_you_mean(str(value), choices),
        )
    if kind.startswith("int_or_word_"):  # an integer or a word (keep = all): json_schema._int_or_word
        return _int_or_word(kind, key, value, context, span)
    if kind in ("too_short", "too_long"):
        minimum, maximum = context.get("min_length"), context.get("max_length")
        if minimum is not None and minimum == maximum:
            need = f"exactly {minimum}"
        else:
            need = f"at least {minimum}" if kind == "too_short" else f"at most {maximum}"
        return Diagnostic("E0402", f"`{key}` needs {need} values, found {context.get('actual_length')}", span)
    expected = _EXPECTED.get(kind)
    if expected is None:
        return Diagnostic("E0402", f"invalid value for `{key}`: {error.get('msg', kind)}", span)
    return Diagnostic("E0402", f"`{key}` expects {expected}, found {_found(value)}", span)


def _int_or_word(kind: str, key: str, value, context: dict, span: Span) -> Diagnostic:
    """The one error of an ``int|enum`` value: out of range (E0403), an unknown word (E0406),
    another type (E0402)."""
    choices = context.get("choices", "").split(", ")
    words = " or ".join(f"`{word}`" for word in choices)
    if kind == "int_or_word_range":
        bounds = registry.parse_range(context.get("range", ""))
        limits = []
        if bounds.minimum is not None:
            limits.append(f"{'>' if bounds.exclusive_minimum else '>='} {_number(bounds.minimum)}")
        if bounds.maximum is not None:
            limits.append(f"{'<' if bounds.exclusive_maximum else '<='} {_number(bounds.maximum)}")
        return Diagnostic("E0403", f"`{key}` must be {' and '.join(limits)} or {words}, found {describe(value)}", span)
    if kind == "int_or_word_choice":
        shown = f"`{value}`" if isinstance(value, str) and value.isidentifier() else _shown(value)
        return Diagnostic(
            "E0406", f"`{key}` must be an integer or {words}; found {shown}", span, help=did_you_mean(str(value), choices)
        )
    return Diagnostic("E0402", f"`{key}` expects an integer or {words}, found {_found(value)}", span)


def _number(value: float):
    return int(value) if float(value).is_integer() else value
