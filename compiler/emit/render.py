"""Render an ``ir.Program`` into one training script for one backend.

``render(program, backend)`` builds a template context (:func:`build_context`), renders
``templates/<backend>/...`` with jinja2 (StrictUndefined, no autoescape, trailing newline
kept) and formats the result with ``ruff format`` (black's style, pinned). The output is
byte-identical for the same IR.

Templates are dumb: every decision is made here or in the backend table
(``specc.compiler.backends.<name>``). Spec values reach code only through the filters of
:mod:`specc.compiler.emit.filters` (``literal``, ``identifier``, ``dotted_name``,
``comment``).

Context fields every template can use (see docs/backends.md):

- ``backend``: the :class:`~specc.compiler.backends.Backend` table;
- ``header``: spec_name, spec_path, spec_hash, specc_version, language_version, ir_version,
  command;
- ``config``: the configuration block the backend module's ``config(program, context)``
  hook builds (groups ``{"title", "entries"}``; :mod:`specc.compiler.emit.configuration`);
- ``models``: per model, :func:`specc.compiler.emit.models.model_view`; ``model`` is the
  objective's first model;
- ``objective``: kind, flags (``is_classification``, ``is_regression``, ``is_flow``),
  ``target``, ``inputs`` (model input -> ``("data", field)`` or ``("objective", name)``),
  ``condition_inputs`` (model inputs fed from data fields other than the target);
- ``train``, ``checkpoint``, ``early_stopping``, ``evaluation``: the plan's values;
- whatever the backend's ``context`` hook adds.
"""

from __future__ import annotations

import functools
import importlib
import subprocess
from pathlib import Path

import jinja2
from specc.compiler import ir
from specc.compiler.backends import Backend, Refusal, get_backend
from specc.compiler.emit.calls import velocity_h, velocity_signature
from specc.compiler.emit.configuration import plain
from specc.compiler.emit.extensions import path_value, python_value, time_value, user_loss
from specc.compiler.emit.filters import FILTERS, EmitError, identifier, literal
from specc.compiler.emit.models import model_view
from specc.compiler.emit.names import free_name, render_without_shadowing
from specc.compiler.emit.objectives import adversarial_view, generator_loop, label_ranges, language_model_view

import specc

TEMPLATE_ROOT = Path(__file__).resolve().parents[2] / "templates"
# ruff's formatter, the version pinned in pyproject.toml: black's layout at a tenth of a second
# less per script (docs/performance.md, "Compile"). --isolated: no configuration file of the
# folder the compiler runs in changes the output.
FORMAT_COMMAND = ("format", "--isolated", "--line-length", "100", "--target-version", "py311", "-")


@functools.lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The one jinja2 environment: strict, no autoescape, trailing newline kept."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_root())),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(FILTERS)
    return env


def template_root() -> Path:
    """Folder holding ``<backend>/`` and ``common/`` templates (the ``specc.templates`` package)."""
    try:
        import specc.templates as package

        return Path(package.__file__).resolve().parent
    except (ImportError, TypeError):
        return TEMPLATE_ROOT


def render(program: ir.Program, backend: str) -> str:
    """The formatted training script of ``program`` for ``backend``."""
    table = get_backend(backend)
    check_capabilities(program, table)
    template = table.objective_templates.get(program.objective.kind, table.template)

    def render_once(current: ir.Program) -> str:
        context = build_context(current, table)
        return format_source(environment().get_template(template).render(**context))

    tables = (lambda current: list(parameter_tables(current).values())) if len(program.models) > 1 else (lambda _: [])
    return render_without_shadowing(program, render_once, tables)


def parameter_tables(program: ir.Program) -> dict[str, str]:
    """Model name -> the name of its parameter table in a script holding several models
    (``VAE_PARAMETERS``): the name in capitals, made unique (``g`` and ``G``)."""
    tables: dict[str, str] = {}
    for graph in program.models:
        tables[graph.name] = free_name(f"{graph.name}_parameters".upper(), tables.values())
    return tables


class NotImplementedByBackend(EmitError):
    """The program uses something the backend's template does not render yet."""


