"""Trainer-surface values every backend module reads: the parameter penalties
(docs/systems.md gap 19), the frozen models, the callbacks and the optional training
values, each written only when the spec uses it.
"""

from __future__ import annotations

from specc.compiler import ir
from specc.compiler.emit.configuration import plain_arguments
from specc.compiler.emit.filters import EmitError
from specc.runtime.training.checkpoints import CHECKPOINTS
from specc.runtime.training.tree import under_prefix


def penalties(program: ir.Program) -> tuple:
    """``((prefix, weight), ...)`` of ``train.penalties`` with model-relative prefixes
    (``vector_field.pe`` -> ``pe``: the runtime sees the objective's model alone)."""
    if program.train.penalties and len(program.objective.models) > 1:
        raise EmitError(f"penalties: objective {program.objective.kind!r} trains several models")
    model = program.objective.models[0] if program.objective.models else program.models[0].name
    found = []
    for penalty in program.train.penalties:
        arguments = plain_arguments(penalty)
        prefix = arguments["prefix"]
        if prefix.startswith(model + "."):
            prefix = prefix[len(model) + 1 :]
        elif prefix == model:
            prefix = ""
        found.append((prefix, float(arguments["weight"])))
    return tuple(found)


def model_frozen(program, model: str) -> bool:
    """True when a ``train.freeze`` prefix names a parameter of ``model`` (``<model>.<path>``
    or the bare path, as ``jax_training.frozen_masks`` matches them)."""
    graph = next(graph for graph in program.models if graph.name == model)
    return any(
        under_prefix(full, prefix)
        for name, _ in graph.parameters
        for full in (f"{model}.{name}", name)
        for prefix in program.train.freeze
    )


def role_optimizer_plans(program: ir.Program, unnamed: bool = False) -> list[tuple]:
    """``(role, model, plan)`` of each GAN model, generator first: the optimizer plan listing
    the model, else the one named like the role (else, with ``unnamed``, one listing none)."""
    found = []
    for role, model in zip(("generator", "discriminator"), program.objective.models):
        plan = next((plan for plan in program.optimizers if model in plan.models), None)
        plan = plan or next((plan for plan in program.optimizers if plan.name == role), None)
        plan = plan or next(plan for plan in program.optimizers if unnamed and not plan.models)
        found.append((role, model, plan))
    return found


def callback_settings(callbacks) -> dict:
    """What ``(kind, arguments)`` callbacks ask for: the progress display's refresh rate
    (None: no display), the ``lr`` rows' interval (``step``, ``epoch`` or None), whether
    the gradient norm is computed and logged, and the kinds no backend renders."""
    settings = {"progress": None, "lr": None, "grad_norm": False, "unknown": []}
    for kind, arguments in callbacks:
        if kind == "progress_bar":
            settings["progress"] = arguments["refresh_rate"]
        elif kind == "lr_monitor":
            settings["lr"] = arguments["interval"]
        elif kind == "grad_norm_monitor":
            settings["grad_norm"] = True
        else:
            settings["unknown"].append(kind)
    return settings


def program_callbacks(program: ir.Program) -> list[tuple[str, dict]]:
    """``train.callbacks`` as ``(kind, arguments)`` pairs, without the user's (``python``:
    compiler/emit/callbacks.py)."""
    return [(item.kind, plain_arguments(item)) for item in program.train.callbacks if item.kind != "python"]


def optional_training_values(train: ir.TrainPlan, register) -> dict:
    """``accumulate`` (above 1), ``ema``, ``freeze`` and ``warm_start``: the code
    ``register(name, value, key)`` returns for each the spec uses, None for the others."""
    used = {
        "accumulate": train.accumulate if train.accumulate > 1 else None,
        "ema": train.ema,
        "freeze": tuple(train.freeze) if train.freeze else None,
        "warm_start": train.warm_start or None,
    }
    return {name: None if value is None else register(name, value, f"train.{name}") for name, value in used.items()}


