"""Cross-field rules (E05xx) and name checks of the validated sections.

``check_rules(resolution, checked) -> list[Diagnostic]``. Each rule is one small function
reading the validated values (defaults filled in) and pointing at the value it blames.
"""

from __future__ import annotations

from difflib import get_close_matches

from specc.compiler.vocabulary import registry
from specc.compiler.vocabulary.words import with_article
from specc.dsl.diagnostics import Diagnostic, Span, did_you_mean
from specc.compiler.check.resolve import Resolution
from specc.compiler.check.validate import Checked, CheckedSection
from specc.compiler.check.values import ComponentCall
from specc.compiler.check import checkpoint_policy, external_names, train_metrics
from specc.compiler.check.external_names import check_filename


class Facts:
    """Lookups shared by the rules: validated values, spans, optimizer names."""

    def __init__(self, resolution: Resolution, checked: Checked):
        self.resolution = resolution
        self.checked = checked
        self.diagnostics: list[Diagnostic] = []

    def section(self, key: str) -> CheckedSection | None:
        return self.checked.sections.get(key)

    def value(self, key: str, *loc):
        section = self.section(key)
        data = section.values if section else None
        for part in loc:
            if not isinstance(data, dict):
                return None
            data = data.get(part)
        return data

    def span(self, key: str, *loc) -> Span:
        """The span of the value at ``loc`` (or of its nearest written parent, or the section)."""
        section = self.section(key)
        if section is None:
            return Span.point(self.resolution.root_file)
        for cut in range(len(loc), 0, -1):
            if loc[:cut] in section.spans:
                return section.spans[loc[:cut]]
        resolved = section.section
        for part in loc:
            child = resolved.children.get(part) if isinstance(part, str) else None
            if child is None:
                break
            resolved = child
        return head(resolved.span, resolved.kind)

    def error(self, code: str, message: str, span: Span, help: str | None = None, notes=()) -> None:
        self.diagnostics.append(Diagnostic(code, message, span, help=help, notes=tuple(notes)))

    def known(self, key: str, name: str) -> bool:
        """False when the written value of ``key.name`` was invalid (its default stands in)."""
        section = self.section(key)
        return section is not None and name not in section.dropped

    def optimizer_keys(self) -> list[str]:
        return [key for key, section in self.resolution.sections.items() if section.kind == "optimizer"]

    def objective_kind(self) -> str | None:
        return self.value("objective", "component")

    def contract(self) -> registry.Contract | None:
        kind = self.objective_kind()
        component = registry.lookup("objective", kind) if kind else None
        return component.contract if component else None

    def monitorable(self) -> list[str] | None:
        """Metric names the run logs (``val/loss`` and ``val/<metric>`` for every metric
        written, even a misspelt one: that one has its own diagnostic); None when unknown."""
        names = ["val/loss"]
        for item in self.value("objective", "loss") or ():  # a user loss's named values (check.extensions)
            term = item.get("term") if isinstance(item, dict) else None
            names += [f"val/{name}" for name in (term or {}).get("logs", ())]
        for metric in self.value("train", "metrics") or ():  # computed with the loss: val rows too
            names += [f"val/{metric['kind']}"] if isinstance(metric, dict) and metric.get("kind") != "graph" else []
        contract = self.contract()
        if contract is not None and contract.sampler:
            names.append("val/mse")
        evaluation = self.resolution.sections.get("eval")
        written = evaluation.entries.get("metrics") if evaluation else None
        if evaluation is not None and "metrics" in evaluation.key_spans and written is None:
            return None
        if written is not None:
            if not isinstance(written.value, list):
                return None
            for item in written.value:
                name = _graph_metric_name(item.value) or getattr(item.value, "name", None)
                if not isinstance(name, str):
                    return None
                names.append(f"val/{name}")
                if registry.lookup("metric", name) is None:  # misspelt: its likely meaning counts too
                    names += [
                        f"val/{close}" for close in get_close_matches(name, registry.components("metric"), 1, 0.6)
                    ]
        return list(dict.fromkeys(names))


def _graph_metric_name(value) -> str | None:
    """The block of a metric written ``graph("rmse")`` (logged as ``val/rmse``), else None."""
    if not isinstance(value, ComponentCall) or value.name != "graph":
        return None
    written = [item for key, item, _ in value.kwargs if key == "name"] + list(value.args[:1])
    return written[0].value if written and isinstance(written[0].value, str) else None


def head(span: Span, keyword: str) -> Span:
    return Span(span.file, span.line, span.column, span.line, span.column + len(keyword))


# ---------------------------------------------------------------------- rules