def check_capabilities(program: ir.Program, table: Backend) -> None:
    """Refuse (rather than render wrong code for) what the backend table does not list or
    refuses. The checker reports the same facts with positions for a program checked against
    ``table``'s backend; this guards programs checked without one (``pipeline.check(...,
    backend=None)``): it reads the same table, so the two cannot disagree."""
    used = [("objective", program.objective.kind), ("precision", program.train.precision)]
    used += [("optimizer", plan.optimizer.kind) for plan in program.optimizers]
    used += [("schedule", plan.schedule.kind) for plan in program.optimizers if plan.schedule is not None]
    for sampler in (program.evaluation.sampler, program.evaluation.test_sampler):
        if sampler is not None:
            used.append(("sampler", sampler.kind))
    for kind, value in used:
        if not table.supports(kind, value):
            raise NotImplementedByBackend(f"{kind} {value!r} is not implemented by the {table.name} backend yet")
    for refusal in table.refusals:
        if isinstance(refusal, Refusal) and refusal.objective in (None, program.objective.kind):
            if refusal.applies(program_value(program, refusal.path)):
                raise NotImplementedByBackend(
                    f"{refusal.feature} with objective `{program.objective.kind}` is not implemented by "
                    f"the {table.name} backend yet"
                )


def program_value(program: ir.Program, path: tuple[str, ...]):
    """The IR value at a refusal's spec path (``("train", "checkpoint", "last")``): the IR's
    plans carry the spec's key names; an unset optional section gives None."""
    value = program
    for part in path:
        value = getattr(value, part, None)
    return value


def format_source(text: str) -> str:
    """``text`` laid out by ``ruff format`` (``FORMAT_COMMAND``, read from stdin); a
    formatting failure is a compiler bug named as such, a formatter that cannot run (ruff
    missing from the environment) an installation problem named as such."""
    try:
        result = subprocess.run(
            [formatter(), *FORMAT_COMMAND], input=text, capture_output=True, text=True, encoding="utf-8", check=False
        )
    except (ImportError, OSError) as error:  # no ruff package, no executable, not executable
        raise EmitError(f"cannot run the ruff formatter ({error}): reinstall specc (pip install specc) to get ruff") from error
    if result.returncode != 0:
        raise EmitError(f"generated code does not parse (a specc bug): {result.stderr.strip()}")
    return result.stdout


@functools.lru_cache(maxsize=1)
def formatter() -> str:
    """The path of the ``ruff`` executable the ``ruff`` package installed beside specc."""
    from ruff.__main__ import find_ruff_bin

    return str(find_ruff_bin())


# train.remat: the runtime function that recomputes a repeat's pass in the backward pass
REMAT_CALLS = {"jax": "jax_training.checkpointed", "lightning": "torch_training.checkpointed", "mlx": "mlx_training.checkpointed"}


def build_context(program: ir.Program, table: Backend) -> dict:
    """Everything a template needs, computed in Python."""
    tables = parameter_tables(program)
    checkpoint = REMAT_CALLS[table.name] if program.train.remat else ""  # train.remat
    models = {
        graph.name: {**model_view(graph, table.module_list, checkpoint), "table": tables[graph.name]}
        for graph in program.models
    }
    model_name = program.objective.models[0] if program.objective.models else program.models[0].name
    context = {
        "backend": table,
        "header": header(program, table),
        "models": [models[graph.name] for graph in program.models],
        "model": models[model_name],
        "objective": objective_view(program, models[model_name]),
        "data": data_view(program.data, label_ranges(program)),
        "train": program.train,
        "checkpoint": program.train.checkpoint,
        "early_stopping": program.train.early_stopping,
        "evaluation": evaluation_view(program),
        "penalties": bool(program.train.penalties),
        "optimizers": [optimizer_view(plan) for plan in program.optimizers],
        "optimizer": optimizer_view(program.optimizers[0]),
    }
    if program.objective.kind == "language_model":
        context["language_model"] = language_model_view(program, context["model"])
    if generator_loop(program):
        context["adversarial"] = adversarial_view(program, models)
    context["evaluation"].update(sampler_calls(context["objective"], context["evaluation"]["sampler"]))
    nulls = context["objective"]["nulls"]
    context["evaluation"]["guided"] = context["evaluation"]["guided"] and bool(nulls)
    context["parameters"] = models[model_name]["parameters"] + [
        {"name": null["parameter"], "shape": null["shape"], "init": "zeros", "fan_in": 1} for null in nulls
    ]
    backend_fields = importlib.import_module(f"specc.compiler.emit.{table.name}")
    context.update(backend_fields.context(program))
    context["config"] = backend_fields.config(program, context)  # the backend's own block
    return context


