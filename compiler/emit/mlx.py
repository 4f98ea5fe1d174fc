"""The mlx backend's own template fields (the emitter half of its backend table,
``specc.compiler.backends.mlx``).

Every decision about the generated MLX script is made here, once: which configuration
values it shows (what the spec set, plus the few a reader needs), the direct calls of the
optimizer, the schedule, the losses and the metrics (defaults written inline as literals),
and which optional pieces of the loop exist at all (EMA, early stopping, freezing, warm
start, accumulation, penalties, extra loggers, the callbacks). Spec values reach the code
only through :func:`~specc.compiler.emit.filters.literal` and
:func:`~specc.compiler.emit.filters.identifier`.
"""

from __future__ import annotations

from specc.compiler.emit.calls import (
    call,
    cross_entropy_options,
    cross_entropy_term_arguments,
    early_stopping_call,
    evaluation_splits,
    literal_values,
    reconstruction_call,
    sampler_splits,
    velocity_h,
    velocity_signature,
)
from specc.compiler.emit.configuration import plain_arguments, provenance_lookup
from specc.compiler.emit.callbacks import user_callbacks
from specc.compiler.emit.extensions import flow_code, flow_loss_keywords, loss_values, takes_ops, uses_user_code
from specc.compiler.emit.graph_losses import loss_functions, sampler_imports
from specc.compiler.emit.filters import EmitError, identifier, literal
from specc.compiler.emit.imports import mlx_imports, model_modules
from specc.compiler.emit.jax import train_values
from specc.compiler.emit.models import bind_externs, uses_random_layers
from specc.compiler.emit.objectives import generator_loop, label_ranges, program_adversarial_view, program_language_model_view
from specc.compiler.emit import predictions
from specc.compiler.emit.signals import render_call, target_signals
from specc.compiler.emit.trainer import (
    limit_keyword,
    logger_arguments,
    callback_settings,
    checkpoint_folder_argument,
    checkpoint_intervals,
    optional_training_values,
    penalties,
    program_callbacks,
    role_optimizer_plans,
)
from specc.runtime.data.loader import LOADER_OPTIONS
from specc.compiler.emit.mlx_settings import Config, is_set, optimizer_call

# metrics reading the CE's ignore_index on a language model
TOKEN_METRICS = frozenset({"accuracy", "perplexity"})


# ----------------------------------------------------------------------------- data


def data_view(program, config: Config, accumulate: str) -> dict:
    """The source call, the loaders' extra arguments and the data-shape table."""
    data = program.data
    labels = label_ranges(program)
    arguments = plain_arguments(data.source)
    source_keywords, loader_values, loader_set = {}, {}, False
    for key in sorted(arguments):
        if key in ("batch_size", "coupling", "render", "predict"):  # the evaluation's (emit/signals.py), --predict's
            continue
        if LOADER_OPTIONS.get(key, ("",))[0] is None:  # `fake`: read by make_source, not the loader; only when set
            if is_set(config.origin(f"data.{key}")):
                source_keywords[key] = config.argument("data", key, arguments[key], f"data.{key}", prefix="data")
            continue
        if key in LOADER_OPTIONS:  # read by the loader, not the source; only what the spec set: loader_options fills in the rest
            if is_set(config.origin(f"data.{key}")):
                loader_values[key] = arguments[key]
                loader_set = True
            continue
        name = f"source_{key}" if key in ("file", "name", "arguments") else key  # data python: not bare `file`
        source_keywords[key] = config.argument("data", name, arguments[key], f"data.{key}", prefix="data")
    config.add("data", "batch_size", data.batch_size, "data.batch_size")
    eval_batch = program.evaluation.batch_size
    if eval_batch is None or (eval_batch == data.batch_size and not is_set(config.origin("data.eval_batch_size"))):
        eval_batch_code = "batch_size"
    else:
        eval_batch_code = config.argument("data", "eval_batch_size", eval_batch, "data.eval_batch_size")
    view = {
        "source_call": call("specc_data.make_source", literal(data.source.kind), **source_keywords),
        "source_kind": data.source.kind,
        "eval_batch_size": eval_batch_code,
        "train_options": "",
        "eval_options": ", shuffle=False, drop_last=False",
        "fields": [
            {"name": item.name, "dtype": item.type.dtype, "shape": tuple(item.type.shape), "label": labels.get(item.name, ())}
            for item in data.fields
        ],
        "signal_arguments": "",
    }
    if loader_set:
        name = config.add_dict("data", "loader_arguments", loader_values, "data")
        view["train_options"] = f", **specc_data.loader_options({name}, \"train\", {accumulate})"
        view["eval_options"] = f", **specc_data.loader_options({name}, split)"
    view["train_options"] += limit_keyword(program, lambda value: config.add(
        "training", "limit_train_batches", value, "train.limit_train_batches"))
    if data.source.kind == "ksin":
        length = source_keywords.get("signal_length", literal(arguments.get("signal_length", 1024)))
        symmetry = source_keywords.get("break_symmetry", literal(arguments.get("break_symmetry", False)))
        view["signal_arguments"] = f"{length}, {symmetry}"
    return view