def rule_duration(facts: Facts) -> None:
    train = facts.section("train")
    if train is None or not (facts.known("train", "max_steps") and facts.known("train", "max_epochs")):
        return
    if facts.value("train", "max_steps") is None and facts.value("train", "max_epochs") is None:
        facts.error(
            "E0505",
            "the training run has no length",
            head(train.section.span, "train"),
            "set `max_steps` or `max_epochs` in `train`",
        )


def rule_schedules(facts: Facts) -> None:
    optimizers = facts.optimizer_keys()
    for key, section in facts.resolution.sections.items():
        if section.kind != "schedule" or facts.section(key) is None:
            continue
        partner = "optimizer." + section.name if section.name else "optimizer"
        if partner not in optimizers:
            facts.error(
                "E0507",
                f"schedule `{key}` has no optimizer `{partner}`",
                head(section.span, "schedule"),
                did_you_mean(partner, optimizers) or f"optimizers: {', '.join(optimizers) or 'none'}",
            )
        rule_schedule_steps(facts, key)


def rule_schedule_steps(facts: Facts, key: str) -> None:
    kind = facts.value(key, "component")
    component = registry.lookup("schedule", kind)
    if component is None or component.param("total") is None:
        return
    total = facts.value(key, "total")
    if total is None:
        total = facts.value("train", "max_steps")
        if not facts.known("train", "max_steps") or not facts.known(key, "total"):
            return
        if total is None:
            facts.error(
                "E0506",
                f"schedule `{kind}` needs `total`: the run is given in epochs, not steps",
                head(facts.section(key).section.span, "schedule"),
                "set `total = <steps>` in the schedule",
            )
            return
    warmup = facts.value(key, "warmup") or 0
    if facts.known(key, "warmup") and warmup >= total:
        facts.error(
            "E0501", f"warmup ({warmup} steps) must be below the total steps ({total})", facts.span(key, "warmup")
        )


def rule_monitors(facts: Facts) -> None:
    evaluates = facts.value("train", "eval_every") is not None or facts.value("train", "val_check_interval") is not None
    available = facts.monitorable()
    for child, label in (("checkpoint", "checkpoint"), ("early_stopping", "early stopping")):
        settings = facts.value("train", child)
        if not isinstance(settings, dict) or child not in facts.section("train").section.children:
            continue
        monitor = settings.get("monitor")
        if monitor is None or available is None:
            continue
        if monitor not in available and monitor.startswith("train_eval/"):
            facts.error(
                "E0502",
                f"{label} monitors `{monitor}`: checkpoints and early stopping rank on validation values (val/...), "
                "and the training split's evaluation (eval.on_train) is logged beside them only",
                facts.span("train", child, "monitor"),
                f"logged metrics: {', '.join(available)}",
            )
        elif monitor not in available:
            facts.error(
                "E0502",
                f"{label} monitors `{monitor}`, which is never logged",
                facts.span("train", child, "monitor"),
                did_you_mean(monitor, available) or f"logged metrics: {', '.join(available)}",
            )
        elif not evaluates:
            facts.error(
                "E0503",
                f"{label} monitors `{monitor}` but the run never evaluates",
                facts.span("train", child),
                "set `eval_every` in `train`",
            )


def rule_data(facts: Facts) -> None:
    if facts.section("data") is None:
        return
    if facts.value("data", "shift_test_distribution") and facts.value("data", "break_symmetry"):
        facts.error(
            "E0504",
            "shift_test_distribution cannot be combined with break_symmetry",
            facts.span("data", "shift_test_distribution"),
            notes=("the shifted test distribution draws frequencies that break_symmetry would remap",),
        )
    sizes = facts.value("data", "sizes")
    if sizes is not None and len(sizes) != 3:
        facts.error(
            "E0508", f"`sizes` needs 3 values (train, val, test), found {len(sizes)}", facts.span("data", "sizes")
        )
    split_seeds = facts.value("data", "split_seeds")
    if split_seeds is not None and len(split_seeds) != 3:
        facts.error(
            "E0508",
            f"`split_seeds` needs 3 values (train, val, test), found {len(split_seeds)}",
            facts.span("data", "split_seeds"),
        )
    validation, test = facts.value("data", "val_fraction"), facts.value("data", "test_fraction")
    if validation is not None and test is not None and validation + test >= 1:
        facts.error(
            "E0508",
            f"val_fraction + test_fraction must be below 1, found {validation + test:g}",
            facts.span("data", "test_fraction"),
        )
    contract = facts.contract()
    if facts.value("data", "coupling") == "ot" and contract is not None and not contract.sampler:
        facts.error(
            "E0509",
            f"coupling = ot pairs noise with data and needs a flow objective, not " f"`{facts.objective_kind()}`",
            facts.span("data", "coupling"),
        )