def sampler_calls(objective: dict, sampler: str) -> dict:
    """How ``sample`` calls ``call_model``: the velocity's parameters and the ``h`` argument.

    An integrator (euler, heun, rk4) calls ``velocity(x_t, t)``: the instantaneous velocity,
    ``h = 0`` for a mean-flow model. ``one_step`` calls ``velocity(x_t, t, r)``:
    ``x_0 = x_1 - u(x_1, t = 1, r = 0)`` with ``h = t - r`` (a flow-matching model has no
    ``h``: one Euler step).
    """
    return {"sample_signature": velocity_signature(sampler), "sample_h": velocity_h(sampler, objective["is_mean_flow"])}


def header(program: ir.Program, table: Backend) -> dict:
    return {
        "spec_name": program.spec_name,
        "spec_path": program.spec_path,
        "spec_hash": program.spec_hash,
        "specc_version": specc.__version__,
        "language_version": program.language_version,
        "ir_version": program.ir_version,
        "resolved_source": program.resolved_source,
        "backend": table.name,
        "command": f"specc compile {program.spec_path} --backend {table.name} -o train.py && python train.py",
    }


def component_argument(value) -> tuple[str, dict]:
    """A component-valued argument (``path = linear(noise_min = 0.0)``) as (kind, arguments).

    Accepted IR forms: a bare kind ``"uniform"``, ``(kind, ((key, value), ...))``,
    ``(("kind", kind), (key, value), ...)`` or ``(("arguments", ...), ("kind", kind))``.
    """
    if value is None:
        return "", {}
    if isinstance(value, str):
        return value, {}
    data = plain(value)
    if isinstance(data, dict) and "kind" in data:
        if "arguments" in data:
            return data["kind"], dict(data["arguments"] or {})
        return data["kind"], {key: item for key, item in data.items() if key != "kind"}
    if isinstance(data, tuple) and len(data) == 2 and isinstance(data[0], str):
        return data[0], dict(data[1] or {})
    raise EmitError(f"cannot read a component from {value!r}")


LOADER_KEYS = ("batch_size", "coupling")


def source_arguments(plan: ir.DataPlan) -> dict:
    """The data source's constructor arguments (loader-level keys such as ``coupling`` removed)."""
    arguments = plain(plan.source.arguments) or {}
    return {name: value for name, value in arguments.items() if name not in LOADER_KEYS}


def data_view(plan: ir.DataPlan, labels: dict | None = None) -> dict:
    """The data source and its fields; ``label`` is a field's class range (``label_ranges``)."""
    labels = labels or {}
    arguments = plain(plan.source.arguments) or {}
    return {
        "source": plan.source.kind,
        "arguments": source_arguments(plan),
        "coupling": arguments.get("coupling"),
        "fields": [
            {"name": item.name, "dtype": item.type.dtype, "shape": tuple(item.type.shape), "label": labels.get(item.name, ())}
            for item in plan.fields
        ],
        "batch_size": plan.batch_size,
    }


def optimizer_view(plan: ir.OptimizerPlan) -> dict:
    schedule = plan.schedule
    return {
        "name": plan.name,
        "kind": plan.optimizer.kind,
        "arguments": plain(plan.optimizer.arguments) or {},
        "schedule_kind": schedule.kind if schedule else "constant",
        "schedule_arguments": (plain(schedule.arguments) or {}) if schedule else {},
        "models": list(plan.models),
    }


# What each evaluation metric is computed on: the model's output on a batch ("output"),
# samples of a generative objective ("samples"), or signals rendered from samples ("signal").
METRIC_INPUTS = {
    "accuracy": "output",
    "mse": "output",
    "mae": "output",
    "perplexity": "output",
    "graph": "output",  # a metric written in the spec: a function of the script (emit.graph_losses)
    "chamfer": "samples",
    "linear_assignment": "samples",
    "spectral_distribution_distance": "samples",
    "log_spectral_distance": "signal",
}
SIGNAL_SOURCES = frozenset({"ksin"})


