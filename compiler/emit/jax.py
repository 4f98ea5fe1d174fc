"""The jax backend's own template fields (the emitter half of its backend table,
``specc.compiler.backends.jax``).

Every compile-time decision becomes code here: the optimizer and the schedule as direct
calls with literal arguments, the loss and the metrics as direct calls, the configuration
block as the values the spec set (each with its origin) plus the few a reader needs. The
templates (``templates/jax/``) print these strings; spec values reach them only through
:func:`~specc.compiler.emit.filters.literal` and :func:`~specc.compiler.emit.filters.identifier`.
"""

from __future__ import annotations

import inspect
import re

from specc.compiler.emit.filters import EmitError, identifier, literal
from specc.runtime.data import LOADER_KEYS, SOURCES
from specc.runtime.data.loader import LOADER_OPTIONS

# objective kind -> the values every training step adds up and logs (besides lr and
# steps_per_s); objectives not listed log these two
TRAIN_VALUES = {
    "flow_matching": ["loss", "grad_norm", "mse"],
    "mean_flow": ["loss", "grad_norm", "mse"],
    "improved_mean_flow": ["loss", "grad_norm", "mse"],
}
DEFAULT_TRAIN_VALUES = ["loss", "grad_norm"]
# the registry's optimizer defaults (optax's own differ), as runtime/jax/training.py had them
OPTIMIZER_DEFAULTS = {
    "adam": {"betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0},
    "adamw": {"betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.01},
    "sgd": {"momentum": 0.0, "nesterov": False, "weight_decay": 0.0},
    "lion": {"betas": (0.9, 0.99), "weight_decay": 0.0},
}
# schedule kind -> the argument defaulting to the optimizer's lr
SCHEDULE_LR = {"constant": "lr", "warmup_cosine": "peak", "warmup_linear": "peak", "step": "initial", "exponential": "initial"}
# the order of each schedule's arguments (the runtime's signature)
SCHEDULE_ORDER = ("lr", "initial", "peak", "warmup", "total", "step_size", "gamma", "decay_rate", "min_ratio")
# schedule arguments whose configuration name would be ambiguous
SCHEDULE_NAMES = {"total": "schedule_total", "gamma": "schedule_gamma", "lr": "schedule_lr"}
GROUPS = ("data", "objective", "optimization", "training", "checkpoints", "evaluation")


def spec_set(origin: str) -> bool:
    """True for an origin that is a spec line (``specs/x.mf:22``) or ``--set`` (not a
    default, nor a value derived from another: ``= optimizer.lr``)."""
    return origin == "--set" or re.fullmatch(r".+:\d+(:\d+)?", origin or "") is not None


class Settings:
    """The configuration block being built: ``value`` returns the code of a value (its
    configuration name when the spec set it or it matters to a reader, else a literal)."""

    def __init__(self, program):
        self.origins = {item.key: item.origin for item in program.provenance}
        self.groups = {title: [] for title in GROUPS}
        self.names = set()

    def origin(self, key: str) -> str:
        return self.origins.get(key, "")

    def add(self, group: str, name: str, value, origin: str = "", lines=None) -> str:
        name = identifier(name)
        if name not in self.names:
            self.names.add(name)
            self.groups[group].append({"name": name, "value": value, "origin": origin, "lines": lines})
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

    def result(self) -> list[dict]:
        return [{"title": title, "entries": entries} for title, entries in self.groups.items() if entries]


def keywords(arguments: dict) -> str:
    """``name=literal, ...`` (``", "``-prefixed; empty for no arguments)."""
    return "".join(f", {identifier(name)}={literal(value)}" for name, value in arguments.items())


def call(function: str, *arguments: str, **named: str) -> str:
    parts = list(arguments) + [f"{identifier(name)}={value}" for name, value in named.items()]
    return f"{function}({', '.join(parts)})"


# ----------------------------------------------------------------------------- values


def train_values(program) -> list[str]:
    """Names summed over the steps between two log lines: the objective's loss values then
    the gradient norms (language_model: ``loss``, ``cross_entropy``, one per expected-value
    term, ``grad_norm``; adversarial: the generator's values then the discriminator's)."""
    from specc.compiler.emit.objectives import adversarial_view, language_model_view

    kind = program.objective.kind
    if kind == "language_model":
        inputs = {"inputs": [name for name, _ in program.objective.inputs]}
        return language_model_view(program, inputs)["values"] + ["grad_norm"]
    if kind == "adversarial":
        models = {graph.name: {"inputs": [name for name, _ in graph.inputs]} for graph in program.models}
        view = adversarial_view(program, models)
        return view["generator_values"] + view["discriminator_values"]
    values = list(TRAIN_VALUES.get(kind, DEFAULT_TRAIN_VALUES))
    return values + ["penalty"] if program.train.penalties else values  # train.penalties: their weighted sum


def callbacks(program) -> dict:
    """What ``train.callbacks`` asks for: the progress display's refresh rate (None: no
    display), the ``lr`` rows' interval (``step``, ``epoch`` or None) and whether the
    gradient norm is computed and logged."""
    from specc.compiler.emit.render import plain

    found = {item.kind: plain(item.arguments) or {} for item in program.train.callbacks}
    progress = found.get("progress_bar")
    monitor = found.get("lr_monitor")
    return {
        "progress": None if progress is None else int(progress.get("refresh_rate", 10)),
        "lr": None if monitor is None else monitor.get("interval", "step"),
        "grad_norm": "grad_norm_monitor" in found,
    }


# ----------------------------------------------------------------------------- optimization


def optimizer_code(
    settings: Settings, plan, prefix: str, key: str, clip: dict, frozen: str | None, total: str, variable: str = "schedule"
) -> dict:
    """The schedule and the optimizer of one optimizer plan as direct calls.

    Reproduces what ``make_schedule`` / ``make_optimizer`` built at run time: zero the
    frozen gradients, clip (specc's global-norm formula, or by value), the optimizer (adam
    and sgd with coupled L2 before the update, adamw decoupled, lion), zero the frozen
    updates again. ``lr`` of a constant schedule is the float itself.
    """
    from specc.compiler.emit.render import plain

    kind = plan.optimizer.kind
    arguments = dict(OPTIMIZER_DEFAULTS[kind])
    arguments.update(plain(plan.optimizer.arguments) or {})
    lr = settings.value("optimization", f"{prefix}lr", arguments["lr"], f"{key}.lr", always=True)

    def argument(name: str) -> str:
        return settings.value("optimization", f"{prefix}{name}", arguments[name], f"{key}.{name}")

    schedule_key = key.replace("optimizer", "schedule", 1)
    schedule = plan.schedule
    schedule_kind = schedule.kind if schedule is not None else "constant"
    schedule_arguments = (plain(schedule.arguments) or {}) if schedule is not None else {}
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
    if kind == "adamw":
        base = call("optax.adamw", learning_rate, b1=b1, b2=b2, eps=argument("eps"), weight_decay=argument("weight_decay"))
    elif kind == "lion":
        base = call("optax.lion", learning_rate, b1=b1, b2=b2, weight_decay=argument("weight_decay"))
    else:
        if arguments["weight_decay"]:
            decay = [call("optax.add_decayed_weights", argument("weight_decay"))]
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


# ----------------------------------------------------------------------------- data


def source_defaults(kind: str, arguments: dict) -> dict:
    """The source's constructor arguments whose value differs from the runtime's default."""
    try:
        signature = inspect.signature(SOURCES[kind].__init__).parameters
    except (KeyError, TypeError, ValueError):
        return {name: value for name, value in arguments.items() if name not in LOADER_KEYS}
    found = {}
    for name, value in arguments.items():
        if name in LOADER_KEYS:
            continue
        default = signature[name].default if name in signature else inspect.Parameter.empty
        if isinstance(default, list):
            default = tuple(default)
        if default is inspect.Parameter.empty or default != value:
            found[name] = value
    return found


def data_code(settings: Settings, program, objective: dict) -> dict:
    """The data section's calls: the source, the loaders' options and the objective's draws."""
    from specc.compiler.emit.render import flow_view, plain, source_arguments

    plan = program.data
    batch_size = settings.value("data", "batch_size", plan.batch_size, "data.batch_size", always=True)
    arguments = source_arguments(plan)
    configured, set_keys = settings.mapping("data", "data_arguments", arguments, "data")
    defaults = {name: value for name, value in source_defaults(plan.source.kind, arguments).items() if name not in set_keys}
    source_call = f"specc_data.make_source({literal(plan.source.kind)}"
    source_call += f", **{configured}" if configured else ""
    source_call += keywords(defaults) + ")"
    if set(set_keys) & set(LOADER_OPTIONS):  # the spec set a loader option: the runtime reads them
        accumulate = ", " + literal(program.train.accumulate) if program.train.accumulate > 1 else ""
        train_options = f", **specc_data.loader_options({configured}, \"train\"{accumulate})"
        eval_options = f", **specc_data.loader_options({configured}, split)"
    else:  # the Loader's defaults; evaluation in order, every example
        train_options, eval_options = "", ", shuffle=False, drop_last=False"
    eval_size = program.evaluation.batch_size
    eval_batch = batch_size
    if eval_size and (spec_set(settings.origin("data.eval_batch_size")) or eval_size != plan.batch_size):
        eval_batch = settings.value("data", "eval_batch_size", eval_size, "data.eval_batch_size", always=True)
    draws = {"train": None, "eval": None}
    if objective["is_flow"]:
        flow = flow_view(plain(program.objective.arguments) or {}, program)
        conditions = [item["field"] for item in objective["conditions"]]
        common = literal(program.objective.target) + ", " + literal(conditions)
        common += f", time={literal(flow['time'])}" if flow["time"] != "uniform" else ""
        common += f", time_arguments={literal(flow['time_arguments'])}" if flow["time_arguments"] else ""
        common += f", coupling={literal(flow['coupling'])}" if flow["coupling"] else ""
        draws["eval"] = f"specc_data.flow_draws({common})"
        if flow["cfg_dropout"] > 0:
            dropout = settings.value("objective", "cfg_dropout", flow["cfg_dropout"], "objective.cfg_dropout")
            draws["train"] = f"specc_data.flow_draws({common}, cfg_dropout={dropout})"
        else:
            draws["train"] = "eval_draws"
    return {
        "source": source_call,
        "train_options": train_options,
        "eval_options": eval_options,
        "batch_size": batch_size,
        "eval_batch_size": eval_batch,
        "draws": draws,
        "signal_length": (plain(plan.source.arguments) or {}).get("signal_length"),
        "break_symmetry": bool((plain(plan.source.arguments) or {}).get("break_symmetry", False)),
    }


# ----------------------------------------------------------------------------- losses, metrics


def cross_entropy_keywords(arguments: dict) -> str:
    """``ignore_index`` / ``label_smoothing`` keywords, each only when it has an effect."""
    found = {}
    if arguments.get("ignore_index") is not None:
        found["ignore_index"] = arguments["ignore_index"]
    if arguments.get("label_smoothing"):
        found["label_smoothing"] = float(arguments["label_smoothing"])
    return keywords(found)


def loss_code(program, objective: dict) -> dict:
    """The objective's loss as direct calls (classification, regression, flows)."""
    from specc.compiler.emit.render import plain

    plan = program.objective
    target = f"batch[{literal(plan.target)}]"
    if plan.kind == "classification":
        arguments = {}
        for term in plan.terms:
            if term.loss.kind == "cross_entropy":
                arguments = plain(term.loss.arguments) or {}
        return {"output": "logits", "loss": f"losses.cross_entropy(logits, {target}{cross_entropy_keywords(arguments)})"}
    if plan.kind == "regression":
        return {"output": "prediction", "loss": f"losses.mse(prediction, {target})"}
    if objective["is_flow"]:
        path_arguments = dict(sorted(objective["path_arguments"].items(), reverse=True))  # noise_min, noise_max
        path = f"path={literal(objective['path'])}" + keywords(path_arguments)
        if plan.kind == "mean_flow":
            extra = f"gamma={literal(objective['gamma'])}, c={literal(objective['c'])}, {path}"
        else:
            extra = f"{path}, weighted={literal(objective['weighted'])}"
        return {"flow_arguments": extra}
    return {}


def metric_code(program, evaluation: dict, objective: dict, target: str) -> dict:
    """Evaluation metrics as direct calls: on the model's output inside the jitted
    evaluation (``device``) or on samples and rendered signals on the host (``host``)."""
    device, host = [], []
    outputs = {"classification": "logits", "regression": "prediction", "language_model": "logits", "adversarial": "outputs[0]"}
    output = outputs.get(objective["kind"], "samples")
    for metric in evaluation["metrics"]:
        name, arguments = metric["kind"], dict(metric["arguments"])
        if metric["on"] == "output":
            labels = "labels" if objective["kind"] == "language_model" else target
            if objective["kind"] == "language_model" and name in ("accuracy", "perplexity"):
                ignore = (objective.get("ignore_index"),)
                arguments = {"ignore_index": ignore[0], **arguments}
            device.append(f"values[{literal(name)}] = metrics.{identifier(name)}({output}, {labels}{keywords(arguments)})")
        elif metric["on"] == "signal":
            host.append(f"values[{literal(name)}] = metrics.{identifier(name)}(signals, batch[\"signal\"]{keywords(arguments)})")
        else:
            host.append(f"values[{literal(name)}] = metrics.{identifier(name)}(samples, {target}{keywords(arguments)})")
    signals = any(metric["on"] == "signal" for metric in evaluation["metrics"])
    return {"device": device, "host": host, "signals": signals}


def sampler_code(evaluation: dict) -> dict:
    """How ``sample`` integrates: literal arguments, or the split's own (a test sampler)."""
    if not evaluation["sampler"]:
        return {}
    if evaluation["test_sampler"]:
        val = (evaluation["sampler"], evaluation["sampler_steps"], evaluation["cfg_scale"])
        test = (evaluation["test_sampler"], evaluation["test_sampler_steps"], evaluation["test_cfg_scale"])
        return {"parameters": ", method, steps, cfg_scale", "method": "method", "steps": "steps", "cfg_scale": "cfg_scale",
                "val": ", " + ", ".join(literal(item) for item in val), "test": ", " + ", ".join(literal(item) for item in test)}
    return {"parameters": "", "method": literal(evaluation["sampler"]), "steps": literal(evaluation["sampler_steps"]),
            "cfg_scale": literal(evaluation["cfg_scale"]), "val": "", "test": ""}


# ----------------------------------------------------------------------------- adversarial


def check_adversarial_models(program) -> None:
    """The GAN template calls the discriminator with one signal: it must take one input."""
    if program.objective.kind != "adversarial" or len(program.objective.models) < 2:
        return  # use_adversarial = false: no discriminator
    graphs = {graph.name: graph for graph in program.models}
    discriminator = graphs[program.objective.models[1]]
    if len(discriminator.inputs) != 1:
        raise EmitError(
            f"adversarial: the discriminator {discriminator.name!r} must take one input (the signal), "
            f"it takes {len(discriminator.inputs)}"
        )


def model_frozen(program, model: str) -> bool:
    """True when a ``train.freeze`` prefix names a parameter of ``model`` (``<model>.<path>``
    or the bare path, as ``jax_training.frozen_masks`` matches them)."""
    from specc.runtime.training.tree import under_prefix

    graph = next(graph for graph in program.models if graph.name == model)
    return any(
        under_prefix(full, prefix)
        for name, _ in graph.parameters
        for full in (f"{model}.{name}", name)
        for prefix in program.train.freeze
    )


def optimizer_plan(program, model: str):
    """The optimizer plan updating ``model``: the named one listing it, else the unnamed one."""
    chosen = [plan for plan in program.optimizers if model in plan.models]
    chosen = chosen or [plan for plan in program.optimizers if not plan.models]
    if len(chosen) != 1:
        raise EmitError(f"adversarial: model {model!r} needs exactly one optimizer, found {len(chosen)}")
    return chosen[0]


def adversarial_context(program) -> dict:
    """GAN-only fields; refuses what the JAX GAN template does not render (EMA,
    accumulation, metrics that are not on the output)."""
    from specc.compiler.emit.render import NotImplementedByBackend, evaluation_view

    check_adversarial_models(program)
    refused = [("ema", program.train.ema is not None), ("accumulate > 1", program.train.accumulate > 1)]
    refused += [(f"metric {metric['kind']}", metric["on"] != "output") for metric in evaluation_view(program)["metrics"]]
    for name, used in refused:
        if used:
            raise NotImplementedByBackend(f"{name} with objective 'adversarial' is not implemented by the jax backend yet")
    fields = {}
    for name in program.objective.models[1:]:  # none: use_adversarial = false
        fields["discriminator_logits"] = discriminator_logits(program, name)
    return fields


def discriminator_logits(program, name: str) -> int:
    """How many of the discriminator's flat outputs are logit maps: the length of its first
    returned value (``return logits, features``); the rest are feature maps."""
    graph = next(graph for graph in program.models if graph.name == name)
    structure = graph.output_structure or (None,) * len(graph.outputs)
    if len(structure) != 2:
        raise EmitError(f"adversarial: the discriminator {name!r} must return (logits, features), it returns {len(structure)} value(s)")
    return 1 if structure[0] is None else int(structure[0])


# ----------------------------------------------------------------------------- context


def training_code(settings: Settings, program) -> dict:
    """The loop's settings: each a configuration name or a literal."""
    train = program.train
    plan = train.checkpoint
    value = settings.value
    fields = {
        "max_steps": None, "max_epochs": None,
        "seed": value("training", "seed", train.seed, "train.seed", always=True),
        "log_every": value("training", "log_every", train.log_every, "train.log_every"),
        "eval_every": None,
        "accumulate": value("training", "accumulate", train.accumulate, "train.accumulate") if train.accumulate > 1 else None,
        "ema": value("training", "ema", train.ema, "train.ema") if train.ema is not None else None,
        "freeze": value("training", "freeze", tuple(train.freeze), "train.freeze") if train.freeze else None,
        "warm_start": value("training", "warm_start", train.warm_start, "train.warm_start") if train.warm_start else None,
        "val_check_interval": None,
        "penalties": None,
        "early_stopping": None,
        "every_n_epochs": None,
    }
    if train.max_steps is not None:
        fields["max_steps"] = value("training", "max_steps", train.max_steps, "train.max_steps", always=True)
    else:
        fields["max_epochs"] = value("training", "max_epochs", train.max_epochs, "train.max_epochs", always=True)
    if train.val_check_interval is not None:
        fields["val_check_interval"] = value("training", "val_check_interval", train.val_check_interval, "train.val_check_interval", always=True)
    elif train.eval_every:
        fields["eval_every"] = value("training", "eval_every", train.eval_every, "train.eval_every")
    if train.penalties:
        from specc.compiler.emit.trainer import penalties

        fields["penalties"] = settings.add("training", "penalties", penalties(program), settings.origin("train.penalties"))
    fields["checkpoint_every"] = None
    if plan.every_n_epochs is not None:
        fields["every_n_epochs"] = value("checkpoints", "checkpoint_every_n_epochs", plan.every_n_epochs, "train.checkpoint.every_n_epochs", always=True)
    elif plan.every:
        fields["checkpoint_every"] = value("checkpoints", "checkpoint_every", plan.every, "train.checkpoint.every")
    fields["keep"] = value("checkpoints", "checkpoint_keep", plan.keep, "train.checkpoint.keep")
    fields["monitor"] = value("checkpoints", "checkpoint_monitor", plan.monitor, "train.checkpoint.monitor")
    fields["mode"] = value("checkpoints", "checkpoint_mode", plan.mode, "train.checkpoint.mode")
    fields["filename"] = (
        value("checkpoints", "checkpoint_filename", plan.filename, "train.checkpoint.filename", always=True)
        if plan.filename is not None else None
    )
    stopping = train.early_stopping
    if stopping is not None:
        parts = [
            value("checkpoints", f"early_stopping_{name}", getattr(stopping, name), f"train.early_stopping.{name}")
            for name in ("monitor", "patience", "mode", "min_delta")
        ]
        if stopping.verbose:
            parts.append("verbose=True")
        fields["early_stopping"] = "training.EarlyStopping(" + ", ".join(parts) + ")"
    loggers = [(item.kind, plain_arguments(item)) for item in train.loggers if item.kind != "csv"]
    fields["loggers"] = (
        "training.make_loggers(" + literal(tuple(kind for kind, _ in loggers)) + ", run_dir"
        + (", " + literal({kind: arguments for kind, arguments in loggers if arguments}) if any(a for _, a in loggers) else "")
        + ")"
        if loggers else None
    )
    return fields


def plain_arguments(component) -> dict:
    from specc.compiler.emit.render import plain

    return plain(component.arguments) or {}


def imports(program, context: dict, fields: dict) -> dict:
    """The import lines of the script: only what it uses."""
    text = "\n".join(
        line for model in context["models"] for item in model["classes"] for line in item["constructor"] + item["body"]
    )
    runtime = {"state"}
    for name in ("layers", "preprocess", "flows", "losses", "metrics"):
        if re.search(rf"\b{name}\.", text):
            runtime.add(name)
    kind = program.objective.kind
    if kind != "language_model" or fields["language_model_ce"]:
        runtime.add("losses")
    if kind == "language_model":
        runtime.add("objectives")
    if fields["objective"]["is_flow"] and (fields["metrics"]["host"] or fields["objective"]["nulls"]):
        runtime.add("flows")
    if fields["metrics"]["device"] or fields["metrics"]["host"]:
        runtime.add("metrics")
    if fields["schedules"]:
        runtime.add("schedules")
    specc = ["from specc.runtime import data as specc_data", "from specc.runtime import init, training"]
    specc.append("from specc.runtime.jax import " + ", ".join(sorted(runtime)))
    specc.append("from specc.runtime.jax import training as jax_training")
    return {"specc": specc}


def shared_views(program) -> dict:
    """The shared views this module reads (as ``render.build_context`` computes them)."""
    from specc.compiler.emit.models import model_view
    from specc.compiler.emit.render import evaluation_view, objective_view

    models = [model_view(graph, "nnx.List") for graph in program.models]
    name = program.objective.models[0] if program.objective.models else program.models[0].name
    model = next(view for view in models if view["name"] == name)
    return {"models": models, "model": model, "objective": objective_view(program, model), "evaluation": evaluation_view(program)}


def context(program) -> dict:
    """JAX-only template fields (see the module docstring)."""
    views = shared_views(program)
    settings = Settings(program)
    objective, evaluation = views["objective"], views["evaluation"]
    fields = {
        "bf16": program.train.precision == "bf16",
        "objective": objective,
        "data": data_code(settings, program, objective),
        "train": training_code(settings, program),
        "callbacks": callbacks(program),
        "sampler": sampler_code(evaluation),
    }
    clip = clip_code(settings, program.train)
    values = train_values(program)
    if not fields["callbacks"]["grad_norm"]:
        values = [name for name in values if not name.endswith("grad_norm")]
    fields["train_values"] = tuple(values)
    kind = program.objective.kind
    fields["loss"] = loss_code(program, objective)
    language_model_ce = False
    if kind == "language_model":
        from specc.compiler.emit.objectives import language_model_view

        view = language_model_view(program, views["model"])
        language_model_ce = view["cross_entropy"] is not None
        fields["language_model"] = {
            "cross_entropy": None if view["cross_entropy"] is None else {
                "weight": literal(view["cross_entropy"]["weight"]),
                "keywords": cross_entropy_keywords(view["cross_entropy"]),
            },
            "terms": [
                {**term, "weight_code": literal(term["weight"]),
                 "draw": {key: term[key] for key in ("modality", "file", "start", "sample_k")}}
                for term in view["terms"]
            ],
        }
        objective = dict(objective, ignore_index=(view["cross_entropy"] or {}).get("ignore_index"))
    fields["language_model_ce"] = language_model_ce
    fields["metrics"] = metric_code(program, evaluation, objective, f"batch[{literal(program.objective.target)}]")
    frozen = "frozen" if program.train.freeze else None
    total = fields["train"]["max_steps"] or "total_steps"
    if kind == "adversarial":
        fields["adversarial"] = adversarial_context(program)
        optimizers = {}
        for role, name in zip(("generator", "discriminator"), program.objective.models):
            plan = optimizer_plan(program, name)
            prefix = f"{identifier(plan.name)}_" if plan.name else ""
            key = f"optimizer.{plan.name}" if plan.name else "optimizer"
            mask = f"frozen[{literal(name)}]" if frozen and model_frozen(program, name) else None
            optimizers[role] = optimizer_code(settings, plan, prefix, key, clip, mask, total, f"{role}_schedule")
            optimizers[role].update(mask=mask or "None", model=name)
        fields["optimizers"] = optimizers
        fields["schedules"] = any(item["uses_schedules"] for item in optimizers.values())
    else:
        fields["optimizer"] = optimizer_code(settings, program.optimizers[0], "", "optimizer", clip, frozen, total)
        fields["schedules"] = fields["optimizer"]["uses_schedules"]
    train = program.train
    fields["steps_per_epoch"] = bool(
        train.max_steps is None or train.val_check_interval is not None
        or train.checkpoint.every_n_epochs is not None or fields["callbacks"]["lr"] == "epoch"
    )
    fields["config"] = settings.result()
    fields.update(imports(program, views, fields))
    return {"jax": fields}


def config(program, context: dict) -> list[dict]:
    """The configuration block: what the spec set (with its origin) and what matters."""
    return context["jax"]["config"]
