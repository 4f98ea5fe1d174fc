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

from specc.compiler.emit.calls import (
    cross_entropy_options,
    cross_entropy_term_arguments,
    early_stopping_call,
    evaluation_splits,
    literal_keywords,
)
from specc.compiler.emit.configuration import (
    plain,
    plain_arguments,
    source_default,
)
from specc.compiler.emit.callbacks import user_callbacks
from specc.compiler.emit.extensions import flow_code, flow_loss_keywords, loss_values, uses_user_code
from specc.compiler.emit.graph_losses import loss_functions
from specc.compiler.emit.filters import EmitError, identifier, literal
from specc.compiler.emit.imports import jax_imports
from specc.compiler.emit.models import bind_externs, carries_state
from specc.compiler.emit.objectives import (
    check_adversarial_models,
    discriminator_logits,
    generator_loop,
    language_model_view,
    program_adversarial_view,
    program_language_model_view,
)
from specc.compiler.emit.render import NotImplementedByBackend, evaluation_view, flow_view, source_arguments
from specc.compiler.emit import predictions
from specc.compiler.emit.signals import render_call, target_signals
from specc.compiler.emit.trainer import (
    limit_keyword,
    logger_arguments,
    callback_settings,
    model_frozen,
    checkpoint_values,
    optional_training_values,
    penalties,
    program_callbacks,
)
from specc.runtime.data import LOADER_KEYS
from specc.runtime.data.loader import LOADER_OPTIONS
from specc.compiler.emit.jax_settings import Settings, clip_code, optimizer_code, spec_set

# objective kind -> the values every training step adds up and logs (besides lr and
# steps_per_s); objectives not listed log these two
TRAIN_VALUES = {
    "flow_matching": ["loss", "grad_norm", "mse"],
    "mean_flow": ["loss", "grad_norm", "mse"],
    "improved_mean_flow": ["loss", "grad_norm", "mse"],
}
DEFAULT_TRAIN_VALUES = ["loss", "grad_norm"]


# ----------------------------------------------------------------------------- values


def train_values(program) -> list[str]:
    """Names summed over the steps between two log lines: the objective's loss values then
    the gradient norms (language_model: ``loss``, ``cross_entropy``, one per expected-value
    term, ``grad_norm``; adversarial: the generator's values then the discriminator's; vae: the
    model's)."""
    kind = program.objective.kind
    if kind == "language_model":
        return program_language_model_view(program)["values"] + ["grad_norm"]
    if generator_loop(program):
        view = program_adversarial_view(program)
        return view["generator_values"] + view["discriminator_values"]
    values = list(TRAIN_VALUES.get(kind, DEFAULT_TRAIN_VALUES))
    for term in program.objective.terms:  # a user loss: the values it returns beside the loss
        values[1:1] = list(plain_arguments(term.loss).get("logs", ())) if term.loss.kind == "python" else []
    values[1:1] = [metric.kind for metric in program.train.metrics]  # train.metrics: with the loss
    return values + ["penalty"] if program.train.penalties else values  # train.penalties: their weighted sum


def callbacks(program) -> dict:
    """What ``train.callbacks`` asks for: the progress display's refresh rate (None: no
    display), the ``lr`` rows' interval (``step``, ``epoch`` or None) and whether the
    gradient norm is computed and logged."""
    settings = callback_settings(program_callbacks(program))
    return {key: settings[key] for key in ("progress", "lr", "grad_norm")}


# ----------------------------------------------------------------------------- optimization


# ----------------------------------------------------------------------------- data


def source_defaults(kind: str, arguments: dict) -> dict:
    """The source's constructor arguments whose value differs from the runtime's default."""
    found = {}
    for name, value in arguments.items():
        default = source_default(kind, name)
        default = tuple(default) if isinstance(default, list) else default
        if name not in LOADER_KEYS and (default is inspect.Parameter.empty or default != value):
            found[name] = value
    return found


