"""Trainer-surface views of the emitter (docs/systems.md gaps 10 and 19): epoch-based
intervals (``val_check_interval``, checkpoint ``every_n_epochs`` and ``filename``) and
parameter penalties, as configuration entries and as the small pieces of code the
templates paste. Entries are written only when their key is set, so scripts of specs that
do not use these keys are unchanged.
"""

from __future__ import annotations

from specc.compiler import ir
from specc.compiler.emit.filters import EmitError


def _entry(name: str, value, origin: str) -> dict:
    from specc.compiler.emit.render import entry

    return entry(name, value, origin)


def _plain(value):
    from specc.compiler.emit.render import plain

    return plain(value)


def epoch_entries(train: ir.TrainPlan, origin) -> list[dict]:
    """``val_check_interval``, written only when set."""
    if train.val_check_interval is None:
        return []
    return [_entry("val_check_interval", train.val_check_interval, origin("train.val_check_interval"))]


def penalties(program: ir.Program) -> tuple:
    """``((prefix, weight), ...)`` of ``train.penalties`` with model-relative prefixes
    (``vector_field.pe`` -> ``pe``: the runtime sees the objective's model alone)."""
    if program.train.penalties and len(program.objective.models) > 1:
        raise EmitError(f"penalties: objective {program.objective.kind!r} trains several models")
    model = program.objective.models[0] if program.objective.models else program.models[0].name
    found = []
    for penalty in program.train.penalties:
        arguments = _plain(penalty.arguments) or {}
        prefix = arguments["prefix"]
        if prefix.startswith(model + "."):
            prefix = prefix[len(model) + 1 :]
        elif prefix == model:
            prefix = ""
        found.append((prefix, float(arguments["weight"])))
    return tuple(found)


def penalty_entries(program: ir.Program, origin) -> list[dict]:
    """``penalties``, written only when set (gap 19)."""
    found = penalties(program)
    return [_entry("penalties", found, origin("train.penalties"))] if found else []


def interval_view(train: ir.TrainPlan) -> dict:
    """Epoch-based intervals as code of the generated loop (docs/language.md "train").

    ``setup``: lines run once ``steps_per_epoch`` is known, turning ``val_check_interval``
    (a fraction of an epoch) and ``every_n_epochs`` into steps; ``evaluation_due``: the
    condition of an evaluation at ``step`` (JAX, MLX); ``lightning_validation``: the
    Trainer's ``val_check_interval`` and ``check_val_every_n_epoch`` (counted in batches,
    within each epoch when the latter is 1); ``checkpoint_filename``: the extra argument
    of ``write_checkpoint``.
    """
    setup, due = [], "eval_every and step % eval_every == 0"
    validation = ("(eval_every or stop_step) * accumulate", "None")
    if train.val_check_interval is not None:
        setup.append("eval_every = training.fraction_steps(val_check_interval, steps_per_epoch)")
        due = "training.due_in_epoch(step, eval_every, steps_per_epoch)"
        validation = ("eval_every * accumulate", "1")
    if train.checkpoint.every_n_epochs is not None:
        setup.append("checkpoint_every = checkpoint_every_n_epochs * steps_per_epoch")
    return {
        "setup": setup,
        "evaluation_due": due,
        "lightning_validation": validation,
        "checkpoint_filename": ", checkpoint_filename" if train.checkpoint.filename is not None else "",
        "filename": train.checkpoint.filename is not None,
    }
