"""Dynamic loss scaling for fp16 training, written once over a backend's ``ops``: the scheme
of ``torch.amp.GradScaler`` (and so of Lightning's ``16-mixed``), with its defaults.

fp16 has 5 exponent bits: gradients below ~6e-8 flush to zero. The loss is multiplied by a
scale ``s`` before the backward pass, so the fp16 intermediate gradients are ``s`` times
larger, and the float32 gradients of the master parameters are divided by ``s`` again:

    g = grad(s * loss) / s

When any ``g`` is not finite (an fp16 overflow somewhere in the backward pass), the update
is skipped (parameters and optimizer state unchanged) and the scale halves:

    s <- s * backoff_factor,  good <- 0,  skipped <- skipped + 1

After ``growth_interval`` finite steps in a row the scale doubles:

    good <- good + 1;  if good == growth_interval: s <- s * growth_factor, good <- 0

The state is three scalars (``scale`` float32, ``good_steps`` and ``skipped`` int32) that
the jitted / compiled step carries and the checkpoints save, so ``--resume`` continues with
the saved scale. These functions are pure: each backend's ``precision`` module binds them.
"""

from __future__ import annotations

INITIAL_SCALE = 2.0**16  # torch.amp.GradScaler(init_scale=65536.0)
GROWTH_FACTOR = 2.0
BACKOFF_FACTOR = 0.5
GROWTH_INTERVAL = 2000  # torch.amp.GradScaler(growth_interval=2000)
STATE_NAMES = ("scale", "good_steps", "skipped")


def next_state(ops, state: dict, finite, growth_interval: int = GROWTH_INTERVAL) -> dict:
    """The scaler's state after a step whose unscaled gradients were all finite (``finite``
    true) or not (the formulas in the module docstring); ``state``: ``{"scale",
    "good_steps", "skipped"}`` arrays."""
    scale, good, skipped = state["scale"], state["good_steps"], state["skipped"]
    counted = good + 1
    grow = counted >= growth_interval
    kept_scale = ops.where(grow, scale * GROWTH_FACTOR, scale)
    return {
        "scale": ops.where(finite, kept_scale, scale * BACKOFF_FACTOR),
        "good_steps": ops.where(finite, ops.where(grow, ops.zeros_like(good), counted), ops.zeros_like(good)),
        "skipped": ops.where(finite, skipped, skipped + 1),
    }


def scaled_loss(state: dict, loss):
    """``s * loss`` in float32 (the loss the backward pass differentiates)."""
    return loss * state["scale"]


def unscaled(tree_map, state: dict, gradients):
    """``g / s`` for every gradient leaf (float32 master gradients)."""
    inverse = 1.0 / state["scale"]
    return tree_map(lambda gradient: gradient * inverse.astype(gradient.dtype), gradients)


def kept_where(ops, tree_map, finite, updated, previous):
    """``updated`` where ``finite``, else ``previous``, leaf by leaf (a skipped step leaves
    parameters and optimizer state as they were)."""
    return tree_map(lambda new, old: ops.where(finite, new, old), updated, previous)
