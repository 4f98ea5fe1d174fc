"""Code-text builders every backend module uses: direct calls, keyword lists and the calls
whose shape the three runtimes share (cross-entropy options, early stopping, reconstruction
terms, the sampler's velocity). Arguments are code strings already passed through the
filters; values become code only through :func:`~specc.compiler.emit.filters.literal`.
"""

from __future__ import annotations

from specc.compiler.emit.configuration import plain_arguments
from specc.compiler.emit.filters import identifier, literal

def call(function: str, *positional: str, **keywords: str) -> str:
    """``function(a, b, key=value)`` from code strings (already filtered)."""
    parts = list(positional) + [f"{identifier(key)}={value}" for key, value in keywords.items()]
    return f"{function}({', '.join(parts)})"


def literal_keywords(arguments: dict) -> str:
    """``, name=literal, ...`` (``", "``-prefixed; empty for no arguments)."""
    return "".join(f", {identifier(name)}={literal(value)}" for name, value in arguments.items())


def literal_values(arguments: dict) -> dict:
    """Each value as its literal code (the keywords of :func:`call`)."""
    return {name: literal(value) for name, value in arguments.items()}


def code_keywords(pairs) -> str:
    """``name=code, ...`` from (name, code) pairs whose code is already rendered."""
    return ", ".join(f"{identifier(name)}={code}" for name, code in pairs)


def cross_entropy_term_arguments(plan) -> dict:
    """The arguments of the objective's (last) cross_entropy loss term, empty without one."""
    arguments = {}
    for term in plan.terms:
        if term.loss.kind == "cross_entropy":
            arguments = plain_arguments(term.loss)
    return arguments


def cross_entropy_options(arguments: dict) -> dict:
    """``ignore_index`` / ``label_smoothing`` of a cross_entropy term, only when they do something."""
    found = {}
    if arguments.get("ignore_index") is not None:
        found["ignore_index"] = arguments["ignore_index"]
    if arguments.get("label_smoothing"):
        found["label_smoothing"] = float(arguments["label_smoothing"])
    return found


def early_stopping_call(stopping, argument) -> str:
    """``training.EarlyStopping(monitor, patience, mode, min_delta[, verbose=True])``; each
    value's code from ``argument(group, name, value, key)`` (a configuration name or a literal)."""
    parts = [
        argument("checkpoints", f"early_stopping_{name}", getattr(stopping, name), f"train.early_stopping.{name}")
        for name in ("monitor", "patience", "mode", "min_delta")
    ]
    if stopping.verbose:
        parts.append("verbose=True")
    return call("training.EarlyStopping", *parts)


def reconstruction_call(term: dict, target: str) -> str:
    """``losses.<function>(reconstruction, <target>, key=literal...)`` of a reconstruction term."""
    keywords = literal_values(dict(sorted(term["arguments"].items())))
    return call(f"losses.{identifier(term['function'])}", "reconstruction", target, **keywords)


def specc_imports(framework: str, modules, extensions: bool = False, reference=()) -> list[str]:
    """The script's ``specc.runtime`` imports: data, init and training (and ``extensions``
    when the spec names user code), then the framework's runtime ``modules`` and its
    training helpers (``<framework>_training``), and ``reference``, the numpy reference's
    lines of a time sampler (``emit.graph_losses.sampler_imports``), each in isort's place."""
    lines = [
        "from specc.runtime import data as specc_data",
        "from specc.runtime import extensions, init, training" if extensions else "from specc.runtime import init, training",
        f"from specc.runtime.{framework} import {', '.join(sorted(modules))}",
        f"from specc.runtime.{framework} import training as {framework}_training",
        *reference,
    ]
    return sorted(lines, key=lambda line: line.split(" import ")[0])


def sampler_splits(evaluation: dict) -> list[tuple[str, str, str]]:
    """``(split, prefix, spec key)`` of each evaluation split that samples: ``val`` with
    ``eval.sampler``, then ``test`` when it has its own (``test_`` fields)."""
    splits = (("val", "", "eval.sampler"), ("test", "test_", "eval.test_sampler"))
    return [(split, prefix, key) for split, prefix, key in splits if evaluation[f"{prefix}sampler"]]


def velocity_signature(kind: str) -> str:
    """The parameters of the sampler's ``velocity``: ``one_step`` also takes ``r``."""
    return "x_t, t, r" if kind == "one_step" else "x_t, t"


def velocity_h(kind: str, is_mean_flow: bool) -> str:
    """The ``h`` argument ``velocity`` passes to ``call_model``: none for flow matching;
    ``t - r`` for ``one_step`` (``x_0 = x_1 - u(x_1, t = 1, r = 0)``), else ``0``."""
    if not is_mean_flow:
        return ""
    return ", t - r" if kind == "one_step" else ", t * 0"


def evaluation_splits(program) -> dict:
    """``on_train`` (``eval.on_train``) and ``splits``, the code of the splits the evaluation
    loaders read: ``("val", "test")``, then ``"train_eval"`` (the training examples,
    evaluated; logged as their own split) with ``on_train``."""
    on_train = bool(program.evaluation.on_train)
    return {"on_train": on_train, "splits": '("val", "test", "train_eval")' if on_train else '("val", "test")'}
