"""fp16 training for JAX: dynamic loss scaling inside the jitted step.

The formulas are ``specc.runtime.composites.precision`` (torch's ``GradScaler``: scale
``s = 2^16`` at the start, ``g = grad(s * loss) / s``, a step with a non-finite ``g`` skipped
and ``s <- s / 2``, ``s <- 2 s`` after 2000 finite steps in a row) over ``jax.numpy``. The
parameters stay float32 (master weights); the step casts them and the batch to float16 for
the forward and backward pass (``training.cast_floating``), as bf16 does.

Usage in a step (all pure, so ``jax.jit`` traces them)::

    (loss, aux), grads = jax.value_and_grad(lambda p: precision.scaled_loss(scaler, f(p)), has_aux=True)(params)
    grads, finite = precision.unscale(scaler, grads)
    params, opt_state = precision.keep_if_finite(finite, (new_params, new_opt_state), (params, opt_state))
    scaler = precision.update(scaler, finite)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from specc.runtime.composites import precision as composite
from specc.runtime.jax import ops

__all__ = ["initial_state", "keep_if_finite", "logged", "scaled_loss", "unscale", "update"]

INITIAL_SCALE = composite.INITIAL_SCALE
GROWTH_INTERVAL = composite.GROWTH_INTERVAL


def initial_state(scale: float = INITIAL_SCALE) -> dict:
    """``{"scale": s, "good_steps": 0, "skipped": 0}`` as device scalars."""
    return {
        "scale": jnp.asarray(scale, jnp.float32),
        "good_steps": jnp.asarray(0, jnp.int32),
        "skipped": jnp.asarray(0, jnp.int32),
    }


def scaled_loss(state: dict, loss):
    """``s * loss`` in float32."""
    return composite.scaled_loss(state, loss.astype(jnp.float32))


def unscale(state: dict, gradients):
    """``(g / s, finite)``: the float32 gradients unscaled and whether every one is finite."""
    gradients = composite.unscaled(jax.tree_util.tree_map, state, gradients)
    leaves = jax.tree_util.tree_leaves(gradients)
    finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(leaf)) for leaf in leaves])) if leaves else jnp.asarray(True)
    return gradients, finite


def keep_if_finite(finite, updated, previous):
    """``updated`` (any pytree) when ``finite``, else ``previous``: a skipped step."""
    return composite.kept_where(ops, jax.tree_util.tree_map, finite, updated, previous)


def update(state: dict, finite, growth_interval: int = GROWTH_INTERVAL) -> dict:
    """The scaler's next state (halved on an overflow, doubled after ``growth_interval``
    finite steps)."""
    return composite.next_state(ops, state, finite, growth_interval)


def logged(state: dict) -> dict:
    """``{"loss_scale": s, "skipped_steps": n}`` as Python numbers (one host read, at log steps)."""
    scale, skipped = jax.device_get((state["scale"], state["skipped"]))
    return {"loss_scale": float(np.asarray(scale)), "skipped_steps": float(np.asarray(skipped))}
