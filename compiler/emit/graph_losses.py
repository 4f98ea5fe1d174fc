"""Losses written in the spec's graph language (``loss = graph("smooth_l1", ...)``): each
becomes a module-level function of the script, printed from the block's statements the way
a model's forward method is (``emit.models.module_view``)::

    def smooth_l1(prediction, target):
        \"\"\"The loss smooth_l1(prediction: f32[B, 2], target: f32[B, 2]), from specs/x.mf:10:1.\"\"\"
        difference = layers.abs(prediction - target)
        lt = difference < 0.5
        truediv = 0.5 * difference * difference / 0.5
        return {"loss": layers.mean(layers.where(lt, truediv, difference - 0.25), axis=(0, 1), keepdims=False)}

The block's hyperparameters are the values the spec gave (``arguments``) or their defaults,
written as literals: the graph is monomorphised like every block. The objective calls the
function where a ``python(...)`` loss's values would be (``emit.extensions``): it returns the
values dict, ``{"loss": scalar}``, like a user's loss (``values = smooth_l1(prediction,
batch["y"])``); a flow passes it to its runtime loss as ``loss=``.
"""

from __future__ import annotations

from specc.compiler import ir
from specc.compiler.emit.filters import identifier
from specc.compiler.emit.models import module_view


def graph_term(plan: ir.ObjectivePlan) -> ir.LossTerm | None:
    """The objective's ``graph(...)`` loss term, or None."""
    return next((term for term in plan.terms if term.graph is not None), None)


def function_name(plan: ir.ObjectivePlan) -> str | None:
    """The script's name of the objective's graph loss function, or None."""
    term = graph_term(plan)
    return None if term is None else identifier(term.graph.name)


def path_name(plan: ir.ObjectivePlan) -> str | None:
    """The script's name of a flow's path written in the spec (``path = graph(...)``), or None."""
    return None if plan.path_graph is None else identifier(plan.path_graph.name)


def time_name(plan: ir.ObjectivePlan) -> str | None:
    """The script's name of a time sampler written in the spec (``time = graph(...)``), or None."""
    return None if plan.time_graph is None else identifier(plan.time_graph.name)


# A time sampler runs in the data pipeline, on the host: its ops are the numpy reference's
# (``numpy_layers.sigmoid``), its draws ``specc.runtime.reference.draws`` (``numpy_draws.beta``).
SAMPLER_NAMESPACES = {"layers": "numpy_layers"}


def time_sampler_view(plan: ir.ObjectivePlan) -> dict | None:
    """The template view of the time sampler's function ``beta_time(rng, B)``, or None."""
    if plan.time_graph is None:
        return None
    view = module_view(plan.time_graph, "", SAMPLER_NAMESPACES)
    return {**view, "name": identifier(plan.time_graph.name), "what": "time sampler", "inputs": ["rng", "B"],
            "input_types": [("rng", "numpy Generator"), ("B", "batch size")]}


def sampler_imports(program: ir.Program) -> list[str]:
    """The script's imports of the numpy reference its time sampler calls (none without one)."""
    view = time_sampler_view(program.objective)
    if view is None:
        return []
    text = "\n".join([*view["body"], view["returns"]])
    return [f"from specc.runtime.reference import {name}" for name in ("draws as numpy_draws", "layers as numpy_layers")
            if f"{name.split()[-1]}." in text]


def loss_functions(program: ir.Program) -> list[dict]:
    """Template views of the module-level functions of the losses and the path written in the
    spec (``templates/common/model.j2``): a loss returns its values dict, a path ``x_t, v``."""
    views = []
    for term in program.objective.terms:
        if term.graph is not None:
            view = module_view(term.graph, "")
            views.append({**view, "name": identifier(term.graph.name), "returns": f'{{"loss": {view["returns"]}}}'})
    if program.objective.path_graph is not None:
        view = module_view(program.objective.path_graph, "")
        views.append({**view, "name": identifier(program.objective.path_graph.name), "what": "path"})
    for _, graph in program.evaluation.metric_graphs:  # a metric returns its scalar
        views.append({**module_view(graph, ""), "name": identifier(graph.name), "what": "metric"})
    sampler = time_sampler_view(program.objective)
    return views + ([sampler] if sampler is not None else [])


def values_code(plan: ir.ObjectivePlan, output: str, target: str) -> str | None:
    """``smooth_l1(<output>, <target>)``: the values dict of a graph loss, else None."""
    name = function_name(plan)
    return None if name is None else f"{name}({output}, {target})"


def flow_code(plan: ir.ObjectivePlan) -> str | None:
    """The ``loss=`` of a flow's runtime loss, ``loss(ops, prediction, target) -> {"loss": ...}``,
    for a graph loss; else None."""
    name = function_name(plan)
    return None if name is None else f"lambda ops, prediction, target: {name}(prediction, target)"