def data_code(settings: Settings, program, objective: dict) -> dict:
    """The data section's calls: the source, the loaders' options and the objective's draws."""
    plan = program.data
    batch_size = settings.value("data", "batch_size", plan.batch_size, "data.batch_size", always=True)
    arguments = source_arguments(plan)
    configured, set_keys = settings.mapping("data", "data_arguments", arguments, "data")
    defaults = {name: value for name, value in source_defaults(plan.source.kind, arguments).items() if name not in set_keys}
    source_call = f"specc_data.make_source({literal(plan.source.kind)}"
    source_call += f", **{configured}" if configured else ""
    source_call += literal_keywords(defaults) + ")"
    if set(set_keys) & set(LOADER_OPTIONS):  # the spec set a loader option: the runtime reads them
        accumulate = ", " + literal(program.train.accumulate) if program.train.accumulate > 1 else ""
        train_options = f", **specc_data.loader_options({configured}, \"train\"{accumulate})"
        eval_options = f", **specc_data.loader_options({configured}, split)"
    else:  # the Loader's defaults; evaluation in order, every example
        train_options, eval_options = "", ", shuffle=False, drop_last=False"
    train_options += limit_keyword(program, lambda value: settings.value(
        "training", "limit_train_batches", value, "train.limit_train_batches", always=True))
    eval_size = program.evaluation.batch_size
    eval_batch = batch_size
    if eval_size and (spec_set(settings.origin("data.eval_batch_size")) or eval_size != plan.batch_size):
        eval_batch = settings.value("data", "eval_batch_size", eval_size, "data.eval_batch_size", always=True)
    draws = {"train": None, "eval": None}
    if objective["is_flow"]:
        flow = flow_view(plain(program.objective.arguments) or {}, program)
        conditions = [item["field"] for item in objective["conditions"]]
        common = literal(program.objective.target) + ", " + literal(conditions)
        common += f", time={flow_code(settings, flow, 'time')}" if flow["time"] != "uniform" else ""
        common += f", time_arguments={literal(flow['time_arguments'])}" if flow["time_arguments"] else ""
        common += f", coupling={settings.value('objective', 'coupling', flow['coupling'], 'data.coupling')}" if flow["coupling"] else ""
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


def loss_code(settings: Settings, program, objective: dict) -> dict:
    """The objective's loss as direct calls (classification, regression, flows)."""
    plan = program.objective
    target = f"batch[{literal(plan.target)}]"
    output = "logits" if plan.kind == "classification" else "prediction"
    user = loss_values(settings, plan, output, target) if plan.kind in ("classification", "regression") else None
    if user:  # the user's loss: its values dict ({"loss", ...extra})
        return {"output": output, "user_loss": user, "metrics": train_metric_lines(program, output, target)}
    metrics = train_metric_lines(program, output, target)
    if plan.kind == "classification":
        options = literal_keywords(cross_entropy_options(cross_entropy_term_arguments(plan)))
        return {"output": "logits", "loss": f"losses.cross_entropy(logits, {target}{options})", "metrics": metrics}
    if plan.kind == "regression":
        return {"output": "prediction", "loss": f"losses.mse(prediction, {target})", "metrics": metrics}
    if objective["is_flow"]:
        path_arguments = dict(sorted(objective["path_arguments"].items(), reverse=True))  # noise_min, noise_max
        path = f"path={flow_code(settings, objective, 'path')}" + "".join(
            f", {name}={settings.value('objective', name, value, 'objective.path')}" for name, value in path_arguments.items()
        )
        if objective["loss_user"]:  # the user's loss replaces the weighted L2 and its settings
            extra = path + "".join(f", {name}={code}" for name, code in flow_loss_keywords(settings, objective).items())
        elif plan.kind == "mean_flow":
            extra = f"gamma={literal(objective['gamma'])}, c={literal(objective['c'])}, {path}"
        else:
            extra = f"{path}, weighted={literal(objective['weighted'])}"
        return {"flow_arguments": extra}
    return {}