def rule_evaluation(facts: Facts) -> None:
    contract = facts.contract()
    if contract is None or facts.section("eval") is None:
        return
    kind = facts.objective_kind()
    if not (facts.known("eval", "sampler") and facts.known("eval", "metrics")):
        return
    sampler = facts.value("eval", "sampler")
    for key in ("sampler", "test_sampler"):
        if facts.value("eval", key) is not None and not contract.sampler:
            facts.error(
                "E0510",
                f"objective `{kind}` does not generate samples: `{key}` does not apply",
                facts.span("eval", key),
            )
    if contract.sampler and facts.known("eval", "test_sampler"):
        rule_test_sampler(facts, sampler, facts.value("eval", "test_sampler"))
    for index, metric in enumerate(facts.value("eval", "metrics") or ()):
        component = registry.lookup("metric", metric["kind"])
        needs = component.needs
        span = facts.span("eval", "metrics", index)
        if "sampler" in needs and not contract.sampler:
            facts.error(
                "E0511",
                f"metric `{metric['kind']}` compares generated samples; objective `{kind}` " f"does not generate any",
                span,
            )
        elif ("sampler" in needs or _on_flow_samples(contract, metric["kind"], needs)) and sampler is None:
            facts.error(
                "E0511",
                f"metric `{metric['kind']}` compares generated samples: set `sampler` in `eval`",
                span,
                "e.g. sampler = euler(steps = 50)",
            )
        elif needs and "sampler" not in needs and kind not in needs:
            facts.error(
                "E0511", f"metric `{metric['kind']}` needs {with_article(' or '.join(needs))} objective, not `{kind}`", span
            )
        elif "signals" in needs:
            rule_signals(facts, metric["kind"], span)
    if contract.sampler:
        rule_sampler_used(facts)


# a flow logs these from its loss (val/mse): as an eval metric they compare nothing generated
FLOW_LOSS_METRICS = ("mse",)


def _on_flow_samples(contract, name: str, needs) -> bool:
    """A metric of the output (mae) of a generative objective compares its samples."""
    return bool(contract.sampler) and not needs and name not in FLOW_LOSS_METRICS


def rule_sampler_used(facts: Facts) -> None:
    """E0551: a generative objective's ``sampler`` (``test_sampler``) integrates samples for
    the metrics that compare them; with none of those it has no effect."""
    contract, kind = facts.contract(), facts.objective_kind()
    compares = False
    for metric in facts.value("eval", "metrics") or ():
        component = registry.lookup("metric", metric["kind"])
        needs = component.needs if component is not None else ()
        if component is None or (needs and not {"sampler", "signals"} & set(needs) and kind not in needs):
            return  # a metric with its own diagnostic (misspelt, or not this objective's)
        compares = compares or "sampler" in needs or "signals" in needs or _on_flow_samples(contract, metric["kind"], needs)
    keys = ("sampler", "test_sampler") if facts.value("eval", "sampler") is not None else ()  # else E0514
    for key in keys:
        if facts.value("eval", key) is not None and not compares:
            facts.error(
                "E0551",
                f"`{key}` has no effect: no metric in `eval.metrics` compares generated samples",
                facts.span("eval", key),
                f"add one (chamfer, linear_assignment, mae, ...) or remove `{key}`",
            )


def rule_signals(facts: Facts, metric: str, span) -> None:
    """A metric on signals rendered from the samples needs a data source that renders them."""
    data = facts.section("data")
    source = registry.lookup("data", data.values.get("component")) if data is not None else None
    if source is None or "signals" in source.provides or data.values.get("render") is not None:
        return  # the source renders, or the spec says how (`render`: compiler/check/renderers.py)
    able = [name for name, component in registry.components("data").items() if "signals" in component.provides]
    facts.error(
        "E0518",
        f"metric `{metric}` compares signals rendered from the samples; data source `{source.name}` "
        f"cannot render signals",
        span,
        f"data sources that can: {', '.join(able)}; or say how in `data`: render = ksin(signal_length = ...) "
        "or render = python(\"synth.py\", \"render\")",
    )


def rule_test_sampler(facts: Facts, sampler: dict | None, test_sampler: dict | None) -> None:
    """``test_sampler`` replaces ``sampler`` on the test split: it needs one, of the same
    family (an integrator for an integrator, ``one_step`` for ``one_step``)."""
    if test_sampler is None:
        return
    span = facts.span("eval", "test_sampler")
    if sampler is None:
        facts.error(
            "E0514",
            "`test_sampler` replaces `sampler` on the test split: set `sampler` in `eval` too",
            span,
            "e.g. sampler = rk4(steps = 50)",
        )
    elif (sampler["kind"] == "one_step") != (test_sampler["kind"] == "one_step"):
        facts.error(
            "E0514",
            f"`test_sampler = {test_sampler['kind']}` and `sampler = {sampler['kind']}` are of different families: "
            "one_step samples a mean-flow model in one step, euler / heun / rk4 integrate",
            span,
            "use an integrator for both or one_step for both",
        )


