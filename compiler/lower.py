"""Lowering of the checked spec (everything but the model graphs) into ``ir.Program``.

``lower(...)`` reads the validated section values (defaults filled in), fills the derived
defaults (a schedule's ``peak`` / ``initial`` from its optimizer's ``lr``, ``total`` from
``train.max_steps``) and records the provenance of every configuration value.
Mappings become tuples of (key, value) pairs sorted by key; lists keep source order; so
the IR's JSON is the same on every run.
"""

from __future__ import annotations

import hashlib
import posixpath

import specc
from specc.compiler import ir
from specc.compiler.vocabulary import registry
from specc.compiler.check.resolve import Resolution
from specc.compiler.check.validate import Checked

_SECTION_ONLY = {"component", "checkpoint", "early_stopping"}
_OBJECTIVE_SLOTS = {"component", "model", "target", "inputs", "loss", "generator", "discriminator"}


def to_value(value) -> ir.Value:
    """Plain validated data -> IR value (dicts as sorted pairs, lists as tuples)."""
    if isinstance(value, dict):
        return tuple((key, to_value(value[key])) for key in sorted(value))
    if isinstance(value, (list, tuple)):
        return tuple(to_value(item) for item in value)
    return value


def component(data: dict, name: str = "") -> ir.Component:
    arguments = tuple((key, to_value(data[key])) for key in sorted(data) if key != "kind")
    return ir.Component(kind=data["kind"], arguments=arguments, name=name)


def _section_component(values: dict, skip=(), name: str = "") -> ir.Component:
    arguments = {key: value for key, value in values.items() if key not in _SECTION_ONLY and key not in skip}
    return component({"kind": values["component"], **arguments}, name)


