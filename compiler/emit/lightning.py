"""The lightning backend's own template fields (the emitter half of its backend table,
``specc.compiler.backends.lightning``).

Every decision the generated script would otherwise take at run time is taken here: which
optimizer class with which arguments, which schedule formula, which callbacks, which loss
and metric calls, which imports. :func:`context` returns them as ``lightning`` (code
fragments built with the filters of :mod:`specc.compiler.emit.filters` only);
:func:`config` returns the configuration block: the values the spec set (with their spec
line) and the few a reader looks for first (batch size, learning rate, steps, seed,
cadences). Every other value is written as a literal where it is used.
"""

from __future__ import annotations

import inspect

from specc.compiler.emit.calls import (
    code_keywords,
    cross_entropy_options,
    evaluation_splits,
    reconstruction_call,
    sampler_splits,
    velocity_h,
    velocity_signature,
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
from specc.compiler.emit.imports import lightning_imports
from specc.compiler.emit.models import bind_externs
from specc.compiler.emit.objectives import generator_loop, label_ranges
from specc.compiler.emit import predictions
from specc.compiler.emit.signals import render_call, target_signals
from specc.compiler.emit.trainer import (
    limit_keyword,
    logger_arguments,
    callback_settings,
    checkpoint_values,
    optional_training_values,
    penalties,
    program_callbacks,
    role_optimizer_plans,
)
from specc.runtime.data import LOADER_KEYS
from specc.runtime.data.loader import LOADER_OPTIONS
from specc.compiler.emit.lightning_settings import Settings, clips_by_logged_norm, optimizer_view, same, spec_set, without_defaults

DEFAULT_CALLBACKS = (("progress_bar", {"refresh_rate": 10}), ("lr_monitor", {"interval": "step"}), ("grad_norm_monitor", {}))
PRECISIONS = {"fp32": "32-true", "bf16": "bf16-mixed", "fp16": "16-mixed"}
# metrics whose labels may hold the loss's ignored id
IGNORING_METRICS = frozenset({"accuracy", "perplexity"})


# ----------------------------------------------------------------------------- data


def data_view(program, settings: Settings) -> dict:
    """The source call (``make_source(kind, **data_arguments)``), the loader options and the
    field check. ``data_arguments`` holds what the spec set and what the runtime has no
    default for (or another default than the registry's); the rest is the runtime's own."""
    source = program.data.source
    arguments = plain(source.arguments) or {}
    kept, loader = {}, False
    for name, value in sorted(arguments.items()):
        if name in ("batch_size", "coupling", "eval_batch_size"):
            continue
        origin = settings.origin(f"data.{name}")
        if name in LOADER_OPTIONS or name in LOADER_KEYS:
            default = LOADER_OPTIONS.get(name, (None, None))[1]
            if spec_set(origin) or value != default:
                kept[name], loader = value, True
            continue
        default = source_default(source.kind, name)
        if spec_set(origin) or default is inspect.Parameter.empty or value != default:
            kept[name] = value
    if kept:
        lines = [{"key": key, "value": kept[key], "origin": settings.origin(f"data.{key}") if spec_set(settings.origin(f"data.{key}")) else ""} for key in sorted(kept)]
        settings.add("data", "data_arguments", kept, lines=lines)
    batch = settings.value("data", "batch_size", program.data.batch_size, "data.batch_size", always=True)
    eval_size = program.evaluation.batch_size or program.data.batch_size
    eval_batch = batch
    if spec_set(settings.origin("data.eval_batch_size")) or eval_size != program.data.batch_size:
        eval_batch = settings.value("data", "eval_batch_size", eval_size, "data.eval_batch_size", always=True)
    labels = label_ranges(program)
    fields = ", ".join(
        f"{literal(item.name)}: ({literal(item.type.dtype)}, {literal(tuple(item.type.shape))}"
        + "".join(f", {literal(value)}" for value in labels.get(item.name, ()))
        + ")"
        for item in program.data.fields
    )
    return {
        "source": literal(source.kind),
        "arguments": bool(kept),
        "loader": loader,
        "fields": "{" + fields + "}",
        "batch_size": batch,
        "eval_batch_size": eval_batch,
        "limit": limit_keyword(program, lambda value: settings.value(
            "training", "limit_train_batches", value, "train.limit_train_batches", always=True)),
    }


# ----------------------------------------------------------------------------- optimization


# ----------------------------------------------------------------------------- objective


def loss_arguments(program, settings: Settings) -> list[tuple[str, str]]:
    """``ignore_index`` / ``label_smoothing`` of the classification loss, when set."""
    pairs = []
    for term in program.objective.terms:
        if term.loss.kind != "cross_entropy":
            continue
        for name, value in cross_entropy_options(plain_arguments(term.loss)).items():
            pairs.append((name, settings.value("objective", name, value, "objective.loss", always=True)))
    return pairs


def flow_view(program, context: dict, settings: Settings) -> dict:
    """The flow loss call, the draws of the data pipeline and the samplers."""
    objective = context["objective"]
    pairs = [("path", flow_code(settings, objective, "path"), objective["path"])]
    for name, value in sorted(objective["path_arguments"].items()):
        pairs.append((name, settings.value("objective", name, value, "objective.path"), value))
    cfg = settings.value("objective", "cfg_dropout", objective["cfg_dropout"], "objective.cfg_dropout")
    time_pairs = [("time", flow_code(settings, objective, "time"))]
    if objective["time_arguments"]:
        time_pairs.append(("time_arguments", literal(objective["time_arguments"])))
    if objective["coupling"]:
        time_pairs.append(("coupling", settings.value("data", "coupling", objective["coupling"], "data.coupling")))
    conditions = literal([item["field"] for item in objective["conditions"]])
    target = literal(objective["target"])
    view = {
        "draws": f"{target}, {conditions}, {code_keywords(time_pairs)}",
        "conditions": "{" + ", ".join(f"{literal(item['field'])}: batch[{literal(item['field'])}]" for item in objective["conditions"]) + "}",
        "cfg_dropout": cfg if objective["cfg_dropout"] > 0 else None,
    }
    if objective["loss_user"]:  # the user's loss replaces the weighted L2 and its settings
        items = list(pairs)
    elif program.objective.kind == "mean_flow":
        gamma = settings.value("objective", "gamma", objective["gamma"], "objective.gamma", always=True)
        constant = settings.value("objective", "weight_constant", objective["c"], "objective.c", always=True)
        items = [("gamma", gamma, objective["gamma"]), ("c", constant, objective["c"])] + pairs
    else:
        weighted = settings.value("objective", "weighted", objective["weighted"], "objective.weighted")
        items = pairs + [("weighted", weighted, objective["weighted"])]
    items += [(name, code, code) for name, code in flow_loss_keywords(settings, objective).items()]
    function = {"flow_matching": "flow_matching_loss", "mean_flow": "mean_flow_loss"}.get(program.objective.kind, "improved_mean_flow_loss")
    view["loss_arguments"] = code_keywords(without_defaults(settings, "losses", function, items))
    evaluation = context["evaluation"]
    samplers = []
    for split, name, key in sampler_splits(evaluation):
        kind, steps, scale = (evaluation[f"{name}{field}"] for field in ("sampler", "sampler_steps", "cfg_scale"))
        steps_code = None if kind == "one_step" else settings.value("evaluation", f"{name}sampler_steps", steps, key, always=True)
        guided = scale != 1.0 and bool(objective["nulls"])
        scale_code = settings.value("evaluation", f"{name}cfg_scale", scale, key, always=True) if guided else None
        samplers.append(
            {
                "split": split,
                "one_step": kind == "one_step",
                "method": literal(kind),
                "steps": steps_code,
                "cfg_scale": scale_code,
                "signature": velocity_signature(kind),
                "h": velocity_h(kind, objective["is_mean_flow"]),
            }
        )
    view["samplers"] = samplers
    view["split_samplers"] = len(samplers) > 1
    return view


def metric_calls(program, context: dict, loss_pairs, settings: Settings) -> tuple[list[dict], dict]:
    """Each evaluation metric as one call on what it is computed on, and which of those
    quantities (samples, signals) the evaluation needs."""
    objective = context["objective"]
    target = f"batch[{literal(objective['target'])}]" if objective["target"] else ""
    kind = program.objective.kind
    output = {"classification": "logits", "regression": "prediction", "language_model": "logits"}.get(kind, "output")
    labels = "labels" if kind == "language_model" else target
    needs = {"samples": False, "signals": False}
    calls = []
    ignore = [pair for pair in loss_pairs if pair[0] == "ignore_index"]
    for metric in context["evaluation"]["metrics"]:
        if metric.get("function"):  # a metric written in the spec: a function of the script
            calls.append({"name": literal(metric["kind"]), "call": f"{metric['function']}({output}, {labels})"})
            continue
        items = [(name, literal(value), value) for name, value in sorted(metric["arguments"].items())]
        arguments = without_defaults(settings, "metrics", metric["kind"], items)
        if metric["kind"] in IGNORING_METRICS:
            arguments = ignore + [pair for pair in arguments if pair[0] != "ignore_index"]
        if metric["on"] == "signal":
            needs["samples"] = needs["signals"] = True
            first = "signals"
            second = target_signals(program, lambda code: f"{code}.float().cpu().numpy()",
                                    lambda code: f"torch.from_numpy({code}).to(samples.device)")
        elif metric["on"] == "samples" or objective["is_flow"]:
            needs["samples"] = True
            first, second = "samples", target
        else:
            first, second = (output, labels) if not generator_loop(program) else ("reconstruction", target)
        rest = (", " + code_keywords(arguments)) if arguments else ""
        calls.append({"name": literal(metric["kind"]), "call": f"metrics.{identifier(metric['kind'])}({first}, {second}{rest})"})
    return calls, needs


def callbacks_view(program, settings: Settings) -> dict:
    """``train.callbacks``: a progress bar refreshed every N steps, ``lr`` rows (with the
    train rows or once per epoch), ``grad_norm`` rows. Unset: the default list."""
    items = program_callbacks(program)
    if not items and not spec_set(settings.origin("train.callbacks")):
        items = list(DEFAULT_CALLBACKS)
    view = callback_settings(items)
    unknown = view.pop("unknown")
    if unknown:
        raise EmitError(f"callback {unknown[0]!r} has no lightning rendering")
    view["progress"] = None if view["progress"] is None else literal(view["progress"])
    return {**view, "user": user_callbacks(program, settings)}


# ----------------------------------------------------------------------------- hooks


def context(program) -> dict:
    """No backend-only field: what the generator loop does not render is refused by the checker
    (``compiler/backends/lightning.py``, E0801); :func:`config` computes the rest."""
    return {}


def config(program, context: dict) -> list[dict]:
    """The configuration block; fills ``context["lightning"]`` with the script's decisions."""
    settings = Settings(program)
    train = program.train
    view = {"data": data_view(program, settings), "evaluation": evaluation_splits(program)}
    if generator_loop(program):
        view.update(adversarial_fields(program, context, settings))
    else:
        view["loss_arguments"] = loss_arguments(program, settings)
        view["loss_keywords"] = ("" if not view["loss_arguments"] else ", " + code_keywords(view["loss_arguments"]))
        output = "logits" if program.objective.kind == "classification" else "prediction"
        view["user_loss"] = loss_values(settings, program.objective, output, f"batch[{literal(program.objective.target)}]")
        if context["objective"]["is_flow"]:
            view["flow"] = flow_view(program, context, settings)
    view.update(training_fields(program, context, settings))
    if generator_loop(program):
        view["optimizers"] = []
        for role, plan in view["roles"]:
            models = list(plan.models) or [program.objective.models[0] if role == "generator" else program.objective.models[1]]
            found = [f"self.model.{identifier(name)}.parameters()" for name in models]
            parameters = found[0] if len(found) == 1 else "[*" + ", *".join(found) + "]"
            if train.freeze:
                parameters = f"[p for p in {parameters} if p.requires_grad]"  # frozen ones get no update
            view["optimizers"].append(dict(optimizer_view(program, plan, settings, f"{role}_", view["total"]), role=role, parameters=parameters))
    else:
        view["optimizers"] = [optimizer_view(program, program.optimizers[0], settings, "", view["total"])]
    view["uses_total"] = any("self.total_steps" in (optimizer["schedule"] or "") for optimizer in view["optimizers"])
    if program.objective.kind == "language_model":
        view["terms"] = language_model_terms(context["language_model"])
    view["metrics"], view["needs"] = metric_calls(program, context, view.get("loss_arguments", []), settings)
    split = ', "test"' if view.get("flow", {}).get("split_samplers") else ""  # the test sampler's when set
    view["predict"] = predictions.predict_view(program, "lightning", context["objective"]["model_arguments"], split)
    trained = {**context, "evaluation": {"metrics": context["evaluation"]["train_metrics"]}}  # train.metrics
    view["train_metrics"], _ = metric_calls(program, trained, view.get("loss_arguments", []), settings)
    view["render"] = render_call(program, "samples.float().cpu().numpy()")  # signals of the samples (emit/signals.py)
    bind_externs(settings, program)  # the user functions the models call
    view["imports"] = lightning_imports(program, context, view, uses_user_code(settings))
    view["precision_name"] = PRECISIONS[train.precision]
    context["lightning"] = view
    context["model"]["functions"] = loss_functions(program)  # graph("...") losses: module-level functions
    return settings.blocks()


def training_fields(program, context: dict, settings: Settings) -> dict:
    train = program.train
    stopping = train.early_stopping
    checkpoint = train.checkpoint
    fields = {"callbacks": callbacks_view(program, settings)}
    if train.max_steps is not None:
        fields["max_steps"] = settings.value("training", "max_steps", train.max_steps, "train.max_steps", always=True)
        fields["max_epochs"] = None
        fields["total"] = fields["max_steps"]
    else:
        fields["max_steps"] = None
        fields["max_epochs"] = settings.value("training", "max_epochs", train.max_epochs, "train.max_epochs", always=True)
        fields["total"] = "self.total_steps"  # a schedule's total: the run's steps
    fields["precision"] = settings.value("training", "precision", PRECISIONS[train.precision], "train.precision")
    fields["sharded"] = train.parallel == "sharded"  # Lightning's FSDP (runtime/torch/sharding.py)
    fields["compile"] = train.compile  # torch.compile of the model (train.compile)
    fields["tf32"] = train.tf32  # TF32 on GPUs that have it unless train.tf32 = false
    fields["seed"] = settings.value("training", "seed", train.seed, "train.seed", always=True)
    fields["log_every"] = settings.value("training", "log_every", train.log_every, "train.log_every", always=True)
    fields["eval_every"] = settings.value("training", "eval_every", train.eval_every, "train.eval_every", always=True)
    fields["validation"] = fields["eval_every"] if train.eval_every is not None else "stop_step"
    fields["manual_clip"] = generator_loop(program)
    fields["grad_clip"] = None
    if train.grad_clip is not None:
        fields["grad_clip"] = settings.value("training", "grad_clip", train.grad_clip, "train.grad_clip", always=True)
        fields["grad_clip_mode"] = settings.value("training", "grad_clip_mode", train.grad_clip_mode, "train.grad_clip_mode")
    fields["clip_by_logged_norm"] = clips_by_logged_norm(program, fields["manual_clip"], fields["callbacks"]["grad_norm"])
    fields.update(optional_training_values(train, lambda name, value, key: settings.value("training", name, value, key, always=True)))
    if train.val_check_interval is not None:
        fields["val_check_interval"] = settings.value(
            "training", "val_check_interval", train.val_check_interval, "train.val_check_interval", always=True
        )
    else:
        fields["val_check_interval"] = None
    found = penalties(program)
    fields["penalties"] = settings.value("training", "penalties", found, "train.penalties", always=True) if found else None
    board = next((plain_arguments(logger) for logger in train.loggers if logger.kind == "tensorboard"), None)
    fields["tensorboard"] = board and {  # Lightning's own TensorBoardLogger: event files in save_dir/name
        "save_dir": literal(board["log_dir"]) if board.get("log_dir") else "str(run_dir)",
        "name": literal(board.get("name", "tensorboard")),
    }
    others = [logger for logger in train.loggers if logger.kind not in ("csv", "tensorboard")]
    fields["other_loggers"] = None
    if others:
        kinds = literal([logger.kind for logger in others])
        arguments = literal({logger.kind: logger_arguments(logger) for logger in others if logger_arguments(logger)})
        fields["other_loggers"] = f"{kinds}, run_dir, {arguments}"
    fields["checkpoint"] = checkpoint_values(checkpoint, settings.value)
    fields["checkpoint"]["every"] = fields["checkpoint"]["checkpoint_every"] or "None"
    fields["early_stopping"] = None
    if stopping is not None:
        pairs = []
        for name, default in (("monitor", None), ("patience", None), ("mode", "min"), ("min_delta", 0.0)):
            value = getattr(stopping, name)
            code = settings.value("checkpoints", f"early_stopping_{name}", value, f"train.early_stopping.{name}")
            if code in settings.names or not same(value, default):  # Lightning's default otherwise
                pairs.append((name, code))
        pairs.append(("check_on_train_epoch_end", "False"))
        if stopping.verbose:
            pairs.append(("verbose", "True"))
        fields["early_stopping"] = code_keywords(pairs)
    return fields


def language_model_terms(view: dict) -> list[dict]:
    """Each expected-value term: its array's arguments, weight and drawn positions."""
    return [
        {
            "name": literal(term["name"]),
            "function": literal(term["function"]),
            "buffer": identifier(f"array_{term['name']}"),
            "term": literal(term["modality"])
            + "".join(f", {key}={literal(term[key])}" for key in ("file", "start") if term[key] is not None)
            + "".join(f", {key}={literal(value)}" for key, value in term["options"].items()),
            "weight": literal(term["weight"]),
            "sample_k": literal(term["sample_k"]),
            "positions": literal(f"positions_{term['name']}"),
        }
        for term in view["terms"]
    ]


def adversarial_fields(program, context: dict, settings: Settings) -> dict:
    """The GAN's optimizers by role (discriminator first: Lightning's order of updates) and
    its loss weights."""
    adversarial = context["adversarial"]
    roles = [(role, plan) for role, _, plan in role_optimizer_plans(program, unnamed=True)]
    if not adversarial["adversarial"]:
        roles = roles[:1]
    arguments = plain(program.objective.arguments) or {}
    weights = {}
    for name, default in (("adversarial_weight", 1.0), ("feature_matching_weight", 10.0), ("kl_weight", 0.0), ("adversarial_warmup", 0)):
        if name not in arguments:  # objective vae: kl_weight alone
            continue
        value = arguments[name]
        weights[name] = settings.value("objective", name, value, f"objective.{name}")
    terms = [
        {
            "name": literal(term["name"]),
            "call": reconstruction_call(term, "real"),
            "weight": literal(term["weight"]),
        }
        for term in adversarial["reconstruction"]
    ]
    networks = [adversarial["generator"]] + ([adversarial["discriminator"]] if adversarial["adversarial"] else [])
    tables = [(network["table"], network) for network in networks]
    return {"roles": roles, "weights": weights, "terms": terms, "tables": tables}