def evaluation_view(program: ir.Program) -> dict:
    """Sampler and metrics; each metric with the quantity it is computed on."""
    plan = program.evaluation
    sampler_kind, sampler_arguments = ("", {})
    if plan.sampler is not None:
        sampler_kind, sampler_arguments = plan.sampler.kind, plain(plan.sampler.arguments) or {}
    metrics = []
    for metric in plan.metrics:
        on = METRIC_INPUTS.get(metric.kind)
        if on is None:
            raise EmitError(f"metric {metric.kind!r} has no evaluation rule in the emitter")
        renders = (plain(program.data.source.arguments) or {}).get("render") is not None  # data { render = ... }
        if on == "signal" and program.data.source.kind not in SIGNAL_SOURCES and not renders:
            raise EmitError(f"metric {metric.kind!r} needs signals, which data source {program.data.source.kind!r} cannot render")
        if program.objective.kind in FLOW_OBJECTIVES and metric.kind == "mse":
            continue  # flows log the unweighted mse of the loss already
        if program.objective.kind in FLOW_OBJECTIVES and on == "output":
            on = "samples"  # a flow's output metric (mae) compares its samples with the data
        metrics.append({"kind": identifier(metric.kind), "arguments": plain(metric.arguments) or {}, "on": on})
    for index, graph in plan.metric_graphs:  # graph("block"): logged under the block's name, no arguments
        metrics[index] = {"kind": identifier(graph.name), "arguments": {}, "on": "output", "function": identifier(graph.name)}
    # train.metrics: computed with the loss on every batch (the loss function's values), so an
    # evaluation that calls the loss function has them already (MLX's lists them itself)
    train_metrics = [{"kind": identifier(metric.kind), "arguments": plain(metric.arguments) or {}, "on": "output"}
                     for metric in program.train.metrics]
    metrics = [metric for metric in metrics if metric["kind"] not in {item["kind"] for item in train_metrics}]
    test_kind, test_arguments = ("", {})
    if plan.test_sampler is not None:
        test_kind, test_arguments = plan.test_sampler.kind, plain(plan.test_sampler.arguments) or {}
    guided = plan.sampler is not None and sampler_arguments["cfg_scale"] != 1.0
    return {
        "sampler": sampler_kind,
        "sampler_steps": sampler_arguments.get("steps"),  # one_step has none
        "cfg_scale": sampler_arguments.get("cfg_scale"),
        "sampler_arguments": sampler_arguments,
        "metrics": metrics,
        "train_metrics": train_metrics,
        "needs_samples": any(metric["on"] in ("samples", "signal") for metric in metrics),
        "guided": guided or (plan.test_sampler is not None and test_arguments["cfg_scale"] != 1.0),
        "batch_size": plan.batch_size,
        # the test split's own sampler (gap 20): ``split`` threads the split name to ``sample``
        "test_sampler": test_kind,
        "test_sampler_steps": test_arguments.get("steps"),
        "test_cfg_scale": test_arguments.get("cfg_scale"),
        "split": ", split" if test_kind else "",
    }


FLOW_OBJECTIVES = frozenset({"flow_matching", "mean_flow", "improved_mean_flow"})
# Objectives training an average velocity u(z, t, r) = f(z, t, h = t - r): the model's ``h``
# input is fed by the objective (``h`` in the generated ``call_model``), not pinned to 0.
MEAN_FLOW_OBJECTIVES = frozenset({"mean_flow", "improved_mean_flow"})
# The runtime loss each flow objective calls (``losses.<name>``).
FLOW_LOSSES = {
    "flow_matching": "flow_matching_loss",
    "mean_flow": "mean_flow_loss",
    "improved_mean_flow": "improved_mean_flow_loss",
}


