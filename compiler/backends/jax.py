"""The JAX backend: flax.nnx modules, optax, a jitted pure step over split state."""

from __future__ import annotations

from specc.compiler.backends import (
    ADVERSARIAL_FP16,
    Backend,
    Refusal,
    generator_loop_refusals,
)


BACKEND = Backend(
    refusals=(
        *generator_loop_refusals(ADVERSARIAL_FP16),
        # PyTorch's speed switches (train.compile, train.tf32): every JAX step is jitted, and
        # XLA picks its GPU matmul precision itself
        Refusal(None, ("train", "compile"), "train.compile = true (torch.compile; every JAX step is jitted already)",
                lambda value: value is True),
        Refusal(None, ("train", "tf32"), "train.tf32 = false (a PyTorch switch; XLA picks the GPU matmul precision)",
                lambda value: value is False),
        # the DataLoader's page-locked batches: a PyTorch setting
        Refusal(None, ("data", "pin_memory"), "data.pin_memory = false (a PyTorch DataLoader switch; JAX copies each batch from numpy itself)",
                lambda value: value is False),
    ),
    discriminator_outputs=2,  # the adversarial loop splits them into (logits, features)
    name="jax",
    template="jax/train.py.j2",
    imports=(
        "import jax",
        "import jax.numpy as jnp",
        "import numpy as np",
        "import optax",
        "from flax import nnx",
    ),
    runtime="jax",
    model_imports=("import jax", "import jax.numpy as jnp", "from flax import nnx"),
    module_base="nnx.Module",
    forward_name="__call__",
    module_list="nnx.List",
    call_super_init=False,
    capabilities={
        "precision": frozenset({"fp32", "bf16", "fp16"}),
        "objective": frozenset(
            {
                "classification", "regression", "flow_matching", "mean_flow", "improved_mean_flow",
                "language_model", "adversarial", "vae",
            }
        ),
        "optimizer": frozenset({"adam", "adamw", "sgd", "lion"}),
        "schedule": frozenset({"constant", "warmup_cosine", "warmup_linear", "step", "exponential"}),
        "sampler": frozenset({"euler", "heun", "rk4", "one_step"}),
        "logger": frozenset({"csv", "tensorboard", "mlflow", "wandb"}),
        "callback": frozenset({"progress_bar", "lr_monitor", "grad_norm_monitor", "python"}),
    },
    objective_templates={"adversarial": "jax/adversarial.py.j2", "vae": "jax/adversarial.py.j2"},
)
