"""Objective contracts (E07xx): the objective against its models, data and loss terms.

The objective's contract (registry) is held against the models' signatures (from the
model graphs) and the data source's fields: every model input is fed — by the objective
(``x``, ``t``, ``h`` of flows), by an explicit ``inputs = { .. }`` binding or by a data
field of the same name — with the shape and dtype it declares; the output has the shape
the objective needs; the target field has the right dtype.

``bind_inputs`` returns the bindings the IR records: (model input, ``data.<field>`` or
``objective.<name>``). ``check_loss_terms`` holds the objective's ``loss`` to the terms it
renders. Backend capability (E08xx) is in ``backend_capabilities.py``, the ``freeze`` and
penalty prefixes in ``parameter_prefixes.py``.
"""

from __future__ import annotations

import re

from specc.compiler import ir
from specc.compiler.vocabulary import registry
from specc.dsl.diagnostics import Span, did_you_mean
from specc.compiler.check.cross_field import Facts, head

_TYPE_TEXT = re.compile(r"^\s*(f32|i32|i64|bool)\s*\[\s*([0-9_\s,]*)\]\s*$")
_INTEGER = ("i32", "i64")


def parse_tensor_type(text: str) -> ir.TensorType | None:
    """``"f32[64]"`` -> TensorType("f32", (64,)); None when malformed."""
    match = _TYPE_TEXT.match(text)
    if match is None:
        return None
    dims = [part.strip().replace("_", "") for part in match.group(2).split(",") if part.strip()]
    if any(not dim.isdigit() or int(dim) < 1 for dim in dims):
        return None
    return ir.TensorType(match.group(1), tuple(int(dim) for dim in dims))


def data_fields(facts: Facts) -> dict[str, ir.TensorType] | None:
    """Per-example field types of the data source (no batch axis)."""
    values = facts.checked.sections.get("data")
    if values is None or values.dropped:
        return None
    source = registry.lookup("data", values.values["component"])
    fields = {}
    for decl in source.fields:
        dims = registry.field_dims(decl, values.values)
        if dims is None:
            return None
        fields[decl.name] = ir.TensorType(decl.dtype, dims)
    for name, text in (values.values.get("fields") or {}).items():
        parsed = parse_tensor_type(text)
        if parsed is None:
            facts.error(
                "E0407",
                f"invalid tensor type {text!r} for field `{name}`",
                facts.span("data", "fields", name),
                'write a dtype and a shape: "f32[64]", "i64[]" (dtypes: f32, i32, i64, bool)',
            )
            return None
        fields[name] = parsed
    return fields


def _origin_span(origin: str, name: str, fallback: Span) -> Span:
    """The span of ``name`` at a graph statement's origin ``file:line:column`` (``fallback``
    when the statement has none)."""
    parts = origin.rsplit(":", 2)
    if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
        return fallback
    file, line, column = parts[0], int(parts[1]), int(parts[2])
    return Span(file, line, column, line, column + len(name))


def _show(tensor: ir.TensorType) -> str:
    return f"{tensor.dtype}[{', '.join(str(dim) for dim in tensor.shape)}]"


def _batched(tensor: ir.TensorType) -> ir.TensorType:
    return ir.TensorType(tensor.dtype, ("B",) + tuple(tensor.shape))


def _compatible(declared: ir.TensorType, given: ir.TensorType) -> bool:
    """Same rank and dtype family; concrete dims equal (symbolic dims match anything)."""
    if len(declared.shape) != len(given.shape):
        return False
    if (declared.dtype in _INTEGER) != (given.dtype in _INTEGER) or (declared.dtype == "bool") != (
        given.dtype == "bool"
    ):
        return False
    return all(isinstance(a, str) or isinstance(b, str) or a == b for a, b in zip(declared.shape, given.shape))


