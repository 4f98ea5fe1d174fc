"""The jax backend's own template fields (the emitter half of its backend table,
``specc.compiler.backends.jax``)."""

from __future__ import annotations



from specc.compiler.emit.filters import EmitError

# objective kind -> the values every training step adds up and logs (besides lr and
# steps_per_s); objectives not listed log these two
TRAIN_VALUES = {
    "flow_matching": ["loss", "grad_norm", "mse"],
    "mean_flow": ["loss", "grad_norm", "mse"],
    "improved_mean_flow": ["loss", "grad_norm", "mse"],
}
DEFAULT_TRAIN_VALUES = ["loss", "grad_norm"]


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


def optimizer_names(program, model: str) -> dict:
    """The config names of the optimizer (and its schedule) updating ``model``: the named
    optimizer listing the model (``optimizer_generator_kind``...), else the unnamed one."""
    from specc.compiler.emit.filters import identifier

    chosen = [plan for plan in program.optimizers if model in plan.models]
    chosen = chosen or [plan for plan in program.optimizers if not plan.models]
    if len(chosen) != 1:
        raise EmitError(f"adversarial: model {model!r} needs exactly one optimizer, found {len(chosen)}")
    suffix = f"_{identifier(chosen[0].name)}" if chosen[0].name else ""
    return {"optimizer": f"optimizer{suffix}", "schedule": f"schedule{suffix}"}


def adversarial_context(program) -> dict:
    """GAN-only fields: the optimizer config names of each model; refuses what the JAX GAN
    template does not render (EMA, accumulation, metrics that are not on the output)."""
    from specc.compiler.emit.render import NotImplementedByBackend, evaluation_view

    check_adversarial_models(program)
    refused = [("ema", program.train.ema is not None), ("accumulate > 1", program.train.accumulate > 1)]
    refused += [(f"metric {metric['kind']}", metric["on"] != "output") for metric in evaluation_view(program)["metrics"]]
    for name, used in refused:
        if used:
            raise NotImplementedByBackend(f"{name} with objective 'adversarial' is not implemented by the jax backend yet")
    generator, *discriminator = program.objective.models  # no discriminator: use_adversarial = false
    fields = {"generator": optimizer_names(program, generator)}
    for name in discriminator:
        fields.update(discriminator=optimizer_names(program, name), discriminator_logits=discriminator_logits(program, name))
    return fields


def discriminator_logits(program, name: str) -> int:
    """How many of the discriminator's flat outputs are logit maps: the length of its first
    returned value (``return logits, features``); the rest are feature maps."""
    graph = next(graph for graph in program.models if graph.name == name)
    structure = graph.output_structure or (None,) * len(graph.outputs)
    if len(structure) != 2:
        raise EmitError(f"adversarial: the discriminator {name!r} must return (logits, features), it returns {len(structure)} value(s)")
    return 1 if structure[0] is None else int(structure[0])


def context(program) -> dict:
    """JAX-only template fields: the compute dtype, whether the step scans micro-batches and
    the values the step logs."""
    fields = {
        "compute_dtype": {"fp32": "float32", "bf16": "bfloat16"}[program.train.precision],
        "accumulate": program.train.accumulate > 1,
        "train_values": train_values(program),
    }
    if program.objective.kind == "adversarial":
        fields["adversarial"] = adversarial_context(program)
    return {"jax": fields}
