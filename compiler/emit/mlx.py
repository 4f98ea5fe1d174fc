"""The mlx backend's own template fields (the emitter half of its backend table,
``specc.compiler.backends.mlx``)."""

from __future__ import annotations





def context(program) -> dict:
    """``adversarial_optimizers`` for objective adversarial (nothing for the others); refuses
    what the adversarial template does not render."""
    from specc.compiler.emit.render import NotImplementedByBackend  # emit imports the backend tables

    if program.objective.kind != "adversarial":
        return {}
    if program.train.ema is not None:
        raise NotImplementedByBackend("train.ema with objective 'adversarial' is not implemented by the mlx backend yet")
    return {"adversarial_optimizers": adversarial_optimizers(program)}


def adversarial_optimizers(program) -> list[dict]:
    """Generator then discriminator: ``{"model", "optimizer", "schedule"}`` with the config
    names (``optimizer_<name>``, ``schedule_<name>``) of the named optimizer whose ``models``
    list the model, else of the optimizer named like the role (``generator``)."""
    from specc.compiler.emit.filters import identifier

    found = []
    for role, model in zip(("generator", "discriminator"), program.objective.models):
        plan = next((plan for plan in program.optimizers if model in plan.models), None)
        plan = plan or next(plan for plan in program.optimizers if plan.name == role)
        name = identifier(plan.name)
        found.append({"model": model, "optimizer": f"optimizer_{name}", "schedule": f"schedule_{name}"})
    return found
