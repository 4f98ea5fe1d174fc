"""Template views of the objectives that are not flows: ``language_model``, and ``adversarial``
and ``vae`` (the generator loop: a generator against a discriminator, or alone).

Each view is plain data computed from the IR; the templates only print it. The runtime
function a loss term calls is in :data:`RECONSTRUCTION_LOSSES` / :data:`EXPECTED_VALUE_LOSSES`
(one table for every backend: the runtime modules share their names).
"""

from __future__ import annotations

from specc.compiler import ir
from specc.compiler.backends import GENERATOR_OBJECTIVES
from specc.compiler.emit.configuration import plain
from specc.compiler.emit.filters import EmitError, identifier

# loss kind -> the runtime function (``losses.<name>``) of a reconstruction term
RECONSTRUCTION_LOSSES = {"l1": "l1", "mae": "l1", "mse": "mse", "multi_resolution_stft": "multi_resolution_stft_loss"}
# expected-value term kind -> (runtime function, argument naming its array, codebook modality)
EXPECTED_VALUE_LOSSES = {
    "expected_codebook": ("expected_codebook", "codebook", "image"),
    "expected_scalar": ("expected_scalar", "centers", "scalar"),
}


def _term_names(kinds: list[str]) -> list[str]:
    """Stable value names for loss terms: the kind, numbered when it repeats (``l1``, ``l1_2``)."""
    names, seen = [], {}
    for kind in kinds:
        seen[kind] = seen.get(kind, 0) + 1
        names.append(kind if seen[kind] == 1 else f"{kind}_{seen[kind]}")
    return names


# ----------------------------------------------------------------------------- language model


def language_model_view(program: ir.Program, model: dict) -> dict:
    """Next-token prediction: which model inputs are shifted, the CE term and the
    expected-value terms (each with its array: a file, or the data source's codebook).

    - ``shifted_inputs``: model inputs fed ``field[:, :-1]`` (data fields as long as the
      target sequence); the labels are ``target[:, 1:]``.
    - ``cross_entropy``: ``{"weight", "ignore_index"}`` or ``None`` (no CE term).
    - ``terms``: ``{"name", "function", "weight", "file", "modality", "start", "sample_k"}``;
      ``file`` None means the data source's codebook of ``modality``; ``start`` None means
      the first id of that modality's range in the source's vocabulary.
    - ``values``: the names logged for every batch (``loss`` first).
    - ``model_arguments``: expressions of the model call in input order (``batch["tokens"][:, :-1]``).
    """
    plan = program.objective
    lengths = {field.name: tuple(field.type.shape) for field in program.data.fields}
    target_shape = lengths.get(plan.target, ())
    bindings = dict(plan.inputs)
    shifted, model_arguments = [], []
    for name in model["inputs"]:
        field = bindings.get(name, f"data.{name}").partition(".")[2]
        shape = lengths.get(field, ())
        if shape and target_shape and shape[0] == target_shape[0]:
            shifted.append(field)
        model_arguments.append(f'batch["{field}"][:, :-1]' if field in shifted else f'batch["{field}"]')
    cross_entropy, terms = None, []
    kinds = [term.loss.kind for term in plan.terms if term.loss.kind != "cross_entropy"]
    for term in plan.terms:
        arguments = plain(term.loss.arguments) or {}
        if term.loss.kind == "cross_entropy":
            cross_entropy = {"weight": term.weight, "ignore_index": arguments.get("ignore_index")}
            if arguments["label_smoothing"]:  # every runtime's cross_entropy takes it
                cross_entropy["label_smoothing"] = float(arguments["label_smoothing"])
            continue
        if term.loss.kind not in EXPECTED_VALUE_LOSSES:
            raise EmitError(f"loss {term.loss.kind!r} is not a term of objective language_model")
        function, array_key, default_modality = EXPECTED_VALUE_LOSSES[term.loss.kind]
        modality = arguments.get("modality") or default_modality
        terms.append(
            {
                "name": f"{term.loss.kind}_{modality}" if kinds.count(term.loss.kind) > 1 else term.loss.kind,
                "function": function,
                "weight": term.weight,
                "file": arguments.get(array_key),
                "modality": modality,
                "start": arguments.get("start"),
                "sample_k": arguments.get("sample_k"),
                # the file's array key and trust, only when written (the runtime's defaults otherwise)
                "options": {name: arguments[name] for name in ("key", "trusted") if arguments.get(name)},
            }
        )
    for term, name in zip(terms, _term_names([term["name"] for term in terms])):
        term["name"] = identifier(name)
    values = ["loss"] + (["cross_entropy"] if cross_entropy else []) + [term["name"] for term in terms]
    return {
        "shifted_inputs": shifted,
        "model_arguments": model_arguments,
        "cross_entropy": cross_entropy,
        "terms": terms,
        "values": values,
    }


