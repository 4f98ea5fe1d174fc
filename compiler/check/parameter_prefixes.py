"""Parameter-name prefixes (E0513, E0517): every ``freeze`` prefix and every penalty
``prefix`` matches a parameter of the model graphs, as ``name`` or ``model.name`` (dotted,
whole name parts).
"""

from __future__ import annotations

from specc.compiler import ir
from specc.dsl.diagnostics import did_you_mean
from specc.compiler.check.cross_field import Facts


def parameter_names(graphs: dict[str, ir.ModelGraph]) -> list[str]:
    """Every parameter's name, model-relative (``x``) then qualified (``vector_field.x``)."""
    trained = {graph.name: [name for name, parameter in graph.parameters if not parameter.buffer] for graph in graphs.values()}
    names = [name for graph in graphs.values() for name in trained[graph.name]]  # buffers are never trained
    return names + [f"{graph.name}.{name}" for graph in graphs.values() for name in trained[graph.name]]


def name_prefixes(names: list[str]) -> list[str]:
    """Every dotted prefix of whole name parts of ``names``, sorted."""
    return sorted({".".join(name.split(".")[:depth]) for name in names for depth in range(1, name.count(".") + 2)})


def _unmatched_help(prefix: str, prefixes: list[str], names: list[str]) -> str:
    return did_you_mean(prefix, prefixes) or (
        f"parameters start with: {', '.join(sorted({n.split('.')[0] for n in names}))}"
    )


def check_freeze(facts: Facts, graphs: dict[str, ir.ModelGraph]) -> None:
    """Every ``freeze`` prefix matches a parameter: ``name`` or ``model.name`` (dotted prefix)."""
    names = parameter_names(graphs)
    if not names or not facts.known("train", "freeze"):
        return
    prefixes = name_prefixes(names)
    for index, prefix in enumerate(facts.value("train", "freeze") or ()):
        if prefix not in prefixes:
            facts.error(
                "E0513",
                f"freeze `{prefix}` matches no parameter",
                facts.span("train", "freeze", index),
                _unmatched_help(prefix, prefixes, names),
            )


def check_penalties(facts: Facts, graphs: dict[str, ir.ModelGraph]) -> None:
    """Every penalty ``prefix`` matches a parameter of the objective's model, as ``freeze``
    does (``name`` or ``model.name``, whole name parts); penalties need a single-model
    objective (E0517)."""
    penalties = facts.value("train", "penalties") or ()
    if not penalties or not graphs or not facts.known("train", "penalties"):
        return
    contract = facts.contract()
    if contract is not None and len(contract.models) > 1:
        facts.error(
            "E0517",
            f"penalties apply to the objective's one model; objective `{facts.objective_kind()}` trains "
            f"{len(contract.models)}",
            facts.span("train", "penalties"),
        )
        return
    names = parameter_names(graphs)
    prefixes = name_prefixes(names)
    for index, penalty in enumerate(penalties):
        if penalty["prefix"] not in prefixes:
            facts.error(
                "E0517",
                f"penalty prefix `{penalty['prefix']}` matches no parameter",
                facts.span("train", "penalties", index),
                _unmatched_help(penalty["prefix"], prefixes, names),
            )
