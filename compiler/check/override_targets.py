"""``--set`` applied to the collected spec, before anything is evaluated (a mixin of
:class:`specc.compiler.check.resolve.Resolver`).

``apply_overrides`` parses each ``path=value``: a ``let`` name replaces the constant's
expression, a section key (``train.max_steps``, ``train.checkpoint.every``) replaces or adds
the entry, a component section's own key (``schedule=step(step_size = 100)``) replaces the
component and keeps the written keys the new one takes. An unknown path is E0307 with the
nearest known path, a malformed override E0308, a component replaced by something that is not
a component E0310. The resolver provides ``result`` (the Resolution being built), ``lets``,
``entries`` and ``error``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from specc.compiler.check.aliases import ALIASES
from specc.compiler.check.overrides import OVERRIDE_FILE, canonical_value
from specc.compiler.check.values import ResolvedSection
from specc.compiler.vocabulary import registry
from specc.dsl import ast
from specc.dsl.diagnostics import Span, did_you_mean


class OverrideTargets:
    """The ``--set`` half of the resolver."""

    def apply_overrides(self, overrides: Sequence[str], parse_expression) -> None:
        self.result.override_source = "\n".join(overrides)
        starts = [1]  # the line of each override in override_source (one may hold line breaks)
        for text in overrides:
            starts.append(starts[-1] + text.count("\n") + 1)
        for text, line in zip(overrides, starts):
            key, equals, value_text = text.partition("=")
            key = key.strip()
            whole = Span(OVERRIDE_FILE, line, 1, line, len(text.split("\n")[0]) + 1)
            if not equals or not key:
                self.error(
                    "E0308",
                    f"malformed override `{text}`",
                    whole,
                    "write --set path=value, e.g. --set train.max_steps=100",
                )
                continue
            expression, diagnostics = parse_expression(value_text, line, len(key) + 2)
            self.result.diagnostics.extend(diagnostics)
            if expression is None:
                continue
            key_span = Span(OVERRIDE_FILE, line, 1, line, len(key) + 1)
            listed = text if text.isprintable() else f"{key}={canonical_value(expression)}"  # one line
            self.result.canonical_overrides += (listed,)
            self.apply_override(key, key_span, expression)

    def apply_override(self, key: str, key_span: Span, expression) -> None:
        parts = key.split(".")
        if len(parts) == 1 and parts[0] in self.lets:
            let, _ = self.lets[parts[0]]
            self.lets[parts[0]] = (replace(let, value=expression), OVERRIDE_FILE)
            return
        section = self.result.sections.get(key)
        if section is not None and registry.SECTIONS[section.kind].component_kind:
            self.replace_component(section, key_span, expression)
            return
        target = self.override_target(parts)
        if target is None:
            self.error("E0307", f"unknown override path `{key}`", key_span, did_you_mean(key, self.known_paths()))
            return
        section, path, name = target
        section.key_spans.setdefault(name, key_span)
        self.entries[(path, name)] = (ast.Entry(key_span, name, key_span, expression), OVERRIDE_FILE)

    def replace_component(self, section: ResolvedSection, key_span: Span, expression) -> None:
        """``--set schedule=step(step_size = 100)``: the section's component becomes ``step``;
        the written keys the new component does not take are dropped (the keys of the
        section itself stay), and the call's keyword arguments become overrides."""
        if isinstance(expression, ast.Name):
            name, keywords = expression.name, ()
        elif isinstance(expression, ast.Call) and not expression.args:
            name, keywords = expression.function, expression.kwargs
        else:
            example = section.component or "name"
            self.error(
                "E0310",
                f"`--set {section.key}=...` replaces the section's component: write its name or a call "
                f"such as `{section.key}={example}(key = value)`",
                expression.span,
            )
            return
        section.component, section.component_span = name, key_span
        path = section.key
        allowed = set(allowed_keys(section))
        for written in [key for key in section.key_spans if key not in allowed]:
            section.key_spans.pop(written)
            self.entries.pop((path, written), None)
        for keyword in keywords:
            self.apply_override(f"{section.key}.{keyword.name}", keyword.span, keyword.value)

    def override_target(self, parts: list[str]):
        """(section, path, key) for an override path, or None when it names nothing."""
        if len(parts) < 2:
            return None
        section = self.result.sections.get(parts[0])
        rest = parts[1:]
        if section is None and len(parts) >= 3:
            section = self.result.sections.get(f"{parts[0]}.{parts[1]}")
            rest = parts[2:]
        if section is None:
            return None
        parent = None
        while len(rest) > 1:
            child_kind = rest[0]
            child_definition = registry.SECTIONS.get(child_kind)
            if child_definition is None or child_definition.parent != section.kind:
                return None
            child = section.children.get(child_kind)
            if child is None:
                child = ResolvedSection(child_kind, None, None, None, section.span, section.file)
                section.children[child_kind] = child
            parent, section, rest = section, child, rest[1:]
        name = rest[0]
        old_names = ALIASES.get((section.kind, section.component), {})  # read as their new name later
        if name not in allowed_keys(section) and name not in section.key_spans and name not in old_names:
            return None
        return section, section_path(section, parent), name

    def known_paths(self) -> list[str]:
        paths = list(self.lets)
        for section in self.result.sections.values():
            paths += [f"{section.key}.{name}" for name in allowed_keys(section)]
            for child in section.children.values():
                paths += [f"{section.key}.{child.kind}.{name}" for name in allowed_keys(child)]
            for child_kind in registry.SECTIONS[section.kind].children:
                paths += [f"{section.key}.{child_kind}.{param.name}" for param in registry.SECTIONS[child_kind].keys]
        return paths


def section_path(section: ResolvedSection, parent: ResolvedSection | None) -> str:
    return f"{parent.key}.{section.kind}" if parent else section.key


def section_parameters(section: ResolvedSection):
    definition = registry.SECTIONS[section.kind]
    parameters = list(definition.keys)
    if definition.component_kind and section.component:
        component = registry.lookup(definition.component_kind, section.component)
        if component is not None:
            parameters += list(component.params)
    return parameters


def allowed_keys(section: ResolvedSection) -> list[str]:
    return [parameter.name for parameter in section_parameters(section)]