# ----------------------------------------------------------------------------- optimization


# ----------------------------------------------------------------------------- objective


def supervised_view(program, config: Config) -> dict:
    """classification / regression: the loss call on ``output`` (``values``: the user's loss,
    a dict of the values it logs)."""
    plan = program.objective
    target = f"batch[{literal(plan.target)}]"
    user = loss_values(config, plan, "output", target)
    if user:
        return {"loss": None, "user_loss": user, "target": target, "doc": f"the user's loss against {plan.target}"}
    if plan.kind == "classification":
        options = literal_values(cross_entropy_options(cross_entropy_term_arguments(plan)))
        loss = call("losses.cross_entropy", "output", target, **options)
    else:
        loss = call("losses.mse", "output", target)
    what = "cross-entropy of the logits" if plan.kind == "classification" else "mean squared error of the prediction"
    return {"loss": loss, "user_loss": None, "target": target, "doc": f"{what} against {plan.target}"}


def flow_view(program, config: Config, objective: dict) -> dict:
    """The flow loss call, the draws and the sampler."""
    kind = program.objective.kind
    keywords = literal_values(dict(sorted(objective["path_arguments"].items())))
    keywords.update(flow_loss_keywords(config, objective))
    if objective["loss_user"]:  # the user's loss replaces the weighted L2 and its settings
        function = {"flow_matching": "flow_matching_loss", "mean_flow": "mean_flow_loss"}.get(kind, "improved_mean_flow_loss")
        first = "velocity" if kind == "flow_matching" else "average"
        extra = ("r",) if kind != "flow_matching" else ()
        loss = call(f"losses.{function}", first, "x", "noise", "t", *extra, path=flow_code(config, objective, "path"), **keywords)
    elif kind == "mean_flow":
        gamma = config.argument("objective", "gamma", objective["gamma"], "objective.gamma")
        weight = config.argument("objective", "c", objective["c"], "objective.c")
        loss = call("losses.mean_flow_loss", "average", "x", "noise", "t", "r", gamma=gamma, c=weight, path=flow_code(config, objective, "path"), **keywords)
    else:
        weighted = config.argument("objective", "weighted", objective["weighted"], "objective.weighted")
        function = "losses.flow_matching_loss" if kind == "flow_matching" else "losses.improved_mean_flow_loss"
        first = "velocity" if kind == "flow_matching" else "average"
        extra = ("r",) if kind == "improved_mean_flow" else ()
        loss = call(function, first, "x", "noise", "t", *extra, flow_code(config, objective, "path"), weighted=weighted, **keywords)
    draws = {"time": flow_code(config, objective, "time")}
    if objective["time_arguments"]:
        draws["time_arguments"] = literal(objective["time_arguments"])
    if objective["coupling"]:
        draws["coupling"] = config.argument("objective", "coupling", objective["coupling"], "data.coupling")
    conditions = literal([item["field"] for item in objective["conditions"]])
    target = literal(program.objective.target)
    train_draws = dict(draws)
    if objective["cfg_dropout"] > 0:
        train_draws["cfg_dropout"] = config.argument("objective", "cfg_dropout", objective["cfg_dropout"], "objective.cfg_dropout")
    return {
        "loss": loss,
        "train_draws": call("specc_data.flow_draws", target, conditions, **train_draws),
        "eval_draws": call("specc_data.flow_draws", target, conditions, **draws),
    }