def train_metric_lines(program, output: str, target: str) -> list[str]:
    """``values["accuracy"] = metrics.accuracy(logits, batch["y"])``: each ``train.metrics``
    entry, computed in the loss function beside the loss."""
    return [f"values[{literal(metric.kind)}] = metrics.{identifier(metric.kind)}({output}, {target}"
            f"{literal_keywords(plain(metric.arguments) or {})})  # train.metrics" for metric in program.train.metrics]


def metric_code(program, evaluation: dict, objective: dict, target: str) -> dict:
    """Evaluation metrics as direct calls: on the model's output inside the jitted
    evaluation (``device``) or on samples and rendered signals on the host (``host``)."""
    device, host = [], []
    outputs = {"classification": "logits", "regression": "prediction", "language_model": "logits", "adversarial": "outputs[0]", "vae": "outputs[0]"}
    output = outputs.get(objective["kind"], "samples")
    for metric in evaluation["metrics"]:
        name, arguments = metric["kind"], dict(metric["arguments"])
        if metric.get("function"):  # a metric written in the spec: a function of the script
            device.append(f"values[{literal(name)}] = {metric['function']}({output}, {target})")
        elif metric["on"] == "output":
            labels = "labels" if objective["kind"] == "language_model" else target
            if objective["kind"] == "language_model" and name in ("accuracy", "perplexity"):
                ignore = (objective.get("ignore_index"),)
                arguments = {"ignore_index": ignore[0], **arguments}
            device.append(f"values[{literal(name)}] = metrics.{identifier(name)}({output}, {labels}{literal_keywords(arguments)})")
        elif metric["on"] == "signal":
            targets = target_signals(program, lambda code: f"np.asarray({code})", lambda code: f"jnp.asarray({code})")
            host.append(f"values[{literal(name)}] = metrics.{identifier(name)}(signals, {targets}{literal_keywords(arguments)})")
        else:
            host.append(f"values[{literal(name)}] = metrics.{identifier(name)}(samples, {target}{literal_keywords(arguments)})")
    signals = any(metric["on"] == "signal" for metric in evaluation["metrics"])
    return {"device": device, "host": host, "signals": signals, "render": render_call(program, "np.asarray(samples)")}


def sampler_code(settings: Settings, evaluation: dict) -> dict:
    """How ``sample`` integrates: the sampler's values (configuration names when the spec set
    them), as literals in the call or bound per split (a test sampler)."""
    if not evaluation["sampler"]:
        return {}

    def values(prefix: str, key: str) -> tuple[str, str, str]:
        steps, scale = evaluation[f"{prefix}sampler_steps"], evaluation[f"{prefix}cfg_scale"]
        steps = literal(steps) if steps is None else settings.value("evaluation", f"{prefix}sampler_steps", steps, key)
        return literal(evaluation[f"{prefix}sampler"]), steps, settings.value("evaluation", f"{prefix}cfg_scale", scale, key)

    validation = values("", "eval.sampler")
    if evaluation["test_sampler"]:
        test = values("test_", "eval.test_sampler")
        return {"parameters": ", method, steps, cfg_scale", "method": "method", "steps": "steps", "cfg_scale": "cfg_scale",
                "val": ", " + ", ".join(validation), "test": ", " + ", ".join(test)}
    return {"parameters": "", "method": validation[0], "steps": validation[1], "cfg_scale": validation[2], "val": "", "test": ""}


# ----------------------------------------------------------------------------- adversarial


def optimizer_plan(program, model: str):
    """The optimizer plan updating ``model``: the named one listing it, else the unnamed one."""
    chosen = [plan for plan in program.optimizers if model in plan.models]
    chosen = chosen or [plan for plan in program.optimizers if not plan.models]
    if len(chosen) != 1:
        raise EmitError(f"adversarial: model {model!r} needs exactly one optimizer, found {len(chosen)}")
    return chosen[0]


