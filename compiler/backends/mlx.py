"""The MLX backend: ``mlx.nn`` modules, ``mlx.optimizers`` with bias correction on, and one
``mx.compile``d step over the models' and the optimizers' state
(``specc.runtime.mlx.training``; two models and two optimizers for ``adversarial``:
``specc.runtime.mlx.objectives``)."""

from __future__ import annotations

from specc.compiler.backends import ADVERSARIAL_EMA, Backend, epoch_key_refusals


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
)