def sampler_view(program, config: Config, evaluation: dict, objective: dict) -> dict:
    """How each evaluation split samples: ``{"val": ..., "test": ...}`` (test only when it has
    its own sampler), each ``{"kind", "steps", "cfg_scale", "guided", "signature", "h"}``.

    An integrator (euler, heun, rk4) calls ``velocity(x_t, t)``: the instantaneous velocity,
    ``h = 0`` for a mean-flow model. ``one_step`` calls ``velocity(x_t, t, r)``:
    ``x_0 = x_1 - u(x_1, t = 1, r = 0)`` with ``h = t - r``.
    """
    found = {}
    for split, prefix, key in sampler_splits(evaluation):
        kind = evaluation[f"{prefix}sampler"]
        one_step = kind == "one_step"
        guided = bool(objective["nulls"]) and float(evaluation[f"{prefix}cfg_scale"]) != 1.0
        steps = "" if one_step else config.argument("evaluation", f"{prefix}sampler_steps", evaluation[f"{prefix}sampler_steps"], key)
        scale = config.argument("evaluation", f"{prefix}cfg_scale", evaluation[f"{prefix}cfg_scale"], key) if guided else ""
        found[split] = {
            "kind": kind, "steps": steps, "cfg_scale": scale, "guided": guided,
            "signature": velocity_signature(kind), "h": velocity_h(kind, objective["is_mean_flow"]),
        }
    return found


def metric_calls(program, evaluation: dict, target: str, output: str, labels: str = "", ignore: str = "") -> list[dict]:
    """``{"name", "code"}`` of every evaluation metric, a direct call with its arguments."""
    found = []
    for metric in evaluation["metrics"]:
        keywords = {key: literal(value) for key, value in sorted(metric["arguments"].items())}
        if labels and ignore and metric["kind"] in TOKEN_METRICS and "ignore_index" not in keywords:
            keywords["ignore_index"] = ignore
        function = metric.get("function") or f"metrics.{identifier(metric['kind'])}"  # a graph metric: the script's
        if metric["on"] == "signal":
            code = call(function, "signals", target_signals(program, lambda code: f"np.array({code})", lambda code: f"mx.array({code})"), **keywords)
        else:
            code = call(function, output, labels or target, **keywords)
        found.append({"name": metric["kind"], "code": code, "on": metric["on"]})
    return found


# ----------------------------------------------------------------------------- training


def callbacks_view(program) -> dict:
    """What the callbacks do: the progress display's refresh rate (0: none), when ``lr`` is
    logged ("step", "epoch" or ""), whether ``grad_norm`` is computed and logged."""
    settings = callback_settings(program_callbacks(program))
    if settings["unknown"]:
        raise EmitError(f"callback {settings['unknown'][0]!r} has no effect in the mlx emitter")
    return {"progress": settings["progress"] or 0, "lr": settings["lr"] or "", "grad_norm": settings["grad_norm"]}


