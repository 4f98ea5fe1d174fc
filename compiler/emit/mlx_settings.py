"""The configuration block of an MLX script and the optimizer and schedule calls that read
it (a part of :mod:`specc.compiler.emit.mlx`).

:class:`Config` collects the ``name = value  # origin`` lines a script shows: what the spec
set, plus the few values a reader needs. :func:`optimizer_call` and :func:`schedule_call`
write one optimizer plan as direct calls (``optim.AdamW(...)``, ``schedules.<kind>(...)``),
each argument its configuration name when the spec set it, else a literal.
"""

from __future__ import annotations

from specc.compiler.emit.calls import call
from specc.compiler.emit import configuration
from specc.compiler.emit.configuration import ConfigurationBlock, plain
from specc.compiler.emit.filters import identifier, literal


# optimizer kind -> its optimizer under weight_decay_on = matrices (decay on rank >= 2 only)
MATRIX_DECAY = {"adam": "mlx_training.MatrixDecayAdam", "adamw": "mlx_training.MatrixDecayAdamW",
                "sgd": "mlx_training.MatrixDecaySGD", "lion": "mlx_training.MatrixDecayLion"}


def is_set(origin: str) -> bool:
    """A value the spec (or ``--set``) wrote: not a default, not derived from another value."""
    return origin != "default" and not origin.startswith("=")


class Config(ConfigurationBlock):
    """The configuration block: groups of ``name = code  # origin`` lines, each name unique."""

    def __init__(self, origin):
        super().__init__()
        self.origin = origin

    def add(self, group: str, name: str, value, key: str = "", code: str | None = None, prefix: str = "") -> str:
        """Add ``name = value`` (``prefix_name`` when the name is taken); returns the name."""
        name = identifier(name)
        if name in self.names:
            name = identifier(f"{prefix}_{name}" if prefix else f"{group}_{name}")
        self.names.add(name)
        origin = self.origin(key) if key else ""
        self.groups.setdefault(group, []).append(
            {"name": name, "code": literal(value) if code is None else code, "origin": "" if origin in ("", "default") else origin}
        )
        return name

    def add_dict(self, group: str, name: str, values: dict, section: str) -> str:
        """A dict written one key per line, each with its spec origin."""
        name = identifier(name)
        self.names.add(name)
        lines = [{"key": literal(key), "code": literal(values[key]), "origin": self.origin(f"{section}.{key}")} for key in sorted(values)]
        self.groups.setdefault(group, []).append({"name": name, "lines": lines, "origin": ""})
        return name

    def argument(self, group: str, key: str, value, origin_key: str, prefix: str = "") -> str:
        """The code passing one argument: its config name when the spec set it, else the literal."""
        if is_set(self.origin(origin_key)):
            return self.add(group, key, value, origin_key, prefix=prefix)
        return literal(value)


def optimizer_call(plan, config: Config, group: str, total: str, prefix: str = "") -> dict:
    """``{"schedule", "optimizer", "lr", "learning_rate"}`` of one optimizer plan as direct calls
    (``schedules.<kind>(...)``, ``optim.<Kind>(...)``): bias correction on, Adam's weight decay
    coupled as in torch, ``weight_decay_on = matrices`` by the ``MATRIX_DECAY`` optimizers."""
    kind = plan.optimizer.kind
    section = "optimizer" if not plan.name else f"optimizer.{plan.name}"
    arguments = dict(plain(plan.optimizer.arguments))  # every default filled by the checker
    lr = config.add(group, f"{prefix}_lr" if prefix else "lr", arguments.pop("lr"), f"{section}.lr")
    matrices = arguments.pop("weight_decay_on", "all") == "matrices"
    if kind == "adam" and not arguments.get("weight_decay") and not matrices:
        arguments.pop("weight_decay", None)
    values = {key: list(value) if key == "betas" else value for key, value in sorted(arguments.items())}
    keywords = {key: config.argument(group, f"{prefix}_{key}" if prefix else key, value, f"{section}.{key}") for key, value in values.items()}
    schedule, learning_rate = schedule_call(plan, config, group, total, lr, prefix)
    if matrices:
        optimizer = call(MATRIX_DECAY[kind], learning_rate, **keywords)
    elif kind == "adam" and "weight_decay" in keywords:  # torch's coupled L2 decay: g <- g + wd * p before the moments
        optimizer = call("mlx_training.CoupledAdam", learning_rate, keywords["betas"], keywords["eps"], keywords["weight_decay"])
    elif kind in ("adam", "adamw"):
        optimizer = call("optim.Adam" if kind == "adam" else "optim.AdamW", learning_rate, **keywords, bias_correction="True")
    elif kind == "sgd":
        optimizer = call("optim.SGD", learning_rate, **keywords, dampening="0.0")
    else:
        optimizer = call("optim.Lion", learning_rate, **keywords)
    return {"schedule": schedule, "optimizer": optimizer, "lr": lr, "learning_rate": learning_rate}


def schedule_call(plan, config: Config, group: str, total: str, lr: str, prefix: str) -> tuple[str, str]:
    """(``schedules.<kind>(...)`` or "", the optimizer's learning_rate argument). The peak /
    initial value defaults to the optimizer's lr, ``total`` to the run's total steps."""
    section = "schedule" if not plan.name else f"schedule.{plan.name}"
    schedule = plan.schedule
    arguments = configuration.schedule_arguments(schedule)
    if schedule is None or schedule.kind == "constant":
        value = arguments.get("lr")
        if value is not None and is_set(config.origin(f"{section}.lr")):
            return "", config.add(group, "constant_lr", value, f"{section}.lr", prefix=prefix or "schedule")
        return "", lr
    keywords = {}
    for key in SCHEDULE_PEAK[schedule.kind]:
        value = arguments.pop(key, None)
        set_here = value is not None and is_set(config.origin(f"{section}.{key}"))
        keywords[key] = config.add(group, key, value, f"{section}.{key}", prefix=prefix or "schedule") if set_here else lr
    for key in sorted(arguments):
        value = arguments[key]
        if key == "total" and (value is None or not is_set(config.origin(f"{section}.total"))):
            keywords[key] = total
            continue
        name = f"{prefix}_{key}" if prefix else key
        keywords[key] = config.argument(group, name, value, f"{section}.{key}", prefix=prefix or "schedule")
    if schedule.kind in SCHEDULE_TOTAL and "total" not in keywords:
        keywords["total"] = total
    name = f"{prefix}_schedule" if prefix else "schedule"
    return call(f"schedules.{identifier(schedule.kind)}", **keywords), name


SCHEDULE_PEAK = {"warmup_cosine": ("peak",), "warmup_linear": ("peak",), "step": ("initial",), "exponential": ("initial",)}


SCHEDULE_TOTAL = frozenset({"warmup_cosine", "warmup_linear"})
