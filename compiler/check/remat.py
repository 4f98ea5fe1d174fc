"""``train.remat`` (E0585): activation checkpointing recomputes each pass of a model's
``repeat`` in the backward pass; models without a repeat would checkpoint nothing, so the key
is refused there rather than silently ignored.
"""

from __future__ import annotations

from specc.compiler import ir
from specc.compiler.check.cross_field import Facts


def has_repeat(graph: ir.ModelGraph) -> bool:
    """Does a module of the model loop over a ``repeat``'s copies?"""
    return any(statement.call == "repeat" for module in graph.modules for statement in module.body)


def check_remat(facts: Facts, graphs: dict[str, ir.ModelGraph]) -> None:
    """``train.remat = true`` needs a ``repeat`` in one of the models (E0585)."""
    if not graphs or not facts.known("train", "remat") or facts.value("train", "remat") is not True:
        return
    if any(has_repeat(graph) for graph in graphs.values()):
        return
    names = ", ".join(f"`{name}`" for name in sorted(graphs))
    facts.error(
        "E0585",
        f"train.remat recomputes each pass of a `repeat` in the backward pass, and {names} "
        f"{'has' if len(graphs) == 1 else 'have'} no repeat",
        facts.span("train", "remat"),
        "write the stacked layers as `repeat n { ... }`, or remove train.remat",
    )


# backend -> why it cannot recompute a pass that draws random numbers (E0586)
RANDOM_REFUSED = {
    "mlx": "MLX's checkpoint draws the dropout masks and gaussian samples again when it recomputes a pass, "
    "so the gradients would not be the forward pass's",
}


def draws_random(graph: ir.ModelGraph) -> bool:
    """A dropout of a rate above 0, a gaussian sample, or attention dropout in the model."""
    for module in graph.modules:
        for submodule in module.submodules:
            arguments = dict(getattr(submodule, "arguments", ()))
            kind = getattr(submodule, "kind", None)
            if kind == "GaussianSample" or (kind == "Dropout" and arguments.get("rate", 0.0) > 0.0):
                return True
            if kind == "MultiHeadAttention" and arguments.get("dropout", 0.0) > 0.0:
                return True
    return False


def check_backend_remat(facts: Facts, backend: str, graphs: dict[str, ir.ModelGraph]) -> None:
    """``train.remat`` on a backend that cannot recompute random draws (E0586), when a model
    draws them (run with the backend's other checks: ``specc lint`` without ``--backend``
    reports it as a warning naming the backend)."""
    if backend not in RANDOM_REFUSED or not graphs or facts.value("train", "remat") is not True:
        return
    drawing = sorted(name for name, graph in graphs.items() if draws_random(graph))
    if drawing:
        facts.error(
            "E0586",
            f"train.remat is not available on backend `{backend}` for a model that draws random numbers "
            f"(`{drawing[0]}`: dropout or a gaussian sample): {RANDOM_REFUSED[backend]}",
            facts.span("train", "remat"),
            "set the dropout rates to 0, or train on jax or lightning, which replay the draws",
        )