# ----------------------------------------------------------------------------- adversarial


def adversarial_view(program: ir.Program, models: dict) -> dict:
    """Generator and discriminator, the reconstruction terms and the GAN weights.

    - ``generator`` / ``discriminator``: the model views (``emit_models.model_view``).
    - ``generator_arguments``: expressions of the generator call (``batch["audio"]``).
    - ``generator_structure`` / ``discriminator_structure``: the models' ``output_structure``
      (the generated model returns its outputs flat: None takes one, n a list of n).
    - ``statistics``: the generator returns ``(reconstruction, [mean, logvar])`` (the KL
      term reads them); False when it returns the reconstruction only.
    - ``reconstruction``: ``{"name", "function", "weight", "arguments"}`` per term.
    - ``weights``: adversarial, feature_matching, kl; ``warmup``: steps before the
      adversarial terms (and the discriminator's updates) start.
    - ``generator_values`` / ``discriminator_values``: the names logged per step.
    - ``adversarial``: ``use_adversarial``; when False the generator trains alone
      (reconstruction + KL): ``discriminator`` is None, no adversarial values are logged.
    - ``vae``: objective ``vae``, the model alone (never adversarial): the script speaks of a
      VAE trained on reconstruction + KL; ``subtitle`` (the docstring's first line, after the
      backend; "" for ``adversarial``: each template's own) and ``alone`` (what "the generator
      alone" means: ``(use_adversarial = false)`` or ``(objective vae)``).
    """
    plan = program.objective
    arguments = plain(plan.arguments) or {}
    adversarial = plan.kind == "adversarial" and arguments["use_adversarial"]
    generator_name, discriminator_name = (plan.models + (None,))[:2]
    generator, discriminator = models[generator_name], models.get(discriminator_name)
    graphs = {graph.name: graph for graph in program.models}
    structure = graphs[generator_name].output_structure
    statistics = len(structure) >= 2 and structure[1] == 2
    if arguments["kl_weight"] > 0 and not statistics:
        raise EmitError(
            f"kl_weight > 0 needs a generator returning (reconstruction, [mean, logvar]); "
            f"model {generator_name!r} returns {len(graphs[generator_name].outputs)} tensor(s)"
        )
    prefix = generator_name + "." if len(plan.models) > 1 else ""  # one model: its inputs are not prefixed
    bindings = {name[len(prefix) :]: source for name, source in plan.inputs if name.startswith(prefix)}
    generator_arguments = []
    for name in generator["inputs"]:
        source = bindings.get(name, f"data.{name}")
        scope, _, field = source.partition(".")
        generator_arguments.append(f'batch["{plan.target if scope == "objective" else field}"]')
    kinds = [term.loss.kind for term in plan.terms]
    reconstruction = []
    for name, term in zip(_term_names(kinds), plan.terms):
        if term.loss.kind not in RECONSTRUCTION_LOSSES:
            raise EmitError(f"loss {term.loss.kind!r} is not a reconstruction term of objective {plan.kind}")
        reconstruction.append(
            {
                "name": identifier(name),
                "function": RECONSTRUCTION_LOSSES[term.loss.kind],
                "weight": term.weight,
                "arguments": plain(term.loss.arguments) or {},
            }
        )
    generator_values = ["loss", "reconstruction"] + [term["name"] for term in reconstruction]
    generator_values += ["kl"] if statistics else []
    generator_values += ["adversarial", "feature_matching", "grad_norm"] if adversarial else ["grad_norm"]
    return {
        "generator": generator,
        "discriminator": discriminator,
        "generator_arguments": generator_arguments,
        "generator_structure": tuple(structure),
        "discriminator_structure": tuple(graphs[discriminator_name].output_structure) if adversarial else (),
        "statistics": statistics,
        "reconstruction": reconstruction,
        "weights": {
            "adversarial": float(arguments.get("adversarial_weight", 0.0)),
            "feature_matching": float(arguments.get("feature_matching_weight", 0.0)),
            "kl": float(arguments["kl_weight"]),
        },
        "warmup": int(arguments.get("adversarial_warmup", 0)),
        "generator_values": generator_values,
        "discriminator_values": ["discriminator_loss", "discriminator_grad_norm"] if adversarial else [],
        "adversarial": adversarial,
        "vae": plan.kind == "vae",
        "subtitle": _subtitle(plan.kind, statistics),
        "alone": "(objective vae)" if plan.kind == "vae" else "(use_adversarial = false)",
    }


