"""fp16 training for MLX: dynamic loss scaling inside the compiled step.

The formulas are ``specc.runtime.composites.precision`` (torch's ``GradScaler``: scale
``s = 2^16`` at the start, ``g = grad(s * loss) / s``, a step with a non-finite ``g`` skipped
and ``s <- s / 2``, ``s <- 2 s`` after 2000 finite steps in a row) over ``mlx.core``, with
the same names as ``specc.runtime.jax.precision``. The parameters stay float32 (master
weights); ``training.mixed_precision`` casts them and the batch to float16 for the forward
and backward pass. The state is a dict of three scalars updated in place, so
``training.make_train_step(..., scaler=state)`` captures it in its ``mx.compile``.
"""

from __future__ import annotations

import mlx.core as mx
import numpy as np
from mlx.utils import tree_flatten, tree_map
from specc.runtime.composites import precision as composite
from specc.runtime.mlx import ops
from specc.runtime.training import failures

__all__ = [
    "initial_state",
    "keep_if_finite",
    "load_arrays",
    "logged",
    "scaled_loss",
    "state_arrays",
    "unscale",
    "update",
    "update_if_finite",
]

INITIAL_SCALE = composite.INITIAL_SCALE
GROWTH_INTERVAL = composite.GROWTH_INTERVAL


def initial_state(scale: float = INITIAL_SCALE) -> dict:
    """``{"scale": s, "good_steps": 0, "skipped": 0}`` as device scalars."""
    return {
        "scale": mx.array(scale, dtype=mx.float32),
        "good_steps": mx.array(0, dtype=mx.int32),
        "skipped": mx.array(0, dtype=mx.int32),
    }


def scaled_loss(state: dict, loss):
    """``s * loss`` in float32."""
    return composite.scaled_loss(state, loss.astype(mx.float32))


def unscale(state: dict, gradients):
    """``(g / s, finite)``: the float32 gradients unscaled and whether every one is finite."""
    gradients = composite.unscaled(tree_map, state, gradients)
    leaves = [leaf for _, leaf in tree_flatten(gradients)]
    finite = mx.array(True)
    for leaf in leaves:
        finite = mx.logical_and(finite, mx.all(mx.isfinite(leaf)))
    return gradients, finite


def keep_if_finite(finite, updated, previous):
    """``updated`` (any tree) when ``finite``, else ``previous``: a skipped step."""
    return composite.kept_where(ops, tree_map, finite, updated, previous)


def update(state: dict, finite, growth_interval: int = GROWTH_INTERVAL) -> dict:
    """The scaler's next state (halved on an overflow, doubled after ``growth_interval``
    finite steps)."""
    return composite.next_state(ops, state, finite, growth_interval)


def update_if_finite(model, optimizer, gradients, finite, state: dict) -> None:
    """``optimizer.update(model, gradients)`` kept only when ``finite`` (the parameters and
    the optimizer state, its step counter included, unchanged otherwise); ``state`` (the
    scaler) updated in place. Inside a compiled step: no host synchronisation."""
    parameters = model.trainable_parameters()
    optimizer_state = tree_map(lambda value: value, optimizer.state)  # a copy of the containers
    optimizer.update(model, gradients)
    model.update(keep_if_finite(finite, model.trainable_parameters(), parameters))
    for key in list(optimizer.state):
        optimizer.state[key] = keep_if_finite(finite, optimizer.state[key], optimizer_state[key])
    state.update(update(state, finite))


def logged(state: dict) -> dict:
    """``{"loss_scale": s, "skipped_steps": n}`` as Python numbers (one host read, at log steps)."""
    return {"loss_scale": float(state["scale"].item()), "skipped_steps": float(state["skipped"].item())}


def state_arrays(state: dict, prefix: str = "scaler.") -> dict[str, np.ndarray]:
    """The scaler as flat ``prefix + name -> numpy array`` for a checkpoint."""
    return {prefix + name: np.array(state[name]) for name in composite.STATE_NAMES}


def load_arrays(state: dict, arrays: dict) -> None:
    """``state_arrays`` output (prefix removed) back into ``state``, in place;
    ``CheckpointMismatch`` (a ``ValueError``) when a scalar is missing."""
    missing = [name for name in composite.STATE_NAMES if name not in arrays]
    if missing:
        raise failures.mismatch(arrays, ValueError(f"the loss scale lacks {missing[0]!r} (precision fp16)"))
    for name in composite.STATE_NAMES:
        state[name] = mx.array(np.asarray(arrays[name]), dtype=state[name].dtype)