def train_view(program, config: Config) -> dict:
    """The loop's pieces, each present only when the spec uses it."""
    train = program.train
    view = {"epochs": train.max_steps is None}
    if train.max_steps is not None:
        view["total"] = config.add("training", "max_steps", train.max_steps, "train.max_steps")
    else:
        config.add("training", "max_epochs", train.max_epochs, "train.max_epochs")
        view["total"] = "total_steps"
    config.add("training", "seed", train.seed, "train.seed")
    config.add("training", "log_every", train.log_every, "train.log_every")
    view["eval_every"] = config.add("training", "eval_every", train.eval_every, "train.eval_every") if train.eval_every else ""
    view["precision"] = ""
    if train.precision in ("bf16", "fp16"):
        code = {"bf16": "mx.bfloat16", "fp16": "mx.float16"}[train.precision]
        view["precision"] = config.add("training", "compute_dtype", None, "train.precision", code=code)
    view["fp16"] = train.precision == "fp16"  # the dynamic loss scale (specc.runtime.mlx.precision)
    view["grad_clip"] = ""
    if train.grad_clip is not None:
        view["grad_clip"] = config.add("training", "grad_clip", train.grad_clip, "train.grad_clip")
    view["clip_mode"] = ""
    if train.grad_clip is not None and train.grad_clip_mode != "norm":
        view["clip_mode"] = config.argument("training", "grad_clip_mode", train.grad_clip_mode, "train.grad_clip_mode")
    optional = optional_training_values(train, lambda name, value, key: config.add("training", name, value, key))
    view.update({name: code or "" for name, code in optional.items()})
    found = penalties(program) if train.penalties else ()
    view["penalties"] = config.add("training", "penalties", found, "train.penalties") if found else ""
    extra = [logger for logger in train.loggers if logger.kind != "csv"]
    view["loggers"] = ""
    if extra:
        view["loggers"] = config.add("training", "loggers", tuple(logger.kind for logger in extra), "train.loggers")
        arguments = {logger.kind: logger_arguments(logger) for logger in extra if logger_arguments(logger)}
        view["logger_arguments"] = config.add("training", "logger_arguments", arguments, "train.loggers") if arguments else ""
    view["val_check_interval"] = ""
    if train.val_check_interval is not None:
        view["val_check_interval"] = config.add("training", "val_check_interval", train.val_check_interval, "train.val_check_interval")
    view["callbacks"] = {**callbacks_view(program), "user": user_callbacks(program, config)}
    view["random"] = uses_random_layers(program)
    logged = [name for name in train_values(program) if view["callbacks"]["grad_norm"] or not name.endswith("grad_norm")]
    view["logged"] = literal(tuple(logged))  # summed inside the compiled step (mlx_training.StepTotals)
    view["sharded"] = train.parallel == "sharded"  # optimizer state split over the ranks (ZeRO-1)
    view.update(checkpoint_view(program, config))
    view["steps_per_epoch"] = bool(view["epochs"] or view["val_check_interval"] or view["every_n_epochs"] or view["callbacks"]["lr"] == "epoch")
    # the evaluation condition at ``step``
    if view["val_check_interval"]:
        view["evaluation_due"] = "training.due_in_epoch(step, eval_every, steps_per_epoch)"
    elif view["eval_every"]:
        view["evaluation_due"] = f"step % {view['eval_every']} == 0"
    else:
        view["evaluation_due"] = ""
    return view


def checkpoint_view(program, config: Config) -> dict:
    plan = program.train.checkpoint
    view = {"checkpoint_every": "", "every_n_epochs": "", "filename": "", "checkpointing": plan.enable}
    view["last_pointer"] = plan.last  # false: no `last` link, the top-k alone kept
    if plan.every_n_epochs is not None:
        view["every_n_epochs"] = config.add("checkpoints", "checkpoint_every_n_epochs", plan.every_n_epochs, "train.checkpoint.every_n_epochs")
    if plan.every is not None:
        view["checkpoint_every"] = config.add("checkpoints", "checkpoint_every", plan.every, "train.checkpoint.every")
    view["save_every"] = checkpoint_intervals(plan, view["checkpoint_every"])
    view["folder"] = checkpoint_folder_argument(
        plan, lambda path: config.add("checkpoints", "checkpoint_dirpath", path, "train.checkpoint.dirpath")
    )
    if plan.filename is not None:
        view["filename"] = config.add("checkpoints", "checkpoint_filename", plan.filename, "train.checkpoint.filename")
    prune = [
        config.argument("checkpoints", "checkpoint_keep", plan.keep, "train.checkpoint.keep"),
        config.argument("checkpoints", "checkpoint_monitor", plan.monitor, "train.checkpoint.monitor"),
        config.argument("checkpoints", "checkpoint_mode", plan.mode, "train.checkpoint.mode"),
    ]
    view["prune"] = ", ".join(prune)
    stopping = program.train.early_stopping
    view["early_stopping"] = ""
    if stopping is not None:
        view["early_stopping"] = early_stopping_call(stopping, config.argument)
    return view