def _subtitle(kind: str, statistics: bool) -> str:
    """What a ``vae`` script trains, for its docstring (``adversarial``: "", the template's)."""
    if kind != "vae":
        return ""
    return ": a VAE trained on reconstruction + KL" if statistics else ": an autoencoder trained on reconstruction"


def generator_loop(program: ir.Program) -> bool:
    """True when the objective trains through the generator loop (``adversarial``, ``vae``)."""
    return program.objective.kind in GENERATOR_OBJECTIVES


def check_adversarial_models(program) -> None:
    """A GAN calls the discriminator with one signal: it must take one input."""
    if program.objective.kind != "adversarial" or len(program.objective.models) < 2:
        return  # use_adversarial = false: no discriminator
    graphs = {graph.name: graph for graph in program.models}
    discriminator = graphs[program.objective.models[1]]
    if len(discriminator.inputs) != 1:
        raise EmitError(
            f"adversarial: the discriminator {discriminator.name!r} must take one input (the signal), "
            f"it takes {len(discriminator.inputs)}"
        )


def discriminator_logits(program, name: str) -> int:
    """How many of the discriminator's flat outputs are logit maps: the length of its first
    returned value (``return logits, features``); the rest are feature maps."""
    graph = next(graph for graph in program.models if graph.name == name)
    structure = graph.output_structure or (None,) * len(graph.outputs)
    if len(structure) != 2:
        raise EmitError(f"adversarial: the discriminator {name!r} must return (logits, features), it returns {len(structure)} value(s)")
    return 1 if structure[0] is None else int(structure[0])


# ----------------------------------------------------------------------------- from the program alone


def program_language_model_view(program: ir.Program) -> dict:
    """:func:`language_model_view` of the objective's own inputs."""
    return language_model_view(program, {"inputs": [name for name, _ in program.objective.inputs]})


def program_adversarial_view(program: ir.Program) -> dict:
    """:func:`adversarial_view` with each model viewed by its input names only."""
    models = {graph.name: {"inputs": [name for name, _ in graph.inputs]} for graph in program.models}
    return adversarial_view(program, models)


# ----------------------------------------------------------------------------- class labels


def label_ranges(program: ir.Program) -> dict[str, tuple]:
    """Data field -> ``(classes,)``, or ``(classes, ignored label)`` when the cross-entropy's
    ``ignore_index`` lies outside ``[0, classes)``, for the target an objective reads as class
    labels: ``classification`` (logits ``[B, C]``) and ``language_model`` (logits
    ``[B, T, V]``). The generated script appends it to the field's ``DATA_FIELDS`` entry, and
    ``specc.runtime.data.check_source`` refuses a label outside the range before step 1."""
    plan = program.objective
    if plan.kind not in ("classification", "language_model") or not plan.target or not plan.models:
        return {}
    graph = next((graph for graph in program.models if graph.name == plan.models[0]), None)
    classes = graph.outputs[0].shape[-1] if graph is not None and graph.outputs and graph.outputs[0].shape else None
    if not isinstance(classes, int):
        return {}
    ignored = None
    for term in plan.terms:
        if term.loss.kind == "cross_entropy":
            ignored = (plain(term.loss.arguments) or {}).get("ignore_index")
    if ignored is None or 0 <= int(ignored) < classes:
        return {plan.target: (classes,)}
    return {plan.target: (classes, int(ignored))}
