"""The configuration block of a Lightning script and the optimizer and schedule calls that
read it (a part of :mod:`specc.compiler.emit.lightning`).

:class:`Settings` collects the ``name = value  # origin`` lines a script shows: what the spec
set, plus the few values a reader needs. :func:`optimizer_view` writes one optimizer plan as a
direct ``torch.optim`` constructor call and its schedule as a ``LambdaLR`` over the runtime's
schedule function; :func:`without_defaults` drops the keyword arguments equal to a
function's defaults.
"""

from __future__ import annotations

import importlib
import inspect

from specc.compiler.emit.calls import code_keywords
from specc.compiler.emit import configuration
from specc.compiler.emit.configuration import ConfigurationBlock, entry, plain, provenance_lookup
from specc.compiler.emit.filters import EmitError, identifier, literal


# optimizer kind -> (the class the script builds, its keyword arguments in order, defaults)
OPTIMIZERS = {
    "adam": ("torch.optim.Adam", (("betas", (0.9, 0.999)), ("eps", 1e-8), ("weight_decay", 0.0))),
    "adamw": ("torch.optim.AdamW", (("betas", (0.9, 0.999)), ("eps", 1e-8), ("weight_decay", 0.01))),
    "sgd": (
        "torch.optim.SGD",
        (("momentum", 0.0), ("dampening", 0.0), ("nesterov", False), ("weight_decay", 0.0)),
    ),
    "lion": ("torch_training.Lion", (("betas", (0.9, 0.99)), ("weight_decay", 0.0))),
}

# the optimizers torch updates with one fused kernel over every parameter (``fused=True``, CPU
# and CUDA): on the digits MLP's CPU step Adam took 64 us instead of 176 us for torch's default
# loop over the parameters, and moved the weights by under 1e-6 from it in 5100 steps
# (docs/performance.md). Not with mixed precision and gradient clipping together: a fused
# optimizer unscales the gradients inside its step, after Lightning would have clipped them,
# so Lightning refuses that pair (:func:`fused`).
FUSED = frozenset({"adam", "adamw", "sgd"})


def fused(program, kind: str) -> bool:
    """Whether the script builds optimizer ``kind`` with ``fused=True`` (see ``FUSED``)."""
    train = program.train
    return kind in FUSED and (train.precision == "fp32" or train.grad_clip is None)


def clips_by_logged_norm(program, manual_clip: bool, logs_norm: bool) -> bool:
    """Whether the script clips the gradients itself in ``on_before_optimizer_step``, with the
    norm it logs there (``torch.nn.utils.clip_grads_with_norm_``), instead of giving
    ``gradient_clip_val`` to the Trainer, whose clipping would compute the same norm again: a
    second pass over every gradient each step. Only for norm clipping of the automatic loop
    (the generator loop clips each optimizer itself), and not with sharded parameters (a
    rank holds part of every gradient: its local norm is not the one to clip by, and the
    Trainer's strategy clips there)."""
    train = program.train
    return (
        logs_norm
        and not manual_clip
        and train.grad_clip is not None
        and train.grad_clip_mode == "norm"
        and train.parallel != "sharded"
    )


# schedule kind -> its arguments in the order of ``specc.runtime.torch.schedules.<kind>``
SCHEDULES = {
    "warmup_cosine": ("peak", "warmup", "total", "min_ratio", "warmup_from"),
    "warmup_linear": ("peak", "warmup", "total", "warmup_from"),
    "step": ("initial", "step_size", "gamma"),
    "exponential": ("initial", "decay_rate"),
}


def spec_set(origin: str) -> bool:
    """A value the spec (or ``--set``) wrote, not a default nor a value derived from another."""
    return bool(origin) and origin != "default" and not origin.startswith("=")


