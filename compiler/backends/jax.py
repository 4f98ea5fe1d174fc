"""The JAX backend: flax.nnx modules, optax, a jitted pure step over split state."""

from __future__ import annotations

from specc.compiler.backends import Backend


def context(program) -> dict:
    """JAX-only template fields: the compute dtype and whether the step scans micro-batches."""
    return {
        "jax": {
            "compute_dtype": {"fp32": "float32", "bf16": "bfloat16"}[program.train.precision],
            "accumulate": program.train.accumulate > 1,
        }
    }


BACKEND = Backend(
    name="jax",
    template="jax/train.py.j2",
    imports=(
        "import jax",
        "import jax.numpy as jnp",
        "import numpy as np",
        "import optax",
        "from flax import nnx",
    ),
    layers_module="specc.runtime.jax.layers",
    module_base="nnx.Module",
    forward_name="__call__",
    module_list="nnx.List",
    call_super_init=False,
    capabilities={
        "precision": frozenset({"fp32", "bf16"}),
        "objective": frozenset(
            {"classification", "regression", "flow_matching", "mean_flow", "improved_mean_flow"}
        ),
        "optimizer": frozenset({"adam", "adamw", "sgd", "lion"}),
        "schedule": frozenset({"constant", "warmup_cosine", "warmup_linear", "step", "exponential"}),
        "sampler": frozenset({"euler", "heun", "rk4", "one_step"}),
        "logger": frozenset({"csv", "tensorboard"}),
    },
    context=context,
)
