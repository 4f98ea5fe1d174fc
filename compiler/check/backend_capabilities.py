"""Backend capability (E08xx): everything the spec uses must be implemented by the backend.

The backend's table (``specc.compiler.backends.<name>``, the one statement of what a backend
implements) is held against the components the spec uses (E0801), the settings the
backend refuses (E0801), component parameters it does not implement (E0803), the
discriminator's outputs its adversarial loop splits (E0804) and the layers of the model
graphs (E0802).
"""

from __future__ import annotations

from specc.compiler import ir
from specc.compiler.backends import BACKEND_NAMES, ParameterRefusal, Refusal, get_backend
from specc.compiler.vocabulary import registry
from specc.dsl.diagnostics import Span
from specc.compiler.check.contracts import count_values
from specc.compiler.check.cross_field import Facts, head
from specc.compiler.check import remat


def used_components(facts: Facts):
    """(kind, name, span) of every registry component the spec uses."""
    for key, section in facts.checked.sections.items():
        definition = registry.SECTIONS[section.section.kind]
        if definition.component_kind:
            span = section.section.component_span or head(section.section.span, section.section.kind)
            yield definition.component_kind, section.values["component"], span
        yield from _nested_components(section, facts, key)
    precision = facts.value("train", "precision")
    if precision is not None:
        yield "precision", precision, facts.span("train", "precision")


def _nested_components(section, facts: Facts, key: str):
    parameters = {parameter.name: parameter for parameter in registry.SECTIONS[section.section.kind].keys}
    if registry.SECTIONS[section.section.kind].component_kind:
        component = registry.lookup(registry.SECTIONS[section.section.kind].component_kind, section.values["component"])
        parameters.update({parameter.name: parameter for parameter in component.params})
    for name, parameter in parameters.items():
        value = section.values.get(name)
        kind = parameter.type.rstrip("?")
        if kind == "terms":
            for index, term in enumerate(value or ()):
                yield "loss", term["term"]["kind"], facts.span(key, name, index)
        elif kind.startswith("list[") and kind[5:-1] in registry.COMPONENT_KINDS:
            for index, item in enumerate(value or ()):
                yield kind[5:-1], item["kind"], facts.span(key, name, index)
        elif kind in registry.COMPONENT_KINDS and isinstance(value, dict):
            yield kind, value["kind"], facts.span(key, name)


def check_backend(facts: Facts, backend: str, graphs: dict[str, ir.ModelGraph]) -> None:
    """Everything the spec uses must be implemented by ``backend``, as its table
    (``specc.compiler.backends.<name>``, the one statement of what a backend implements)
    says: components (E0801), refused settings (E0801), component parameters (E0803), the
    discriminator's outputs (E0804) and graph layers (E0802)."""
    table = get_backend(backend)
    for kind, name, span in used_components(facts):
        if registry.lookup(kind, name) is None or table.supports(kind, name):
            continue
        facts.error("E0801", f"{kind} `{name}` is not available on backend `{backend}`", span, _having(kind, name))
    _check_refusals(facts, backend, table)
    _check_parameter_refusals(facts, backend, table)
    _check_discriminator(facts, backend, table, graphs)
    _check_layers(facts, backend, table, graphs)
    remat.check_backend_remat(facts, backend, graphs)  # train.remat with random draws (E0586)


def _having(kind: str, name: str) -> str:
    """``help:`` naming the backends that implement ``name`` of ``kind``."""
    having = registry.backends_of(kind, name)
    return f"backends with it: {', '.join(having)}" if having else "no backend implements it yet"


def _check_refusals(facts: Facts, backend: str, table) -> None:
    """Settings the backend's template does not render for this objective, at their value."""
    kind = facts.objective_kind()
    for refusal in table.refusals:
        if not isinstance(refusal, Refusal):
            continue
        section, *loc = refusal.path
        if refusal.objective in (None, kind) and refusal.applies(facts.value(section, *loc)):
            where = f" with objective `{kind}`" if refusal.objective else ""
            facts.error(
                "E0801",
                f"{refusal.feature}{where} is not implemented by backend `{backend}` yet",
                facts.span(section, *loc),
            )


def component_arguments(facts: Facts):
    """(kind, name, arguments, span of an argument) of every registry component the spec
    uses, with the values written (or defaulted) for its parameters."""
    for key, section in facts.checked.sections.items():
        definition = registry.SECTIONS[section.section.kind]
        if definition.component_kind:
            yield definition.component_kind, section.values["component"], section.values, (
                lambda parameter, key=key: facts.span(key, parameter)
            )
        parameters = {parameter.name: parameter for parameter in definition.keys}
        if definition.component_kind:
            component = registry.lookup(definition.component_kind, section.values["component"])
            parameters.update({parameter.name: parameter for parameter in component.params})
        for name, parameter in parameters.items():
            value = section.values.get(name)
            kind = parameter.type.rstrip("?")
            items = []
            if kind == "terms":
                items = [("loss", term["term"], (name, index, "term")) for index, term in enumerate(value or ())]
            elif kind.startswith("list[") and kind[5:-1] in registry.COMPONENT_KINDS:
                items = [(kind[5:-1], item, (name, index)) for index, item in enumerate(value or ())]
            elif kind in registry.COMPONENT_KINDS and isinstance(value, dict):
                items = [(kind, value, (name,))]
            for item_kind, item, loc in items:
                yield item_kind, item["kind"], item, (
                    lambda parameter, key=key, loc=loc, item=item: facts.span(key, *loc, item["kind"], parameter)
                )


