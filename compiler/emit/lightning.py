"""The lightning backend's own template fields (the emitter half of its backend table,
``specc.compiler.backends.lightning``)."""

from __future__ import annotations



from specc.compiler.emit.filters import EmitError

# objective -> (train option, predicate "is it in use", why) the objective's loop refuses
UNSUPPORTED_OPTIONS = {
    "adversarial": (
        ("ema", lambda train: train.ema is not None, "EMA of weights"),
        ("accumulate", lambda train: train.accumulate > 1, "gradient accumulation"),
        ("precision", lambda train: train.precision == "fp16", "fp16 (gradient scaling with two optimizers)"),
    ),
}


def context(program) -> dict:
    """No extra template fields; refuses options the objective's loop does not implement."""
    for option, used, what in UNSUPPORTED_OPTIONS.get(program.objective.kind, ()):
        if used(program.train):
            raise EmitError(
                f"train.{option}: {what} is not implemented for objective "
                f"{program.objective.kind} by the lightning backend yet"
            )
    return {}