def logger_arguments(logger) -> dict:
    """The arguments of a ``train.loggers`` entry that differ from its defaults (the ones a
    hand-writer would pass: ``wandb(project = "x")`` -> ``{"project": "x"}``)."""
    from specc.compiler.vocabulary import registry

    component = registry.lookup("logger", logger.kind)
    defaults = {parameter.name: parameter.default for parameter in (component.params if component else ())}
    written = plain_arguments(logger)
    return {name: value for name, value in sorted(written.items()) if not _is_default(value, defaults.get(name))}


def _is_default(value, default) -> bool:
    """``value`` equals the registry ``default`` (an empty tuple default is any empty value)."""
    return value == default or (default == () and not value)


def limit_keyword(program, configured) -> str:
    """``, limit_batches=<name>`` for the training Loader when the spec sets
    ``train.limit_train_batches`` (``configured(value)`` adds the configuration line and gives
    its name), else nothing."""
    limit = program.train.limit_train_batches
    return "" if limit is None else f", limit_batches={configured(limit)}"


def checkpoint_folder_argument(plan: ir.CheckpointPlan, configured) -> str:
    """The end of the script's ``training.start_run(...)`` call: nothing for the default
    folder, ``, <name>`` for ``train.checkpoint.dirpath`` (``configured(value)`` adds its
    configuration line and gives the name), ``, checkpoint_folder=None`` for ``enable =
    false`` (the run writes no checkpoint)."""
    if not plan.enable:
        return ", checkpoint_folder=None"
    return "" if plan.dirpath == CHECKPOINTS else f", {configured(plan.dirpath)}"


EPOCH_CHECKPOINT_STEPS = "epoch_checkpoint_steps"  # the script's steps between end-of-epoch checkpoints


def checkpoint_intervals(plan: ir.CheckpointPlan, every_code: str | None) -> list[str]:
    """The codes of the step intervals a checkpoint is saved at (``step % <code> == 0``):
    the end of every ``every_n_epochs`` epochs (the script's ``epoch_checkpoint_steps``)
    and every ``every`` steps (``every_code``); both when both are set."""
    intervals = [EPOCH_CHECKPOINT_STEPS] if plan.every_n_epochs is not None else []
    return intervals + ([every_code] if plan.every is not None and every_code else [])


def checkpoint_values(plan: ir.CheckpointPlan, value) -> dict:
    """The checkpoint fields of the JAX and Lightning views, each the code of a value
    (``value(group, name, value, key, always=False)``: its configuration name or literal),
    in the configuration block's order: ``every_n_epochs`` and ``checkpoint_every`` (None
    when unset), ``save_every`` (:func:`checkpoint_intervals`), ``keep``, ``monitor``,
    ``mode``, ``filename`` (None: step-000123), ``checkpointing`` (``enable``), ``folder``
    (:func:`checkpoint_folder_argument`) and ``last_pointer`` (``last``: False keeps no ``last`` link)."""
    key = "train.checkpoint."
    fields = {"every_n_epochs": None, "checkpoint_every": None, "filename": None, "checkpointing": plan.enable}
    fields["last_pointer"] = plan.last
    if plan.every_n_epochs is not None:
        fields["every_n_epochs"] = value("checkpoints", "checkpoint_every_n_epochs", plan.every_n_epochs, key + "every_n_epochs", always=True)
    if plan.every is not None:
        fields["checkpoint_every"] = value("checkpoints", "checkpoint_every", plan.every, key + "every")
    fields["save_every"] = checkpoint_intervals(plan, fields["checkpoint_every"])
    for name in ("keep", "monitor", "mode"):
        fields[name] = value("checkpoints", f"checkpoint_{name}", getattr(plan, name), key + name)
    if plan.filename is not None:
        fields["filename"] = value("checkpoints", "checkpoint_filename", plan.filename, key + "filename", always=True)
    fields["folder"] = checkpoint_folder_argument(
        plan, lambda path: value("checkpoints", "checkpoint_dirpath", path, key + "dirpath", always=True)
    )
    return fields