class Lowering:
    def __init__(self, resolution: Resolution, checked: Checked):
        self.resolution = resolution
        self.sections = {key: section.values for key, section in checked.sections.items()}
        self.checked = checked
        self.derived: dict[str, str] = {}  # key -> origin of a value derived from others ("= optimizer.lr")
        self.fixed: tuple[str, ...] = ()  # freeze prefixes of the layers written `trainable = false`

    def fix_layers(self, models: tuple[ir.ModelGraph, ...], objective: ir.ObjectivePlan) -> None:
        """``train.freeze`` also holds the layers of the trained models written ``trainable =
        false``: by their path with one model (the one-model scripts match model-relative
        names), ``<model>.<path>`` with several (as ``frozen_masks`` / ``freeze_models`` do)."""
        several = len(objective.models) > 1
        self.fixed = tuple(
            f"{graph.name}.{path}" if several else path
            for graph in models
            if graph.name in objective.models
            for path in graph.fixed
        )
        written = self.checked.sections["train"].section.entries.get("freeze") is not None
        if self.fixed and not written:
            self.derived["train.freeze"] = "= layers with trainable = false"

    def data(self, fields: dict[str, ir.TensorType]) -> ir.DataPlan:
        values = self.sections["data"]
        source = _section_component(values, skip=("batch_size", "eval_batch_size", "fields"))
        return ir.DataPlan(
            source=source,
            fields=tuple(ir.Field(name, tensor) for name, tensor in fields.items()),
            batch_size=values["batch_size"],
        )

    def objective(self, graphs, bindings, target: str | None, loss_graphs: dict | None = None) -> ir.ObjectivePlan:
        values = self.sections["objective"]
        kind = values["component"]
        contract = registry.lookup("objective", kind).contract
        slots = [slot for slot in contract.models if not (slot == "discriminator" and values.get("use_adversarial") is False)]
        models = tuple(values.get(slot) or (next(iter(graphs)) if len(graphs) == 1 else "") for slot in slots)
        inputs = []
        for model in models:
            for model_input, source in bindings.get(model, ()):
                inputs.append((model_input if len(models) == 1 else f"{model}.{model_input}", source))
        arguments = tuple((key, to_value(values[key])) for key in sorted(values) if key not in _OBJECTIVE_SLOTS)
        written = values.get("loss") or ()
        if isinstance(written, dict):  # a flow objective's one loss component (the user's)
            written = ({"weight": 1.0, "term": written},)
        terms = tuple(
            ir.LossTerm(float(term["weight"]), component(term["term"]), (loss_graphs or {}).get(index))
            for index, term in enumerate(written)
        )
        return ir.ObjectivePlan(
            kind=kind, models=models, target=target, inputs=tuple(inputs), arguments=arguments, terms=terms,
            path_graph=(loss_graphs or {}).get("path"),
            time_graph=(loss_graphs or {}).get("time"),
        )

    def optimizers(self, objective: ir.ObjectivePlan, graphs) -> tuple[ir.OptimizerPlan, ...]:
        plans = []
        for key, section in self.resolution.sections.items():
            if section.kind != "optimizer":
                continue
            values = self.sections[key]
            name = section.name or ""
            models = tuple(values["models"]) or self.default_models(name, objective, graphs)
            schedule_key = f"schedule.{name}" if name else "schedule"
            schedule = self.schedule(self.sections.get(schedule_key), values["lr"], schedule_key, key)
            plans.append(
                ir.OptimizerPlan(
                    name=name, optimizer=_section_component(values, skip=("models",)), models=models, schedule=schedule
                )
            )
        return tuple(sorted(plans, key=lambda plan: plan.name))

    def default_models(self, name: str, objective: ir.ObjectivePlan, graphs) -> tuple[str, ...]:
        contract = registry.lookup("objective", objective.kind).contract
        if name and name in contract.models:
            return (objective.models[contract.models.index(name)],)
        return tuple(objective.models) if objective.models else tuple(graphs)

    def schedule(self, values: dict | None, lr: float, key: str, optimizer_key: str) -> ir.Component | None:
        """The schedule with its derived values filled once, here: ``peak`` / ``initial``
        from the optimizer's ``lr``, ``total`` from ``train.max_steps`` (None when the run
        is bounded by epochs: the script derives it from the epoch length)."""
        if values is None:
            return None
        filled = dict(values)
        sources = {"optimizer.lr": (f"{optimizer_key}.lr", lr), "train.max_steps": ("train.max_steps", self.sections["train"]["max_steps"])}
        for parameter in registry.lookup("schedule", values["component"]).params:
            if parameter.derived and filled.get(parameter.name) is None:
                source, value = sources[parameter.derived]
                filled[parameter.name] = value
                if value is not None:
                    self.derived[f"{key}.{parameter.name}"] = f"= {source}"
        return _section_component(filled)

    def train(self) -> ir.TrainPlan:
        values = self.sections["train"]
        checkpoint = values.get("checkpoint") or {}
        stopping = values.get("early_stopping")
        loggers = [item for item in values["loggers"]]
        if not any(item["kind"] == "csv" for item in loggers):
            loggers.insert(0, {"kind": "csv"})
        explicit_stopping = "early_stopping" in self.resolution.sections["train"].children
        return ir.TrainPlan(
            max_steps=values["max_steps"],
            max_epochs=values["max_epochs"],
            seed=values["seed"],
            precision=values["precision"],
            log_every=values["log_every"],
            eval_every=values["eval_every"],
            grad_clip=values["grad_clip"],
            grad_clip_mode=values["grad_clip_mode"],
            accumulate=values["accumulate"],
            remat=values["remat"],
            limit_train_batches=values["limit_train_batches"],
            parallel=values["parallel"],
            ema=values["ema"],
            freeze=tuple(values["freeze"]) + tuple(prefix for prefix in self.fixed if prefix not in values["freeze"]),
            warm_start=values["warm_start"],
            checkpoint=ir.CheckpointPlan(
                every=checkpoint.get("every"),
                keep=checkpoint.get("keep", 1),
                monitor=checkpoint.get("monitor"),
                mode=checkpoint.get("mode", "min"),
                last=checkpoint.get("last", True),
                every_n_epochs=checkpoint.get("every_n_epochs"),
                filename=checkpoint.get("filename"),
                enable=checkpoint.get("enable", True),
                dirpath=checkpoint.get("dirpath", "checkpoints"),
            ),
            early_stopping=(
                ir.EarlyStoppingPlan(
                    stopping["monitor"],
                    stopping["patience"],
                    stopping["mode"],
                    float(stopping["min_delta"]),
                    bool(stopping.get("verbose", False)),
                )
                if stopping and explicit_stopping
                else None
            ),
            loggers=tuple(component(item) for item in loggers),
            callbacks=tuple(component(item) for item in values["callbacks"]),
            val_check_interval=values.get("val_check_interval"),
            penalties=tuple(component(item) for item in values.get("penalties") or ()),
            metrics=tuple(component(item) for item in values.get("metrics") or ()),
            compile=values["compile"],
            tf32=values["tf32"],
        )

    def evaluation(self, loss_graphs: dict | None = None) -> ir.EvalPlan:
        values = self.sections.get("eval") or {"sampler": None, "metrics": []}
        built = loss_graphs or {}
        sampler = values["sampler"]
        return ir.EvalPlan(
            sampler=component(sampler) if sampler else None,
            metrics=tuple(component(metric) for metric in values["metrics"]),
            batch_size=self.sections["data"].get("eval_batch_size") or self.sections["data"]["batch_size"],
            test_sampler=component(values["test_sampler"]) if values.get("test_sampler") else None,
            on_train=bool(values.get("on_train", False)),
            metric_graphs=tuple(
                (index, built[("metric", index)]) for index in range(len(values["metrics"])) if ("metric", index) in built
            ),
        )

    def provenance(self) -> tuple[ir.Provenance, ...]:
        records = {}
        for name, value in self.resolution.constants.items():
            records[name] = ir.Provenance(name, value.origin, value.chain)
        for key, checked in self.checked.sections.items():
            self.section_provenance(checked.section, key, checked.values, records)
        for key, origin in self.derived.items():
            records[key] = ir.Provenance(key, origin)
        return tuple(records[key] for key in sorted(records))

    def section_provenance(self, section, path: str, values: dict, records: dict) -> None:
        for name, value in values.items():
            if name == "component":
                continue
            if name in section.children:
                self.section_provenance(section.children[name], f"{path}.{name}", value, records)
                continue
            written = section.entries.get(name)
            if written is not None:
                records[f"{path}.{name}"] = ir.Provenance(f"{path}.{name}", written.origin, written.chain)
            elif not isinstance(value, dict):
                records[f"{path}.{name}"] = ir.Provenance(f"{path}.{name}", "default")


