"""Resolution: lets, references and arithmetic folded, --set overrides applied.

``resolve(modules, overrides, parse_expression)`` turns the parsed modules (dependency
order, root last) into a ``Resolution``: constants, sections with resolved entries and the
model names, each value with its span and origin. It never raises on bad input: every
problem is a diagnostic (E03xx).

Constants and references are resolved lazily (a cycle is E0304); arithmetic is folded by
``fold.py`` (E0305); overrides replace a ``let``'s expression or a section entry before
anything is evaluated, so an override reaches every use.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from specc.compiler.check import fold
from specc.compiler.check.let_order import dependency_order
from specc.compiler.vocabulary import registry
from specc.dsl.diagnostics import Diagnostic, Span, did_you_mean
from specc.compiler.check.values import ComponentCall, FieldRef, ResolvedSection, RValue, Word, describe
from specc.compiler.check.override_targets import OverrideTargets, section_parameters, section_path
from specc.compiler.check.overrides import (  # noqa: F401 (make_expression_parser: re-exported)
    OVERRIDE_FILE,
    canonical_value,
    composition,
    import_chains,
    make_expression_parser,
)
from specc.dsl import ast


@dataclass
class Resolution:
    spec_name: str | None
    language: int | None
    root_file: str
    constants: dict[str, RValue] = field(default_factory=dict)
    sections: dict[str, ResolvedSection] = field(default_factory=dict)  # "data", "optimizer.generator"
    models: dict[str, Span] = field(default_factory=dict)
    chains: dict[str, tuple[str, ...]] = field(default_factory=dict)  # file -> import chain
    bases: dict[str, str] = field(default_factory=dict)  # base file -> the file extending it
    replaced: dict[str, tuple[str, str]] = field(default_factory=dict)  # key -> (origin, the base's it replaced)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    override_source: str = ""
    # the overrides as the resolved spec lists them in its header, one line each: as written,
    # or ``key=value`` with the value printed canonically (overrides.canonical_value) when the
    # text holds a line break or another unprintable character
    canonical_overrides: tuple[str, ...] = ()
    suggested_sections: set = field(default_factory=set)  # kinds suggested for misspelt sections


MAX_VIA = 64  # the steps a folded value keeps for `specc explain` (a long sum of constants)


class _Cycle(Exception):
    pass


class Resolver(OverrideTargets):
    """Holds the unresolved definitions and resolves them lazily, detecting cycles."""

    def __init__(self, modules: Sequence[ast.Module], std_root: str = ""):
        root = modules[-1] if modules else None
        self.result = Resolution(
            spec_name=root.spec_name if root else None,
            language=root.language if root else None,
            root_file=root.file if root else "",
        )
        self.result.chains = import_chains(modules, std_root)
        self.result.bases, self.result.replaced = composition(modules)
        self.lets: dict[str, tuple[ast.Let, str]] = {}
        self.entries: dict[tuple[str, str], tuple[ast.Entry, str]] = {}  # (section key, entry key)
        self.state: dict[object, str] = {}
        self.collect(modules)

    # ------------------------------------------------------------------ collection

    def error(self, code: str, message: str, span: Span, help: str | None = None) -> None:
        self.result.diagnostics.append(Diagnostic(code, message, span, help=help))

    def origin(self, span: Span) -> str:
        return OVERRIDE_FILE if span.file == OVERRIDE_FILE else f"{span.file}:{span.line}"

    def collect(self, modules: Sequence[ast.Module]) -> None:
        seen: dict[str, Span] = {}
        for module in modules:
            for item in module.items:  # a composed module (`extends`) holds its bases' items: their own file
                self.collect_item(item, item.span.file, seen)

    def duplicate(self, what: str, name: str, span: Span, seen: dict[str, Span]) -> bool:
        key = f"{what} {name}"
        if key in seen:
            first = seen[key]
            self.result.diagnostics.append(
                Diagnostic(
                    "E0303",
                    f"duplicate definition of {what} `{name}`",
                    span,
                    notes=(f"first defined at {first.location()}",),
                )
            )
            return True
        seen[key] = span
        return False

    def collect_item(self, item, file: str, seen: dict[str, Span]) -> None:
        if isinstance(item, ast.Let):
            if not self.duplicate("constant", item.name, item.name_span, seen):
                self.lets[item.name] = (item, file)
        elif isinstance(item, (ast.Model, ast.ModelInstance)):  # duplicates: the graphs report them (E0606)
            self.result.models.setdefault(item.name, item.name_span)
        elif isinstance(item, ast.Section):
            self.collect_section(item, file, None, seen)

    def collect_section(self, node: ast.Section, file: str, parent: ResolvedSection | None, seen) -> None:
        definition = registry.SECTIONS.get(node.kind)
        allowed = [
            kind for kind, section in registry.SECTIONS.items() if section.parent == (parent.kind if parent else None)
        ]
        if definition is None or definition.parent != (parent.kind if parent else None):
            where = f"in section `{parent.kind}`" if parent else "at the top level"
            suggestion = did_you_mean(node.kind, allowed)
            if suggestion:
                self.result.suggested_sections.update(kind for kind in allowed if f"`{kind}`" in suggestion)
            self.error("E0309", f"unknown section `{node.kind}` {where}", _head(node), suggestion)
            return
        section = ResolvedSection(node.kind, node.name, node.component, node.component_span, node.span, file)
        if self.duplicate("section", (parent.key + "." if parent else "") + section.key, _head(node), seen):
            return
        if parent is not None:
            parent.children[node.kind] = section
        else:
            self.result.sections[section.key] = section
        for member in node.body:
            if isinstance(member, ast.Section):
                self.collect_section(member, file, section, seen)
                continue
            path = section_path(section, parent)
            if member.key in section.key_spans:  # the parser reports duplicate keys (E0109)
                continue
            section.key_spans[member.key] = member.key_span
            self.entries[(path, member.key)] = (member, member.span.file)  # merged sections mix files

    # ------------------------------------------------------------------ evaluation

    def resolve_all(self) -> None:
        for name in dependency_order({name: let.value for name, (let, _) in self.lets.items()}):
            self.let_value(name, None)  # folded after the lets it names: no deep recursion
        for name in sorted(self.lets):
            value = self.let_value(name, None)
            if value is not None:
                self.result.constants[name] = value
        for section in self.result.sections.values():
            self.resolve_section(section, None)

    def resolve_section(self, section: ResolvedSection, parent: ResolvedSection | None) -> None:
        path = section_path(section, parent)
        for name in list(section.key_spans):
            value = self.entry_value(path, name, None)
            if value is not None:
                section.entries[name] = value
        for child in section.children.values():
            self.resolve_section(child, section)

    def let_value(self, name: str, use: Span | None) -> RValue | None:
        let, file = self.lets[name]
        return self.memo(
            ("let", name),
            use,
            f"constant `{name}`",
            lambda: self.evaluate(
                let.value,
                self.origin(let.span) if file != OVERRIDE_FILE else OVERRIDE_FILE,
                self.result.chains.get(file, ()),
            ),
        )

    def entry_value(self, path: str, name: str, use: Span | None) -> RValue | None:
        entry, file = self.entries[(path, name)]
        origin = OVERRIDE_FILE if file == OVERRIDE_FILE else self.origin(entry.span)
        return self.memo(
            ("entry", path, name),
            use,
            f"`{path}.{name}`",
            lambda: self.evaluate(entry.value, origin, self.result.chains.get(file, ())),
        )

    def memo(self, key, use: Span | None, what: str, compute):
        cache = self.state.get(key)
        if cache == "busy":
            if use is not None:
                self.error("E0304", f"{what} is defined in terms of itself", use)
            raise _Cycle()
        if cache is not None:
            return cache[1]
        self.state[key] = "busy"
        try:
            value = compute()
        except _Cycle:
            value = None
        self.state[key] = ("done", value)
        return value

    def evaluate(self, node, origin: str, chain: tuple[str, ...]) -> RValue | None:
        """The folded value of an expression, or None after a diagnostic."""
        make = lambda value, via=(): RValue(value, node.span, origin, chain, via)  # noqa: E731
        if isinstance(node, (ast.Number, ast.String, ast.Bool)):
            return make(node.value)
        if isinstance(node, ast.Name):
            return self.evaluate_name(node, origin, chain)
        if isinstance(node, ast.Attribute):
            return self.evaluate_reference(node, origin, chain)
        if isinstance(node, ast.List):
            items = [self.evaluate(item, origin, chain) for item in node.items]
            return None if any(item is None for item in items) else make(items)
        if isinstance(node, ast.Mapping):
            return self.evaluate_mapping(node, origin, chain)
        if isinstance(node, ast.Call):
            args = [self.evaluate(item, origin, chain) for item in node.args]
            kwargs = [
                (keyword.name, self.evaluate(keyword.value, origin, chain), _key_span(keyword))
                for keyword in node.kwargs
            ]
            if any(item is None for item in args) or any(item[1] is None for item in kwargs):
                return None
            return make(ComponentCall(node.function, node.function_span, tuple(args), tuple(kwargs)))
        if isinstance(node, (ast.UnaryOp, ast.BinaryOp)):
            return self.evaluate_operation(node, origin, chain)
        self.error("E0305", "this expression cannot be used as a value", node.span)
        return None

    def evaluate_operation(self, root, origin: str, chain) -> RValue | None:
        """A folded tree of unary and binary operations (E0305 where one cannot be folded).

        Walked with an explicit stack, operands left to right, so a flat `2 + 2 + ...` of
        any length folds in linear time without recursing once per operator."""
        results: list[RValue | None] = []
        work = [(root, False)]
        while work:
            node, operands_done = work.pop()
            if not isinstance(node, (ast.UnaryOp, ast.BinaryOp)):
                results.append(self.evaluate(node, origin, chain))
            elif not operands_done:
                work.append((node, True))
                operands = (node.operand,) if isinstance(node, ast.UnaryOp) else (node.left, node.right)
                work.extend((operand, False) for operand in reversed(operands))
            else:
                count = 1 if isinstance(node, ast.UnaryOp) else 2
                values = results[-count:]
                del results[-count:]
                results.append(self.fold_operation(node, values, origin, chain))
        return results[0]

    def fold_operation(self, node, values, origin: str, chain) -> RValue | None:
        if any(value is None for value in values):
            return None
        try:
            folded = fold.unary(node.op, values[0]) if len(values) == 1 else fold.binary(node.op, *values)
        except fold.FoldError as problem:
            self.error("E0305", str(problem), node.span)
            return None
        via = tuple(step for value in values for step in value.via[:MAX_VIA])[:MAX_VIA]
        return RValue(folded, node.span, origin, chain, via)

    def evaluate_name(self, node: ast.Name, origin: str, chain) -> RValue | None:
        if node.name in self.lets:
            value = self.let_value(node.name, node.span)
            if value is None:
                return None
            return RValue(
                value.value,
                node.span,
                origin,
                chain,
                (f"{node.name} = {describe(value)} ({value.origin})",) + value.via,
            )
        return RValue(Word(node.name), node.span, origin, chain)

    def evaluate_reference(self, node: ast.Attribute, origin: str, chain) -> RValue | None:
        parts = _dotted(node)
        if parts is None:
            self.error("E0302", "a reference must be a dotted name such as `data.k`", node.span)
            return None
        reference = ".".join(parts)
        found = self.lookup_reference(parts, node.span)
        if found is None:
            self.error(
                "E0302",
                f"unknown reference `{reference}`",
                node.span,
                did_you_mean(reference, self.reference_candidates()),
            )
            return None
        return RValue(
            found.value, node.span, origin, chain, (f"{reference} = {describe(found)} ({found.origin})",) + found.via
        )

    def lookup_reference(self, parts: list[str], use: Span) -> RValue | None:
        """``data.k`` / ``optimizer.generator.lr`` / ``train.checkpoint.keep``: a written entry,
        a registry default, or a data field."""
        path, name = ".".join(parts[:-1]), parts[-1]
        if (path, name) in self.entries:
            return self.entry_value(path, name, use)
        section = self.section_at(path)
        return self.default_or_field(section, name, use) if section is not None else None

    def section_at(self, path: str) -> ResolvedSection | None:
        if path in self.result.sections:
            return self.result.sections[path]
        head, _, child = path.rpartition(".")
        parent = self.result.sections.get(head)
        return parent.children.get(child) if parent else None

    def default_or_field(self, section: ResolvedSection, name: str, use: Span) -> RValue | None:
        for parameter in section_parameters(section):
            if (
                parameter.name == name
                and not parameter.required
                and parameter.default is not None
                and not parameter.derived
            ):
                return RValue(_to_value(parameter.default), use, "default")
        if section.kind == "data" and registry.lookup("data", section.component or "") is None:
            return RValue(FieldRef(name), use, "unknown")  # the section's own error covers it
        if section.kind == "data" and section.component:
            source = registry.lookup("data", section.component)
            if source is not None and any(decl.name == name for decl in source.fields):
                return RValue(FieldRef(name), use, f"{section.span.file}:{section.span.line}")  # a base's file
            if source is not None and source.param("fields") is not None and ("data", "fields") in self.entries:
                declared = self.entry_value("data", "fields", use)
                if declared is not None and isinstance(declared.value, dict) and name in declared.value:
                    return RValue(FieldRef(name), use, declared.origin)
        return None

    def reference_candidates(self) -> list[str]:
        names = [f"{path}.{key}" for path, key in self.entries]
        data = self.result.sections.get("data")
        if data is not None and data.component and registry.lookup("data", data.component):
            names += [f"data.{decl.name}" for decl in registry.lookup("data", data.component).fields]
        return names

    def evaluate_mapping(self, node: ast.Mapping, origin: str, chain) -> RValue | None:
        entries: dict[str, RValue] = {}
        spans: dict[str, Span] = {}
        failed = False
        for entry in node.entries:
            if entry.key in spans:  # the parser reports duplicate keys (E0109)
                continue
            spans[entry.key] = entry.key_span
            value = self.evaluate(entry.value, origin, chain)
            failed = failed or value is None
            if value is not None:
                entries[entry.key] = value
        return None if failed else RValue(entries, node.span, origin, chain)


def _key_span(keyword: ast.Keyword) -> Span:
    span = keyword.span
    return Span(span.file, span.line, span.column, span.line, span.column + len(keyword.name))


def _head(node: ast.Section) -> Span:
    """The span of a section's header keyword (the first line of the section)."""
    span = node.span
    return Span(span.file, span.line, span.column, span.line, span.column + len(node.kind))


def _dotted(node) -> list[str] | None:
    if isinstance(node, ast.Name):
        return [node.name]
    if isinstance(node, ast.Attribute):
        base = _dotted(node.base)
        return None if base is None else base + [node.name]
    return None


def _to_value(default):
    if isinstance(default, tuple):
        return [_to_value(item) for item in default]
    return default


def resolve(
    modules: Sequence[ast.Module],
    overrides: Sequence[str] = (),
    parse_expression: Callable | None = None,
    std_root: str = "",
) -> Resolution:
    """Resolve the program: collect definitions, apply overrides, fold every value."""
    resolver = Resolver(modules, std_root)
    if overrides and parse_expression is not None:
        resolver.apply_overrides(overrides, parse_expression)
    resolver.resolve_all()
    return resolver.result