# ----------------------------------------------------------------------------- the hooks


def context(program) -> dict:
    """No backend-only field: :func:`config` computes the rest."""
    return {}


def mlx_fields(program, shared: dict) -> dict:
    """The ``mlx`` view: configuration, direct calls and the loop's optional pieces."""
    config = Config(provenance_lookup(program))
    train = dict(train_view(program, config), evaluation=evaluation_splits(program))
    accumulate = train["accumulate"] or "1"
    data = data_view(program, config, accumulate)
    modules = {"layers", "state"}
    view = {"functools": False, "numpy": False, "tree_map": bool(train["ema"])}
    evaluation, objective = shared["evaluation"], shared["objective"]
    kind = program.objective.kind
    if generator_loop(program):
        optimizers = adversarial_optimizers(program, config, train["total"])
        modules |= {"losses", "objectives"}
        # the GAN's two objectives, or the generator's alone under mixed precision
        view["functools"] = len(program.objective.models) > 1 or bool(train["precision"])
    else:
        optimizers = [optimizer_call(program.optimizers[0], config, "optimization", train["total"])]
    if any(item["schedule"] for item in optimizers):
        modules.add("schedules")
    fields = {"train": train, "data": data, "optimizers": optimizers, "optimizer": optimizers[0]}
    if objective["is_flow"]:
        fields["flow"] = flow_view(program, config, objective)
        fields["metrics"] = metric_calls(program, evaluation, f"batch[{literal(program.objective.target)}]", "samples")
        fields["needs_samples"] = evaluation["needs_samples"]
        samples = evaluation["needs_samples"] or predictions.predict_file(program) is not None  # --predict samples too
        fields["samplers"] = sampler_view(program, config, evaluation, objective) if samples else {}
        fields["guided"] = any(item["guided"] for item in fields["samplers"].values())
        fields["signals"] = any(metric["on"] == "signal" for metric in fields["metrics"])
        fields["render"] = render_call(program, "np.array(samples)", data["signal_arguments"] or None)  # emit/signals.py
        modules |= {"losses", "flows"} if samples or objective["nulls"] else {"losses"}
        view["numpy"] = fields["signals"]
    elif kind == "language_model":
        modules.add("losses")
        fields["lm"] = language_model_fields(program, config)
        if fields["lm"]["has_terms"]:  # the expected-value terms: their arrays share the cached source
            modules.add("objectives")
            view["functools"] = True
        fields["metrics"] = language_model_metrics(program, evaluation)
    elif generator_loop(program):
        fields["gan"] = adversarial_fields(program, config)
        fields["metrics"] = metric_calls(program, evaluation, "target", "reconstruction")
    else:
        fields["supervised"] = supervised_view(program, config)
        if takes_ops(program.objective) or not fields["supervised"]["user_loss"]:
            modules.add("ops" if fields["supervised"]["user_loss"] else "losses")
        target = fields["supervised"]["target"]
        fields["train_metrics"] = metric_calls(program, {"metrics": evaluation["train_metrics"]}, target, "output")
        # the evaluation lists them too: it computes its values itself, not through loss_fn
        fields["metrics"] = fields["train_metrics"] + metric_calls(program, evaluation, target, "output")
    if any(metric["code"].startswith("metrics.") for metric in fields["metrics"]):
        modules.add("metrics")
    split = ', "test"' if "test" in (fields.get("samplers") or {}) else ""  # the test sampler's when set
    fields["predict"] = predictions.predict_view(program, "mlx", shared["objective"]["model_arguments"], split)
    train["predict"] = fields["predict"]["parse"] if fields["predict"] else ""
    view["numpy"] = view["numpy"] or bool(fields["predict"])
    if program.train.precision == "fp16":
        modules.add("precision")
    view["modules"] = modules | model_modules(program)
    view["optim"] = any(item["optimizer"].startswith("optim.") for item in optimizers)
    bind_externs(config, program)  # the user functions the models call
    view["extensions"] = uses_user_code(config)
    view["reference"] = sampler_imports(program)  # a time sampler's numpy draws
    fields["imports"] = mlx_imports(view)
    fields["config"] = config.blocks()
    fields["packages"] = literal(("specc", "mlx", "numpy"))
    return fields


