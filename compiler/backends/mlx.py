"""The MLX backend: ``mlx.nn`` modules, ``mlx.optimizers`` with bias correction on, and one
``mx.compile``d step over the models' and the optimizers' state
(``specc.runtime.mlx.training``; two models and two optimizers for ``adversarial``:
``specc.runtime.mlx.objectives``)."""

from __future__ import annotations

from specc.compiler.backends import ADVERSARIAL_EMA, Backend, epoch_key_refusals


def context(program) -> dict:
    """``adversarial_optimizers`` for objective adversarial (nothing for the others); refuses
    what the adversarial template does not render."""
    from specc.compiler.emit import NotImplementedByBackend  # emit imports the backend tables

    if program.objective.kind != "adversarial":
        return {}
    if program.train.ema is not None:
        raise NotImplementedByBackend("train.ema with objective 'adversarial' is not implemented by the mlx backend yet")
    return {"adversarial_optimizers": adversarial_optimizers(program)}


def adversarial_optimizers(program) -> list[dict]:
    """Generator then discriminator: ``{"model", "optimizer", "schedule"}`` with the config
    names (``optimizer_<name>``, ``schedule_<name>``) of the named optimizer whose ``models``
    list the model, else of the optimizer named like the role (``generator``)."""
    from specc.compiler.emit_filters import identifier

    found = []
    for role, model in zip(("generator", "discriminator"), program.objective.models):
        plan = next((plan for plan in program.optimizers if model in plan.models), None)
        plan = plan or next(plan for plan in program.optimizers if plan.name == role)
        name = identifier(plan.name)
        found.append({"model": model, "optimizer": f"optimizer_{name}", "schedule": f"schedule_{name}"})
    return found


BACKEND = Backend(
    refusals=(ADVERSARIAL_EMA, *epoch_key_refusals("adversarial")),
    name="mlx",
    template="mlx/train.py.j2",
    imports=(
        "import mlx.core as mx",
        "import mlx.nn as nn",
        "import numpy as np",
        "from mlx.utils import tree_map",
    ),
    layers_module="specc.runtime.mlx.layers",
    module_base="nn.Module",
    forward_name="__call__",
    module_list="",
    call_super_init=True,
    capabilities={
        "precision": frozenset({"fp32", "bf16"}),
        "objective": frozenset(
            {
                "classification",
                "regression",
                "flow_matching",
                "mean_flow",
                "improved_mean_flow",
                "language_model",
                "adversarial",
            }
        ),
        "optimizer": frozenset({"adam", "adamw", "sgd", "lion"}),
        "schedule": frozenset({"constant", "warmup_cosine", "warmup_linear", "step", "exponential"}),
        "sampler": frozenset({"euler", "heun", "rk4", "one_step"}),
        "logger": frozenset({"csv", "tensorboard", "mlflow", "wandb"}),
    },
    objective_templates={"adversarial": "mlx/adversarial.py.j2"},
    context=context,
)