def adversarial_context(program) -> dict:
    """GAN-only fields; refuses what the JAX GAN template does not render (metrics that are
    not on the output)."""
    check_adversarial_models(program)
    refused = [(f"metric {metric['kind']}", metric["on"] != "output") for metric in evaluation_view(program)["metrics"]]
    for name, used in refused:
        if used:
            raise NotImplementedByBackend(
                f"{name} with objective {program.objective.kind!r} is not implemented by the jax backend yet"
            )
    fields = {}
    for name in program.objective.models[1:]:  # none: use_adversarial = false
        fields["discriminator_logits"] = discriminator_logits(program, name)
    return fields


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
        **optional_training_values(train, lambda name, item, key: value("training", name, item, key)),
        "val_check_interval": None,
        "penalties": None,
        "early_stopping": None,
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
        fields["penalties"] = settings.add("training", "penalties", penalties(program), settings.origin("train.penalties"))
    fields.update(checkpoint_values(plan, value))
    stopping = train.early_stopping
    if stopping is not None:
        fields["early_stopping"] = early_stopping_call(stopping, value)
    loggers = [(item.kind, logger_arguments(item)) for item in train.loggers if item.kind != "csv"]
    fields["loggers"] = (
        "training.make_loggers(" + literal(tuple(kind for kind, _ in loggers)) + ", run_dir"
        + (", " + literal({kind: arguments for kind, arguments in loggers if arguments}) if any(a for _, a in loggers) else "")
        + ")"
        if loggers else None
    )
    return fields


def context(program) -> dict:
    """Nothing before the shared context: :func:`config` computes the JAX fields from it."""
    return {}


def config(program, context: dict) -> list[dict]:
    """The configuration block (what the spec set, with its origin, and what matters);
    fills ``context["jax"]`` with the JAX-only template fields."""
    context["jax"] = jax_fields(program, context)
    context["model"]["functions"] = loss_functions(program)  # graph("...") losses: module-level functions
    return context["jax"]["config"]


def jax_fields(program, views: dict) -> dict:
    """The JAX-only template fields (see the module docstring), from the shared context."""
    settings = Settings(program)
    objective, evaluation = views["objective"], views["evaluation"]
    fields = {
        "bf16": program.train.precision in ("bf16", "fp16"),  # low-precision compute (flow.j2: the jvp's dtype)
        "fp16": program.train.precision == "fp16",  # dynamic loss scaling (specc.runtime.jax.precision)
        "compute_dtype": {"bf16": "jnp.bfloat16", "fp16": "jnp.float16"}.get(program.train.precision),
        "sharded": program.train.parallel == "sharded",
        # dropout, a gaussian sample or buffers: the model's RNG state and buffers (``rest``) go through the step
        "stateful": carries_state(program),
        "objective": objective,
        "data": data_code(settings, program, objective),
        "train": training_code(settings, program),
        "callbacks": {**callbacks(program), "user": user_callbacks(program, settings)},
        "sampler": sampler_code(settings, evaluation),
        "evaluation": evaluation_splits(program),
    }
    clip = clip_code(settings, program.train)
    values = train_values(program)
    if not fields["callbacks"]["grad_norm"]:
        values = [name for name in values if not name.endswith("grad_norm")]
    fields["train_values"] = tuple(values)
    kind = program.objective.kind
    fields["loss"] = loss_code(settings, program, objective)
    language_model_ce = False
    if kind == "language_model":
        view = language_model_view(program, views["model"])
        language_model_ce = view["cross_entropy"] is not None
        fields["language_model"] = {
            "cross_entropy": None if view["cross_entropy"] is None else {
                "weight": literal(view["cross_entropy"]["weight"]),
                "keywords": literal_keywords(cross_entropy_options(view["cross_entropy"])),
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
    split = fields["sampler"].get("test") or fields["sampler"].get("val", "")  # the test sampler's when set
    fields["predict"] = predictions.predict_view(program, "jax", objective["model_arguments"], split)  # --predict
    frozen = "frozen" if program.train.freeze else None
    total = fields["train"]["max_steps"] or "total_steps"
    if generator_loop(program):
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
    bind_externs(settings, program)  # the user functions the models call
    fields["config"] = settings.blocks()
    fields.update(jax_imports(program, views, fields, uses_user_code(settings)))
    return fields