def language_model_fields(program, config: Config) -> dict:
    """The CE call (with its ignore_index / label_smoothing), its weight and the
    ``expected_value_terms`` table of the configuration."""
    view = program_language_model_view(program)
    arguments = cross_entropy_term_arguments(program.objective)
    terms = {
        term["name"]: {key: term[key] for key in ("modality", "file", "start", "sample_k")} | term["options"]
        for term in view["terms"]
    }
    if terms:
        config.add("objective", "expected_value_terms", terms, "objective.loss")
    cross_entropy = view["cross_entropy"] or {}
    return {
        "target": literal(program.objective.target),
        # the spec's order: positions are drawn term after term from one stream, so the
        # (sorted) configuration table must not decide it
        "term_names": literal(tuple(terms)),
        "term_options": any(term["options"] for term in view["terms"]),  # a file key or trust written
        "has_terms": bool(terms),
        "cross_entropy": call("losses.cross_entropy", "logits", "labels", **literal_values(cross_entropy_options(arguments))),
        "cross_entropy_weight": literal(float(cross_entropy.get("weight", 1.0))),
    }


def language_model_metrics(program, evaluation: dict) -> list[dict]:
    view = program_language_model_view(program)
    cross_entropy = view["cross_entropy"] or {}
    ignore = cross_entropy.get("ignore_index")
    return metric_calls(program, evaluation, "", "logits", labels="labels", ignore=literal(ignore) if ignore is not None else "")


def config(program, context: dict) -> list[dict]:
    """The configuration block (what the spec set, plus the values the loop reads: batch
    size, learning rate, steps, seed, intervals); fills ``context["mlx"]``."""
    context["mlx"] = mlx_fields(program, context)
    context["model"]["functions"] = loss_functions(program)  # graph("...") losses: module-level functions
    return context["mlx"]["config"]


def adversarial_fields(program, config: Config) -> dict:
    """The reconstruction terms as direct calls, the GAN weights (config names when the spec
    set them) and the models' output structures."""
    view = program_adversarial_view(program)
    terms = [
        {"name": term["name"], "code": reconstruction_call(term, "target"), "weight": literal(float(term["weight"]))}
        for term in view["reconstruction"]
    ]
    used = [("kl_weight", view["weights"]["kl"])] if view["statistics"] else []
    if view["adversarial"]:
        used += [
            ("adversarial_weight", view["weights"]["adversarial"]),
            ("feature_matching_weight", view["weights"]["feature_matching"]),
            ("adversarial_warmup", view["warmup"]),
        ]
    weights = {name: config.argument("objective", name, value, f"objective.{name}") for name, value in used}
    return {"terms": terms, "weights": weights, "target": literal(program.objective.target)}


def adversarial_optimizers(program, config: Config, total: str) -> list[dict]:
    """Generator then discriminator: ``{"model", "optimizer", "schedule", "lr", "learning_rate"}``
    of the named optimizer whose ``models`` list the model, else of the optimizer named like
    the role (``generator``)."""
    found = []
    for role, model, plan in role_optimizer_plans(program):
        prefix = identifier(plan.name) if plan.name else (role if program.objective.kind == "adversarial" else "")
        calls = optimizer_call(plan, config, "optimization", total, prefix=prefix)
        found.append({"model": model, "role": role, **calls})
    return found