def objective_view(program: ir.Program, model: dict) -> dict:
    """How the objective feeds the model: which inputs come from data, which from the flow.

    ``model_arguments`` are the expressions of the model call, in the model's input order:
    ``batch["x"]`` for data fields; for flows ``x_t``, ``t``, ``t * 0`` for ``h`` and
    ``conditions["signal"]`` (conditions after CFG dropout).
    """
    plan = program.objective
    arguments = plain(plan.arguments) or {}
    bindings = dict(plan.inputs)
    is_flow = plan.kind in FLOW_OBJECTIVES
    is_mean_flow = plan.kind in MEAN_FLOW_OBJECTIVES
    inputs = []
    for name in model["inputs"]:
        source = bindings.get(name, f"data.{name}")
        scope, _, field = source.partition(".")
        if scope not in ("data", "objective"):
            raise EmitError(f"model input {name!r} bound to unknown source {source!r}")
        inputs.append({"name": name, "scope": scope, "field": field})
    conditions = [item for item in inputs if item["scope"] == "data" and item["field"] != plan.target]
    view = {
        "kind": plan.kind,
        "target": plan.target,
        "inputs": inputs,
        "conditions": conditions,
        "model_arguments": [model_argument(item, is_flow, is_mean_flow) for item in inputs],
        "arguments": arguments,
        "is_classification": plan.kind == "classification",
        "is_regression": plan.kind == "regression",
        "is_flow": is_flow,
        "is_mean_flow": is_mean_flow,
        "loss_function": FLOW_LOSSES.get(plan.kind, ""),
        "nulls": [],
    }
    if is_flow:
        view.update(flow_view(arguments, program))
        if is_mean_flow and view["time"] != "mean_flow":
            raise EmitError(
                f"objective {plan.kind} needs time = mean_flow(...) (the sampler drawing the pair (t, r)); "
                f"got time = {view['time']}"
            )
        if view["cfg_dropout"] > 0:
            view["nulls"] = null_conditions(conditions, model, program)
    return view


def model_argument(item: dict, is_flow: bool, is_mean_flow: bool = False) -> str:
    """The expression feeding one model input (built from checked names and literals).

    ``h`` is ``t * 0`` for flow matching and the ``h = t - r`` argument of ``call_model`` for
    the mean-flow objectives.
    """
    if item["scope"] == "objective":
        if item["field"] not in ("x", "t", "h"):
            raise EmitError(f"the objective supplies no quantity {item['field']!r}")
        return {"x": "x_t", "t": "t", "h": "h" if is_mean_flow else "t * 0"}[item["field"]]
    collection = "conditions" if is_flow else "batch"
    return f"{collection}[{literal(item['field'])}]"


def null_conditions(conditions: list, model: dict, program: ir.Program) -> list[dict]:
    """The learned null embeddings of classifier-free guidance, one per condition input:
    parameter ``null_condition`` (``null_condition_<input>`` when there are several)."""
    shapes = {field.name: tuple(field.type.shape) for field in program.data.fields}
    nulls = []
    for item in conditions:
        name = "null_condition" if len(conditions) == 1 else f"null_condition_{item['name']}"
        nulls.append({"input": item["field"], "parameter": identifier(name), "shape": shapes[item["field"]]})
    return nulls


def flow_view(arguments: dict, program: ir.Program) -> dict:
    """The flow objective's values as lowering filled them (``gamma`` and ``c`` exist for
    ``mean_flow`` only, ``weighted`` for the others)."""
    path_kind, path_arguments = component_argument(arguments["path"])
    time_kind, time_arguments = component_argument(arguments["time"])
    coupling = (plain(program.data.source.arguments) or {}).get("coupling")
    path_user = python_value(arguments["path"]) or path_value(program.objective)
    time_user = python_value(arguments["time"]) or time_value(program.objective)
    return {
        "path": path_kind,
        "path_arguments": {} if path_user else path_arguments,
        "path_user": path_user,  # a python(...) path: compiler/emit/extensions.py
        "time": time_kind,
        "time_arguments": {} if time_user else time_arguments,
        "time_user": time_user,
        "loss_user": user_loss(program.objective),  # python(...): replaces the weighted L2 / MSE
        "cfg_dropout": float(arguments["cfg_dropout"]),
        "weighted": arguments.get("weighted"),
        "gamma": arguments.get("gamma"),
        "c": arguments.get("c"),
        "coupling": None if coupling in (None, "none") else coupling,
    }