class ContractChecker:
    def __init__(self, facts: Facts, graphs: dict[str, ir.ModelGraph], declared_models: int | None = None):
        self.facts = facts
        self.graphs = graphs
        # models the spec writes, built or not: one whose body has errors is not "0 models"
        self.declared_models = len(graphs) if declared_models is None else declared_models
        self.kind = facts.objective_kind()
        self.contract = facts.contract()
        self.fields = data_fields(facts)
        self.bindings: dict[str, tuple[tuple[str, str], ...]] = {}

    def model_span(self, slot: str) -> Span:
        return self.facts.span("objective", slot) if self.facts.value("objective", slot) else self.objective_head()

    def objective_head(self) -> Span:
        section = self.facts.section("objective").section
        return section.component_span or head(section.span, "objective")

    def target(self) -> ir.TensorType | None:
        target = self.facts.value("objective", "target")
        if target is None:
            guess = {"int": ("y", "label", "tokens"), "float": ("y", "params", "x", "audio")}[
                self.contract.target_dtype
            ]
            candidates = [name for name in guess if name in self.fields]
            if self.contract.target_dtype == "float" and self.kind == "regression":
                candidates = [name for name in candidates if name != "x"]
            if not candidates:
                self.facts.error(
                    "E0705",
                    f"objective `{self.kind}` needs `target = data.<field>`",
                    self.objective_head(),
                    f"data fields: {', '.join(self.fields)}",
                )
                return None
            target = "data." + candidates[0]
        name = target.split(".", 1)[1]
        field = self.fields.get(name)
        if field is None:
            return None
        wanted_int = self.contract.target_dtype == "int"
        if (field.dtype in _INTEGER) != wanted_int:
            self.facts.error(
                "E0705",
                f"objective `{self.kind}` needs {'integer' if wanted_int else 'float'} targets; "
                f"`data.{name}` is {_show(field)}",
                (
                    self.facts.span("objective", "target")
                    if self.facts.value("objective", "target")
                    else self.objective_head()
                ),
            )
            return None
        self.target_name = name
        return field

    def check(self) -> None:
        if self.contract is None or self.fields is None or self.facts.section("objective") is None:
            return
        target = self.target()
        if target is None:
            return
        if self.kind == "adversarial":
            self.check_adversarial(target)
            return
        if self.kind in ("mean_flow", "improved_mean_flow"):
            self.check_mean_flow_time()
        name = self.facts.value("objective", "model")
        if name is None:
            if len(self.graphs) != 1 and self.declared_models != 1:
                self.facts.error(
                    "E0701",
                    f"objective `{self.kind}` needs `model = <name>`: the spec has {self.declared_models} models",
                    self.objective_head(),
                )
                return
            name = next(iter(self.graphs), None)
        graph = self.graphs.get(name)
        if graph is None:
            return
        self.bind(graph, "model", target, self.contract.supplies)
        self.check_output(graph, "model", target)
        if self.kind == "vae":
            self.check_statistics(graph)

    def bind(self, graph: ir.ModelGraph, slot: str, target: ir.TensorType, supplies) -> None:
        explicit = self.facts.value("objective", "inputs") or {}
        supplied = dict(supplies)
        declared = dict(graph.inputs)
        for key in explicit:
            if key not in declared:
                self.facts.error(
                    "E0709",
                    f"`inputs` binds `{key}`, which is not an input of model `{graph.name}`",
                    self.facts.span("objective", "inputs", key),
                    did_you_mean(key, declared) or f"inputs of `{graph.name}`: {', '.join(declared)}",
                )
            elif key in supplied and self.supplies(key):
                self.facts.error(
                    "E0709",
                    f"`{key}` is supplied by objective `{self.kind}` and cannot be bound",
                    self.facts.span("objective", "inputs", key),
                )
        bindings, positions_checked = [], False
        for name, tensor in graph.inputs:
            source, given = self.source_of(name, explicit, supplied, target, graph.name)
            if source is None:
                continue
            shown, given, shift_help = self.shifted(source, given, target)
            if given is not None and not _compatible(tensor, given):
                where = self.facts.span("objective", "inputs", name) if name in explicit else self.model_span(slot)
                self.facts.error(
                    "E0703",
                    f"model `{graph.name}` declares input `{name}` as {_show(tensor)}, but "
                    f"{shown} is {_show(given)}",
                    where,
                    shift_help,
                )
            if given is not None and shift_help is not None and _compatible(tensor, given) and not positions_checked:
                positions_checked = self.check_positions(graph, tensor, given, source)
            bindings.append((name, source))
        if self.contract.h == "required" and "h" not in declared:
            self.facts.error(
                "E0706",
                f"objective `{self.kind}` feeds the interval h = t - r: model `{graph.name}` "
                f"must declare an input `h: f32[B]`",
                self.model_span(slot),
            )
        fed = [name for name, _ in supplies if name != "h"]
        for needed in fed:
            if needed not in declared:
                what = " and ".join(f"`{name}`" for name in fed)
                self.facts.error(
                    "E0707",
                    f"objective `{self.kind}` feeds {what}: model `{graph.name}` has no input " f"`{needed}`",
                    self.model_span(slot),
                )
        conditions = [source for _, source in bindings if source.startswith("data.")]
        if (self.facts.value("objective", "cfg_dropout") or 0) > 0 and not conditions:
            self.facts.error(
                "E0708",
                f"cfg_dropout drops the condition, but model `{graph.name}` has no input fed " f"from the data",
                self.facts.span("objective", "cfg_dropout"),
            )
        self.bindings[graph.name] = tuple(bindings)

    def source_of(self, name: str, explicit: dict, supplied: dict, target: ir.TensorType, model: str):
        """(source, type given per batch) of one model input, or (None, None) after a diagnostic."""
        if name in explicit:
            field = explicit[name].split(".", 1)[1]
            return f"data.{field}", _batched(self.fields[field]) if field in self.fields else None
        if name in supplied and self.supplies(name):
            if supplied[name] == "sample":
                return f"objective.{name}", _batched(ir.TensorType("f32", target.shape))
            return f"objective.{name}", ir.TensorType("f32", ("B",))
        if name in self.fields:
            return f"data.{name}", _batched(self.fields[name])
        if self.kind == "language_model" and self.target_name in self.fields and len(self.graphs[model].inputs) == 1:
            # a language model's one input reads the target, whatever its name (nanoGPT's `idx`)
            return f"data.{self.target_name}", _batched(self.fields[self.target_name])
        self.facts.error(
            "E0702",
            f"input `{name}` of model `{model}` is not fed: no data field `{name}` and objective "
            f"`{self.kind}` does not supply it",
            self.model_span(self.current_slot(name)),
            f"bind it: inputs = {{ {name} = data.<field> }} (fields: {', '.join(self.fields)})",
        )
        return None, None

    def shifted(self, source: str, given, target: ir.TensorType):
        """(what the model is fed, its type, a help line) of one input: ``language_model``
        feeds a data field as long as the target without its last position
        (``data.tokens[:, :-1]``, ``[B, T - 1, ...]``; the labels are ``target[:, 1:]``), the
        rule ``emit.objectives.language_model_view`` renders."""
        if self.kind != "language_model" or given is None or not source.startswith("data."):
            return source, given, None
        shape = given.shape
        if len(shape) < 2 or not target.shape or shape[1] != target.shape[0] or not isinstance(shape[1], int):
            return source, given, None
        fed = ir.TensorType(given.dtype, (shape[0], shape[1] - 1) + tuple(shape[2:]))
        note = (
            f"objective `language_model` feeds every position but the last ({source}[:, :-1]) and predicts "
            f"data.{self.target_name}[:, 1:]: declare {_show(fed)}"
        )
        return f"{source}[:, :-1]", fed, note

    def check_positions(self, graph: ir.ModelGraph, declared: ir.TensorType, fed: ir.TensorType, source: str) -> bool:
        """E0717: a ``positional_embedding`` over the symbolic sequence axis of a language
        model's input (the same name, ``T``, in the model and its blocks) holds at least the
        positions the objective feeds (a concrete axis is the shape rule's E0618). True once
        checked (the model's first such input: one diagnostic per layer)."""
        symbol, length = declared.shape[1], fed.shape[1]
        if not isinstance(symbol, str) or not isinstance(length, int):
            return False
        for module in graph.modules:
            layers = {layer.attribute: layer for layer in module.submodules if isinstance(layer, ir.Layer)}
            for statement in module.body:
                layer = layers.get(statement.attribute) if statement.call == "layer" else None
                if layer is None or layer.kind != "PositionalEmbedding" or not statement.types:
                    continue
                shape, capacity = statement.types[0].shape, dict(layer.arguments).get("max_length")
                if len(shape) > 1 and shape[1] == symbol and isinstance(capacity, int) and capacity < length:
                    self.facts.error(
                        "E0717",
                        f"positional_embedding holds {capacity} positions, but objective `language_model` feeds "
                        f"model `{graph.name}` {length} ({symbol} = {length}: {source}[:, :-1])",
                        _origin_span(statement.origin, "positional_embedding", self.model_span("model")),
                        f"give it max_length = {length} or more",
                    )
        return True

    def supplies(self, name: str) -> bool:
        return name != "h" or self.contract.h != "none"

    def current_slot(self, _name: str) -> str:
        return "model" if self.kind != "adversarial" else "generator"

    def check_output(self, graph: ir.ModelGraph, slot: str, target: ir.TensorType) -> None:
        if not graph.outputs:
            return
        output = graph.outputs[0]
        wanted = {
            "like_target": (_batched(ir.TensorType("f32", target.shape)), "an output shaped like the target"),
            "logits": (ir.TensorType("f32", ("B", "C")), "class logits [B, C]"),
            "sequence_logits": (ir.TensorType("f32", ("B", "T", "V")), "token logits [B, T, V]"),
        }[self.contract.output]
        if not _compatible(wanted[0], output) or output.dtype in _INTEGER:
            self.facts.error(
                "E0704",
                f"objective `{self.kind}` needs {wanted[1]} {_show(wanted[0])}; model "
                f"`{graph.name}` returns {_show(output)}",
                self.model_span(slot),
            )
        elif self.contract.output == "logits":
            classes = self.classes()
            if classes is not None and isinstance(output.shape[1], int) and output.shape[1] != classes:
                self.facts.error(
                    "E0704",
                    f"the labels have {classes} classes; model `{graph.name}` returns "
                    f"{_show(output)} ({output.shape[1]} logits per row)",
                    self.model_span(slot),
                )

    def classes(self) -> int | None:
        """Number of classes of the data source's labels, when the registry knows it."""
        values = self.facts.checked.sections["data"].values
        count = registry.lookup("data", values["component"]).classes
        count = values.get(count) if isinstance(count, str) else count
        return count if isinstance(count, int) and getattr(self, "target_name", None) in ("y", "label") else None

    def check_mean_flow_time(self) -> None:
        """The mean-flow losses need the pair (t, r) that only the mean_flow time sampler draws."""
        time = self.facts.value("objective", "time")
        kind = time.get("kind") if isinstance(time, dict) else time
        if kind is not None and kind != "mean_flow":
            self.facts.error(
                "E0712",
                f"objective `{self.kind}` needs `time = mean_flow(...)`, the sampler that draws the "
                f"pair (t, r); got `{kind}`",
                self.facts.span("objective", "time"),
                "write `time = mean_flow(mean = -0.4, std = 1.0, data_proportion = 0.5)`",
            )

    def check_adversarial(self, target: ir.TensorType) -> None:
        generator = self.graphs.get(self.facts.value("objective", "generator"))
        discriminator = self.graphs.get(self.facts.value("objective", "discriminator"))
        if generator is not None:
            self.bind(generator, "generator", target, (("x", "sample"),))
            self.check_output(generator, "generator", target)
            self.check_statistics(generator)
        if discriminator is not None:
            wanted = _batched(ir.TensorType("f32", target.shape))
            inputs = discriminator.inputs
            if len(inputs) != 1 or not _compatible(inputs[0][1], wanted):
                shown = ", ".join(f"{name}: {_show(tensor)}" for name, tensor in inputs)
                self.facts.error(
                    "E0710",
                    f"the discriminator takes one input shaped like the target {_show(wanted)}; "
                    f"`{discriminator.name}` takes ({shown})",
                    self.model_span("discriminator"),
                )
            else:
                self.bindings[discriminator.name] = ((inputs[0][0], "objective.x"),)
        names = {section.name for section in self.facts.resolution.sections.values() if section.kind == "optimizer"}
        if not self.check_discriminator_use(names):
            return
        for needed in self.contract.optimizers:
            if needed not in names:
                self.facts.error(
                    "E0711",
                    f"objective `adversarial` needs an optimizer named `{needed}`",
                    self.objective_head(),
                    f"add `optimizer {needed}: adam {{ lr = 1e-4 }}`",
                )

    def check_statistics(self, generator: ir.ModelGraph) -> None:
        """``kl_weight > 0`` reads the VAE's statistics: the generator (``adversarial``) or
        the model (``vae``) must return ``(reconstruction, [mean, logvar])`` (E0716)."""
        if not (self.facts.value("objective", "kl_weight") or 0) > 0:
            return
        structure = generator.output_structure or (None,) * len(generator.outputs)
        if len(structure) >= 2 and structure[1] == 2:
            return
        role = "a generator" if self.kind == "adversarial" else "a model"
        self.facts.error(
            "E0716",
            f"kl_weight > 0 needs {role} returning (reconstruction, [mean, logvar]); model "
            f"`{generator.name}` returns {count_values(structure)}",
            self.facts.span("objective", "kl_weight"),
            "return the statistics too: `return reconstruction, [mean, logvar]`, or set kl_weight = 0",
        )

    def check_discriminator_use(self, optimizer_names: set) -> bool:
        """``use_adversarial = true`` needs ``discriminator``; ``false`` trains the generator
        alone: neither a discriminator nor its optimizer (E0713). False when the adversarial
        training is off (the optimizer check is then done)."""
        written = self.facts.value("objective", "discriminator")
        if self.facts.value("objective", "use_adversarial") is not False:
            if written is None:
                self.facts.error(
                    "E0713",
                    "objective `adversarial` needs `discriminator = <model>` when use_adversarial = true",
                    self.objective_head(),
                    "name the discriminator, or set `use_adversarial = false` to train the generator alone",
                )
            return True
        if written is not None:
            self.facts.error(
                "E0713",
                f"use_adversarial = false trains no discriminator: `discriminator = {written}` is unused",
                self.facts.span("objective", "discriminator"),
                "remove `discriminator`",
            )
        for section in self.facts.resolution.sections.values():
            if section.kind != "optimizer" or section.name != "discriminator":
                continue
            self.facts.error(
                "E0713",
                "use_adversarial = false trains no discriminator: `optimizer discriminator` is unused",
                head(section.span, "optimizer"),
                "remove `optimizer discriminator`",
            )
        if "generator" not in optimizer_names:
            self.facts.error(
                "E0711",
                "objective `adversarial` needs an optimizer named `generator`",
                self.objective_head(),
                "add `optimizer generator: adam { lr = 1e-4 }`",
            )
        return False


