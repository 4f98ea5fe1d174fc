"""The PyTorch Lightning backend: torch ``nn.Module`` models inside a ``LightningModule``,
a ``LightningDataModule`` over the numpy loaders, and Lightning's ``Trainer`` with its own
ModelCheckpoint, EarlyStopping and TQDMProgressBar plus specc's Logger and CheckpointIO
(``specc.runtime.torch.training``).

``adversarial`` (and ``vae``, the generator alone) renders from its own template (``lightning/adversarial.py.j2``; the pieces
every script shares are macros of ``lightning/parts.j2``): manual optimization with two
optimizers. What that loop does not do yet (fp16, sharded state, torch.compile) is refused by
the checker from the rows below (E0801), as on the other backends.
"""

from __future__ import annotations

from specc.compiler.backends import (
    ADVERSARIAL_FP16,
    ADVERSARIAL_SHARDED,
    Backend,
    Refusal,
    generator_loop_refusals,
)

# train.compile: the generator loop's two models are not compiled yet
ADVERSARIAL_COMPILE = Refusal("adversarial", ("train", "compile"), "train.compile = true (torch.compile)", lambda value: value is True)

BACKEND = Backend(
    refusals=(
        # train.parallel = sharded: Lightning's fsdp in the main template only (runtime/torch/sharding.py)
        *generator_loop_refusals(ADVERSARIAL_SHARDED, ADVERSARIAL_FP16, ADVERSARIAL_COMPILE),
    ),
    name="lightning",
    template="lightning/train.py.j2",
    # the framework imports every script has; the emitter adds what each script uses
    imports=("import lightning.pytorch as pl", "import torch", "from torch import nn"),
    runtime="torch",
    model_imports=("import torch", "from torch import nn"),
    module_base="nn.Module",
    forward_name="forward",
    module_list="nn.ModuleList",
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
    objective_templates={"adversarial": "lightning/adversarial.py.j2", "vae": "lightning/adversarial.py.j2"},
)