def spec_hash(sources: dict[str, str], overrides) -> str:
    """sha256 of every file's name and text and of the overrides. A file name (or an
    override from the command line) that was not UTF-8 holds lone surrogates; it is hashed
    as its original bytes (``surrogateescape``), so every name has a hash."""
    digest = hashlib.sha256()
    for file in sorted(sources):
        if file == "--set":
            continue
        digest.update(_bytes(file) + b"\0" + _bytes(sources[file]) + b"\0")
    for override in overrides:
        digest.update(b"--set\0" + _bytes(override) + b"\0")
    return digest.hexdigest()


def _bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def lower(
    resolution: Resolution,
    checked: Checked,
    graphs: dict[str, ir.ModelGraph],
    bindings: dict,
    fields: dict[str, ir.TensorType],
    target: str | None,
    spec_path: str,
    sources: dict[str, str],
    overrides=(),
    loss_graphs: dict | None = None,
) -> ir.Program:
    """The IR of a spec that passed every check; ``loss_graphs``: the built block of each
    ``graph("name")`` loss term, by term position, and of a ``graph`` path under ``"path"``
    (``check.graph_losses``)."""
    lowering = Lowering(resolution, checked)
    objective = lowering.objective(graphs, bindings, target, loss_graphs or {})
    lowering.fix_layers(tuple(graphs.values()), objective)
    name = resolution.spec_name or posixpath.splitext(posixpath.basename(spec_path))[0]
    return ir.Program(
        spec_name=name,
        spec_path=spec_path,
        spec_hash=spec_hash(sources, overrides),
        language_version=resolution.language or specc.LANGUAGE_VERSION,
        data=lowering.data(fields),
        models=tuple(graphs[model] for model in resolution.models if model in graphs),
        objective=objective,
        optimizers=lowering.optimizers(objective, graphs),
        train=lowering.train(),
        evaluation=lowering.evaluation(loss_graphs),
        provenance=lowering.provenance(),
    )