def _check_parameter_refusals(facts: Facts, backend: str, table) -> None:
    """Component parameters the backend does not implement, given a non-default value (E0803)."""
    refused = [refusal for refusal in table.refusals if isinstance(refusal, ParameterRefusal)]
    if not refused:
        return
    objective = facts.objective_kind()
    for kind, name, arguments, span_of in component_arguments(facts):
        for refusal in refused:
            if (refusal.kind, refusal.component) != (kind, name) or refusal.objective not in (None, objective):
                continue
            parameter = registry.lookup(kind, name).param(refusal.parameter)
            value = arguments.get(refusal.parameter)
            if parameter is None or value is None or _same(value, parameter.default):
                continue
            where = f" with objective `{objective}`" if refusal.objective else ""
            facts.error(
                "E0803",
                f"`{refusal.parameter}` of {kind} `{name}`{where} is not implemented by backend `{backend}`",
                span_of(refusal.parameter),
                _parameter_having(refusal, objective),
            )


def _same(value, default) -> bool:
    if isinstance(default, tuple):
        return isinstance(value, (list, tuple)) and tuple(value) == default
    return value == default


def _parameter_having(refusal: ParameterRefusal, objective) -> str:
    having = [
        name
        for name in BACKEND_NAMES
        if not any(
            isinstance(other, ParameterRefusal)
            and (other.kind, other.component, other.parameter) == (refusal.kind, refusal.component, refusal.parameter)
            and other.objective in (None, objective)
            for other in get_backend(name).refusals
        )
    ]
    return f"backends with it: {', '.join(having)}" if having else f"remove `{refusal.parameter}`"


def _check_discriminator(facts: Facts, backend: str, table, graphs: dict[str, ir.ModelGraph]) -> None:
    """The backend's adversarial loop splits the discriminator's outputs into
    (logits, features): it must return that many values (E0804)."""
    wanted = table.discriminator_outputs
    if not wanted or facts.objective_kind() != "adversarial" or facts.value("objective", "use_adversarial") is False:
        return
    graph = graphs.get(facts.value("objective", "discriminator"))
    if graph is None:
        return
    structure = graph.output_structure or (None,) * len(graph.outputs)
    if len(structure) == wanted:
        return
    facts.error(
        "E0804",
        f"backend `{backend}` needs the discriminator to return (logits, features); model `{graph.name}` "
        f"returns {count_values(structure)}",
        facts.span("objective", "discriminator"),
        "return the logit maps and the feature maps: `return [logits], [h1, h2]` (std/discriminators.mf)",
    )


def _check_layers(facts: Facts, backend: str, table, graphs: dict[str, ir.ModelGraph]) -> None:
    from specc.compiler.vocabulary import layers

    runtime_names = {entry.runtime: entry for entry in layers.ENTRIES.values()}
    reported = set()
    for graph in graphs.values():
        for module in graph.modules:
            for name, origin in _calls(module):
                entry = layers.ENTRIES.get(name) or runtime_names.get(name)
                if entry is None or table.supports("layer", entry.name) or (entry.name, graph.name) in reported:
                    continue
                reported.add((entry.name, graph.name))
                having = layers.backends_of(entry.name)
                facts.error(
                    "E0802",
                    f"`{entry.name}` (in model `{graph.name}`) is not available on backend `{backend}`",
                    _origin_span(origin, facts),
                    f"backends with it: {', '.join(having)}" if having else "no backend implements it yet",
                )


def _calls(module: ir.ModuleDef):
    """(layer or op name, origin) of everything a module calls."""
    first_use: dict = {}  # attribute -> origin of the first statement calling it (one pass, not one per layer)
    for statement in module.body:
        first_use.setdefault(statement.attribute, statement.origin)
    for submodule in module.submodules:
        if isinstance(submodule, ir.Layer):
            yield submodule.kind, first_use.get(submodule.attribute, module.origin)
    for statement in module.body:
        if statement.call == "op":
            yield statement.function, statement.origin


def _origin_span(origin: str, facts: Facts) -> Span:
    parts = origin.rsplit(":", 2)
    if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
        return Span.point(parts[0], int(parts[1]), int(parts[2]))
    return Span.point(facts.resolution.root_file)