def rule_model_names(facts: Facts) -> None:
    """Model names in the objective and the optimizers' ``models`` lists exist."""
    models = facts.resolution.models
    for key in facts.optimizer_keys():
        for index, name in enumerate(facts.value(key, "models") or ()):
            if name not in models:
                facts.error(
                    "E0301", f"undefined model `{name}`", facts.span(key, "models", index), did_you_mean(name, models)
                )
    objective = facts.section("objective")
    if objective is None:
        return
    contract = facts.contract()
    for slot in contract.models if contract else ():
        name = facts.value("objective", slot)
        if name is not None and name not in models:
            facts.error(
                "E0301",
                f"undefined model `{name}`",
                facts.span("objective", slot),
                did_you_mean(name, models) or f"models: {', '.join(models) or 'none'}",
            )


def rule_optimizer_models(facts: Facts) -> None:
    """No model is updated by two optimizers (named optimizers default to the objective's
    model of the same name, unnamed ones to every model)."""
    contract = facts.contract()
    owner: dict[str, str] = {}
    for key in facts.optimizer_keys():
        if facts.section(key) is None or not facts.known(key, "models"):
            continue
        name = facts.resolution.sections[key].name
        models = facts.value(key, "models") or []
        if not models and name and contract is not None and len(contract.models) > 1:
            if name not in contract.models:
                # another optimizer updates every model the objective trains (as lowered),
                # unless one the objective needs is missing: E0711 names it (this is likely it)
                trained = _trained_slots(facts, contract)
                present = {facts.resolution.sections[other].name for other in facts.optimizer_keys()}
                if not set(trained) <= present:
                    continue
                models = [facts.value("objective", slot) for slot in trained if facts.value("objective", slot)]
            else:
                models = [facts.value("objective", name)]
        models = models or list(facts.resolution.models)
        for model in models:
            if model in owner:
                facts.error(
                    "E0512",
                    f"model `{model}` is updated by `{owner[model]}` and by `{key}`",
                    head(facts.resolution.sections[key].span, "optimizer"),
                    "give each optimizer its models: models = [<model>]",
                )
            else:
                owner[model] = key


def rule_weight_decay_scope(facts: Facts) -> None:
    """``weight_decay_on = matrices`` chooses which parameters the weight decay applies to: with
    a decay of 0 it would change nothing, so it is refused at its value."""
    for key in facts.optimizer_keys():
        if facts.value(key, "weight_decay_on") != "matrices" or not facts.known(key, "weight_decay"):
            continue
        if facts.value(key, "weight_decay") == 0:
            written = ("weight_decay",) in facts.section(key).spans
            where = "" if written else f" (the default of `{facts.value(key, 'component')}`)"
            facts.error(
                "E0528",
                f"`weight_decay_on = matrices` has no effect: `weight_decay` is 0{where}",
                facts.span(key, "weight_decay_on"),
                "set `weight_decay` (nanoGPT decays its matrices by 0.1), or remove `weight_decay_on`",
            )


def _trained_slots(facts: Facts, contract) -> list[str]:
    """The objective's model slots that are trained (``use_adversarial = false``: not the
    discriminator)."""
    off = facts.value("objective", "use_adversarial") is False
    return [slot for slot in contract.models if not (off and slot == "discriminator")]


def rule_intervals(facts: Facts) -> None:
    """One way to say when to evaluate: steps (``eval_every``) or a fraction of an epoch
    (``val_check_interval``), not both (checkpoint ``every`` and ``every_n_epochs`` together
    save at both: ``checkpoint_policy``)."""
    if facts.section("train") is None:
        return
    if facts.value("train", "eval_every") is not None and facts.value("train", "val_check_interval") is not None:
        facts.error(
            "E0515",
            "`eval_every` (steps) and `val_check_interval` (a fraction of an epoch) both set when to evaluate",
            facts.span("train", "val_check_interval"),
            "keep one of them",
        )
    checkpoint = facts.value("train", "checkpoint")
    if isinstance(checkpoint, dict) and "checkpoint" in facts.section("train").section.children:
        if checkpoint.get("filename") is not None:
            check_filename(facts, checkpoint["filename"])


RULES = (
    rule_duration,
    rule_intervals,
    rule_schedules,
    rule_monitors,
    rule_data,
    rule_evaluation,
    rule_model_names,
    rule_optimizer_models,
    rule_weight_decay_scope,
    *external_names.RULES,
    *train_metrics.RULES,
    *checkpoint_policy.RULES,
)


def check_rules(resolution: Resolution, checked: Checked) -> list[Diagnostic]:
    facts = Facts(resolution, checked)
    for rule in RULES:
        rule(facts)
    return facts.diagnostics