class Settings(ConfigurationBlock):
    """The configuration block being built: :meth:`value` returns the code naming a value,
    the configuration variable when the spec set it (or it is one a reader looks for
    first), its literal otherwise."""

    def __init__(self, program):
        super().__init__()
        self.origin = provenance_lookup(program)
        self.keys: dict[str, str] = {}  # configuration name -> the spec key it holds

    def add(self, group: str, name: str, value, origin: str = "", lines=None) -> str:
        if name not in self.names:
            self.names.add(name)
            self.groups[group].append(entry(name, value, origin if spec_set(origin) else "", lines))
        return identifier(name)

    def value(self, group: str, name: str, value, key: str, always: bool = False) -> str:
        origin = self.origin(key)
        if always or spec_set(origin):
            if name in self.keys and self.keys[name] != key:  # another value has the name
                name = key.replace(".", "_")
            self.keys[name] = key
            return self.add(group, name, value, origin)
        return literal(value)


def same(value, default) -> bool:
    """``value`` is ``default`` (numbers compare by value, never a bool with a number)."""
    if isinstance(value, bool) or isinstance(default, bool):
        return isinstance(value, bool) and isinstance(default, bool) and value == default
    if isinstance(value, (list, tuple)) and isinstance(default, (list, tuple)):
        return tuple(value) == tuple(default)
    if isinstance(value, (int, float)) and isinstance(default, (int, float)):
        return float(value) == float(default)
    return type(value) is type(default) and value == default


def without_defaults(settings: Settings, module: str, function: str, items) -> list[tuple[str, str]]:
    """(name, code) of the keyword arguments of ``specc.runtime.composites.<module>.<function>``
    to write: a literal equal to the runtime's own default is left out (a configured value,
    which the reader may change, is kept). ``items``: (name, code, value)."""
    signature = inspect.signature(getattr(importlib.import_module(f"specc.runtime.composites.{module}"), function))
    kept = []
    for name, code, value in items:
        parameter = signature.parameters.get(name)
        if code not in settings.names and parameter is not None and same(value, parameter.default):
            continue
        kept.append((name, code))
    return kept


def optimizer_view(program, plan, settings: Settings, prefix: str, total: str) -> dict:
    """One optimizer as a direct constructor call and its schedule as a ``LambdaLR`` over the
    runtime's schedule function with literal arguments (``None``: constant, no scheduler)."""
    kind = plan.optimizer.kind
    if kind not in OPTIMIZERS:
        raise EmitError(f"optimizer {kind!r} has no lightning rendering")
    function, defaults = OPTIMIZERS[kind]
    arguments = plain(plan.optimizer.arguments) or {}
    key = "optimizer" if not plan.name else f"optimizer.{plan.name}"
    lr = settings.value("optimization", f"{prefix}lr", arguments["lr"], f"{key}.lr", always=True)
    pairs = [("lr", lr)]
    for name, default in defaults:
        value = arguments.get(name, default)
        value = tuple(value) if isinstance(value, list) else value
        pairs.append((name, settings.value("optimization", f"{prefix}{name}", value, f"{key}.{name}")))
    if fused(program, kind):
        pairs.append(("fused", "True"))
    matrices = arguments.get("weight_decay_on") == "matrices"  # decay the rank >= 2 parameters only
    parameters = "torch_training.matrix_decay_groups({parameters})" if matrices else "{parameters}"
    view = {"call": f"{function}({parameters}, {code_keywords(pairs)})", "lr": lr, "schedule": None}
    schedule = plan.schedule
    if schedule is not None and schedule.kind != "constant":
        if schedule.kind not in SCHEDULES:
            raise EmitError(f"schedule {schedule.kind!r} has no lightning rendering")
        schedule_key = "schedule" if not plan.name else f"schedule.{plan.name}"
        values = configuration.schedule_arguments(schedule)
        pairs = []
        for name in SCHEDULES[schedule.kind]:
            origin = settings.origin(f"{schedule_key}.{name}")
            value = values.get(name)
            if name in ("peak", "initial") and not spec_set(origin):
                code = lr  # the optimizer's lr
            elif name == "total" and not spec_set(origin):
                code = total  # the run's steps
            elif value is None:
                continue  # the runtime's default
            else:
                code = settings.value("optimization", f"{prefix}{name}", value, f"{schedule_key}.{name}")
            pairs.append((name, code))
        view["schedule"] = f"schedules.{identifier(schedule.kind)}({code_keywords(pairs)})"
    return view
