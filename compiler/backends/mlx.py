"""The MLX backend: ``mlx.nn`` modules, ``mlx.optimizers`` with bias correction on, and one
``mx.compile``d step over the models' and the optimizers' state
(``specc.runtime.mlx.training``; two models and two optimizers for ``adversarial``:
``specc.runtime.mlx.objectives``)."""

from __future__ import annotations

from specc.compiler.backends import (
    ADVERSARIAL_FP16,
    ADVERSARIAL_SHARDED,
    Backend,
    Refusal,
    generator_loop_refusals,
)


BACKEND = Backend(
    refusals=(
        # sharded optimizer state: the main template only (runtime/mlx/sharding.py)
        *generator_loop_refusals(ADVERSARIAL_FP16, ADVERSARIAL_SHARDED),
        # PyTorch's speed switches (train.compile, train.tf32): every MLX step is mx.compile'd,
        # and Metal has no TF32 (fp32 matmuls are full precision)
        Refusal(None, ("train", "compile"), "train.compile = true (torch.compile; every MLX step is compiled already)",
                lambda value: value is True),
        Refusal(None, ("train", "tf32"), "train.tf32 = false (a PyTorch switch; Metal has no TF32)",
                lambda value: value is False),
        # the DataLoader's page-locked batches: a PyTorch setting
        Refusal(None, ("data", "pin_memory"), "data.pin_memory = false (a PyTorch DataLoader switch; MLX's unified memory has no copy to pin for)",
                lambda value: value is False),
    ),
    name="mlx",
    template="mlx/train.py.j2",
    # the framework imports of every script (compiler/emit/mlx.py adds numpy, tree_map and
    # the runtime modules a script uses, isort-ordered)
    imports=(
        "import mlx.core as mx",
        "import mlx.optimizers as optim",
        "from mlx import nn",
    ),
    runtime="mlx",
    model_imports=("import mlx.core as mx", "from mlx import nn"),
    module_base="nn.Module",
    forward_name="__call__",
    module_list="",
    call_super_init=True,
    capabilities={
        "precision": frozenset({"fp32", "bf16", "fp16"}),
        "objective": frozenset(
            {
                "classification",
                "regression",
                "flow_matching",
                "mean_flow",
                "improved_mean_flow",
                "language_model",
                "adversarial",
                "vae",
            }
        ),
        "optimizer": frozenset({"adam", "adamw", "sgd", "lion"}),
        "schedule": frozenset({"constant", "warmup_cosine", "warmup_linear", "step", "exponential"}),
        "sampler": frozenset({"euler", "heun", "rk4", "one_step"}),
        "logger": frozenset({"csv", "tensorboard", "mlflow", "wandb"}),
        "callback": frozenset({"progress_bar", "lr_monitor", "grad_norm_monitor", "python"}),
    },
    objective_templates={"adversarial": "mlx/adversarial.py.j2", "vae": "mlx/adversarial.py.j2"},
)