def count_values(structure) -> str:
    """``1 value`` / ``3 values``: how many values a model returns (``output_structure``)."""
    return f"{len(structure)} value" + ("" if len(structure) == 1 else "s")


def check_loss_terms(facts: Facts) -> None:
    """The objective's ``loss`` names only terms the objective renders (E0714); a single-term
    objective takes one unweighted term, and some kinds may appear once (E0715)."""
    contract = facts.contract()
    if contract is None or not contract.losses or not facts.known("objective", "loss"):
        return
    kind = facts.objective_kind()
    terms = facts.value("objective", "loss") or ()
    seen: dict[str, int] = {}
    for index, term in enumerate(terms):
        name = term["term"]["kind"]
        span = facts.span("objective", "loss", index)
        if name not in contract.losses:
            facts.error(
                "E0714",
                f"objective `{kind}` does not take loss `{name}`",
                span,
                f"losses of `{kind}`: {', '.join(contract.losses)}",
            )
            continue
        seen[name] = seen.get(name, 0) + 1
        if name in contract.once and seen[name] == 2:
            facts.error("E0715", f"objective `{kind}` takes one `{name}` term", span, "remove the repeated term")
    if contract.single_loss and terms and (len(terms) > 1 or terms[0]["weight"] != 1):
        facts.error(
            "E0715",
            f"objective `{kind}` takes one unweighted loss term",
            facts.span("objective", "loss"),
            f"write `loss = {terms[0]['term']['kind']}` (scale the learning rate instead of the loss)",
        )
