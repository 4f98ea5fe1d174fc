"""What ``specc explain SPEC KEY`` prints: a resolved value and where it came from.

Pure (no I/O), so that the command line and the language server's hover say the same thing.
``explain(resolution, key) -> (text | None, diagnostics)``. KEY is a
constant (``k``) or a dotted section path (``optimizer.lr``, ``train.checkpoint.keep``,
``optimizer.generator.lr``). A key that is not written in the spec shows its default (from
the registry) or, for a schedule's ``peak`` / ``total``, the value it is derived from. In a
spec composed with ``extends``, ``from`` names the file that set the value, ``overrides``
the base's value it replaced, and the chain says which file extends (or imports) which.
"""

from __future__ import annotations

from itertools import pairwise

from specc.compiler.vocabulary import registry
from specc.dsl.diagnostics import Diagnostic, Span, did_you_mean
from specc.compiler.check.values import RValue, describe


def _lines(key: str, value: RValue, resolution) -> list[str]:
    lines = [f"{key} = {describe(value)}", f"  from: {value.origin}"]
    if value.origin == "--set":
        lines[-1] += " (command-line override)"
    replaced = getattr(resolution, "replaced", {}).get(key)
    if replaced is not None and replaced[0] == value.origin:
        lines.append(f"  overrides: {replaced[1]}")
    if len(value.chain) > 1:
        lines.append(_chain(value.chain, getattr(resolution, "bases", {})))
    for step in value.via:
        lines.append(f"  via: {step}")
    return lines


def _chain(chain: tuple[str, ...], bases: dict[str, str]) -> str:
    """``import chain: a -> b``; with a step that is an ``extends``, each step is named:
    ``chain: preset.mf extends base.mf imports lib.mf``."""
    if not any(bases.get(later) == earlier for earlier, later in pairwise(chain)):
        return f"  import chain: {' -> '.join(chain)}"
    text = chain[0]
    for earlier, later in pairwise(chain):
        text += f" {'extends' if bases.get(later) == earlier else 'imports'} {later}"
    return f"  chain: {text}"


def _section_and_name(resolution, key: str):
    parts = key.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        path, rest = ".".join(parts[:cut]), parts[cut:]
        section = resolution.sections.get(path)
        if section is None:
            continue
        while len(rest) > 1 and rest[0] in section.children:
            section, rest = section.children[rest[0]], rest[1:]
        if len(rest) == 1:
            return section, rest[0]
    return None, None


def _parameter(section, name: str) -> registry.Param | None:
    definition = registry.SECTIONS[section.kind]
    candidates = list(definition.keys)
    if definition.component_kind and section.component:
        component = registry.lookup(definition.component_kind, section.component)
        candidates += list(component.params) if component else []
    return next((parameter for parameter in candidates if parameter.name == name), None)


def known_keys(resolution) -> list[str]:
    keys = list(resolution.constants)
    for section in resolution.sections.values():
        keys += [f"{section.key}.{name}" for name in section.entries]
        for child in section.children.values():
            keys += [f"{section.key}.{child.kind}.{name}" for name in child.entries]
    return keys


def explain(resolution, key: str) -> tuple[str | None, list[Diagnostic]]:
    if key in resolution.constants:
        return "\n".join(_lines(key, resolution.constants[key], resolution)) + "\n", []
    section, name = _section_and_name(resolution, key)
    if section is not None and name in section.entries:
        return "\n".join(_lines(key, section.entries[name], resolution)) + "\n", []
    parameter = _parameter(section, name) if section is not None else None
    if parameter is not None:
        if parameter.derived:
            text = f"{key} is not set\n  default: the value of `{parameter.derived}`\n"
        elif parameter.required:
            text = f"{key} is not set (it is required)\n"
        else:
            text = f"{key} = {describe(_value(parameter.default))}\n  from: default (registry)\n"
        return text + f"  doc: {parameter.doc}\n", []
    span = Span.point("--explain")
    return None, [Diagnostic("E0307", f"unknown key `{key}`", span, help=did_you_mean(key, known_keys(resolution)))]


def _value(default):
    if isinstance(default, tuple):
        return [_value(item) for item in default]
    return default
