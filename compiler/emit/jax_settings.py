"""The configuration block of a JAX script and the optax calls that read it (a part of
:mod:`specc.compiler.emit.jax`).

:class:`Settings` collects the ``name = value  # origin`` lines a script shows: what the spec
set, plus the few values a reader needs. :func:`optimizer_code` writes one optimizer plan as
direct optax calls (the schedule, clipping, weight decay and frozen parameters included),
:func:`clip_code` the gradient clipping transform.
"""

from __future__ import annotations

import re

from specc.compiler.emit.calls import call
from specc.compiler.emit import configuration
from specc.compiler.emit.configuration import ConfigurationBlock, entry, plain
from specc.compiler.emit.filters import identifier, literal


# schedule kind -> the argument defaulting to the optimizer's lr
SCHEDULE_LR = {"constant": "lr", "warmup_cosine": "peak", "warmup_linear": "peak", "step": "initial", "exponential": "initial"}


# the order of each schedule's arguments (the runtime's signature)
SCHEDULE_ORDER = ("lr", "initial", "peak", "warmup", "total", "step_size", "gamma", "decay_rate", "min_ratio", "warmup_from")


# schedule arguments whose configuration name would be ambiguous
SCHEDULE_NAMES = {"total": "schedule_total", "gamma": "schedule_gamma", "lr": "schedule_lr"}


def spec_set(origin: str) -> bool:
    """True for an origin that is a spec line (``specs/x.mf:22``) or ``--set`` (not a
    default, nor a value derived from another: ``= optimizer.lr``)."""
    return origin == "--set" or re.fullmatch(r".+:\d+(:\d+)?", origin or "") is not None


class Settings(ConfigurationBlock):
    """The configuration block being built: ``value`` returns the code of a value (its
    configuration name when the spec set it or it matters to a reader, else a literal)."""

    def __init__(self, program):
        super().__init__()
        self.origins = {item.key: item.origin for item in program.provenance}

    def origin(self, key: str) -> str:
        return self.origins.get(key, "")

    def add(self, group: str, name: str, value, origin: str = "", lines=None) -> str:
        name = identifier(name)
        if name not in self.names:
            self.names.add(name)
            self.groups[group].append(entry(name, value, origin, lines))
        return name

    def value(self, group: str, name: str, value, key: str, always: bool = False) -> str:
        origin = self.origin(key)
        if always or spec_set(origin):
            return self.add(group, name, value, origin or "default")
        return literal(value)

    def mapping(self, group: str, name: str, values: dict, section: str) -> tuple[str | None, list[str]]:
        """A dict of the values of ``section`` the spec set, one key per line: (its name or
        None when the spec set none, the keys)."""
        keys = sorted(key for key in values if spec_set(self.origin(f"{section}.{key}")))
        if not keys:
            return None, []
        lines = [{"key": key, "value": values[key], "origin": self.origin(f"{section}.{key}")} for key in keys]
        return self.add(group, name, {key: values[key] for key in keys}, "", lines), keys


def optimizer_code(
    settings: Settings, plan, prefix: str, key: str, clip: dict, frozen: str | None, total: str, variable: str = "schedule"
) -> dict:
    """The schedule and the optimizer of one optimizer plan as direct calls: zero the frozen
    gradients, clip (specc's global-norm formula, or by value), the optimizer (adam and sgd
    with coupled L2 before the update, adamw decoupled, lion; ``weight_decay_on = matrices``:
    optax's ``mask`` of the rank >= 2 parameters), zero the frozen updates again. ``lr`` of a
    constant schedule is the float itself."""
    kind = plan.optimizer.kind
    arguments = plain(plan.optimizer.arguments)  # every default filled by the checker
    lr = settings.value("optimization", f"{prefix}lr", arguments["lr"], f"{key}.lr", always=True)

    def argument(name: str) -> str:
        return settings.value("optimization", f"{prefix}{name}", arguments[name], f"{key}.{name}")

    schedule_key = key.replace("optimizer", "schedule", 1)
    schedule = plan.schedule
    schedule_kind = schedule.kind if schedule is not None else "constant"
    schedule_arguments = configuration.schedule_arguments(schedule)
    lr_name = SCHEDULE_LR[schedule_kind]
    schedule_values = {}
    for name, value in schedule_arguments.items():
        origin = settings.origin(f"{schedule_key}.{name}")
        if name == lr_name and not spec_set(origin) and value == arguments["lr"]:
            schedule_values[name] = lr
        elif name == "total" and not spec_set(origin):
            schedule_values[name] = total
        else:
            config_name = prefix + SCHEDULE_NAMES.get(name, name)
            schedule_values[name] = settings.value("optimization", config_name, value, f"{schedule_key}.{name}")
    schedule_values.setdefault(lr_name, lr)
    if schedule_kind in ("warmup_cosine", "warmup_linear"):
        schedule_values.setdefault("total", total)
    schedule_values = dict(sorted(schedule_values.items(), key=lambda item: SCHEDULE_ORDER.index(item[0])))
    if schedule_kind == "constant":
        learning_rate, logged = schedule_values["lr"], schedule_values["lr"]
        schedule_line = None
    else:
        learning_rate, logged = variable, f"float({variable}(step - 1))"
        schedule_line = f"{variable} = " + call(f"schedules.{identifier(schedule_kind)}", **schedule_values)

    decay = []
    if kind in ("adam", "adamw", "lion"):
        betas = argument("betas")
        b1, b2 = (f"{betas}[0]", f"{betas}[1]") if betas.isidentifier() else tuple(literal(item) for item in arguments["betas"])
    mask = {"mask": "jax_training.matrix_mask"} if arguments.get("weight_decay_on") == "matrices" else {}  # rank >= 2 only
    if kind == "adamw":
        base = call("optax.adamw", learning_rate, b1=b1, b2=b2, eps=argument("eps"), weight_decay=argument("weight_decay"), **mask)
    elif kind == "lion":
        base = call("optax.lion", learning_rate, b1=b1, b2=b2, weight_decay=argument("weight_decay"), **mask)
    else:
        if arguments["weight_decay"]:
            decay = [call("optax.add_decayed_weights", argument("weight_decay"), **mask)]
        if kind == "adam":
            base = call("optax.adam", learning_rate, b1=b1, b2=b2, eps=argument("eps"))
        else:
            momentum = argument("momentum") if arguments["momentum"] else "None"
            base = call("optax.sgd", learning_rate, momentum=momentum, nesterov=literal(bool(arguments["nesterov"])))
    parts = []
    if frozen:
        parts.append(f"optax.masked(optax.set_to_zero(), {frozen})")
    if clip:
        parts.append(clip["transform"])
    parts += decay + [base]
    if frozen:
        parts.append(f"optax.masked(optax.set_to_zero(), {frozen})")
    optimizer = parts[0] if len(parts) == 1 else "optax.chain(" + ", ".join(parts) + ")"
    return {"schedule": schedule_line, "optimizer": optimizer, "lr": logged, "uses_schedules": schedule_line is not None}


def clip_code(settings: Settings, train) -> dict:
    if train.grad_clip is None:
        return {}
    value = settings.value("training", "grad_clip", train.grad_clip, "train.grad_clip")
    if train.grad_clip_mode == "norm":
        return {"transform": f"jax_training.clip_by_global_norm({value})"}
    return {"transform": f"optax.clip({value})"}
