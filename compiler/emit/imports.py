"""The import lines of each backend's script: exactly the modules it uses, in isort's order
(specc is a third-party package). What they share: the ``specc.runtime`` lines
(:func:`~specc.compiler.emit.calls.specc_imports`) and the backend table's framework imports.
"""

from __future__ import annotations

import re

from specc.compiler.backends import GENERATOR_OBJECTIVES, get_backend
from specc.compiler.emit.calls import specc_imports
from specc.compiler.emit.extensions import replaces_loss, takes_ops
from specc.compiler.emit.graph_losses import sampler_imports
from specc.compiler.emit.models import model_view


def model_text(models: list[dict]) -> str:
    """The constructor and forward lines of the models' generated classes, as one text."""
    return "\n".join(
        line for model in models for item in model["classes"] for line in list(item["constructor"]) + list(item["body"])
    )


def jax_imports(program, context: dict, fields: dict, extensions: bool = False) -> dict:
    """The import lines of the script: only what it uses."""
    text = model_text(context["models"])
    runtime = {"state"}
    for name in ("layers", "preprocess", "flows", "losses", "metrics"):
        if re.search(rf"\b{name}\.", text):
            runtime.add(name)
    kind = program.objective.kind
    if (kind != "language_model" or fields["language_model_ce"]) and not replaces_loss(program.objective):
        runtime.add("losses")
    if kind == "language_model" and fields["language_model"]["terms"]:
        runtime.add("objectives")  # the expected-value terms
    if fields["objective"]["is_flow"] and (fields["metrics"]["host"] or fields["objective"]["nulls"]):
        runtime.add("flows")
    if any("metrics." in line for line in fields["metrics"]["device"] + fields["metrics"]["host"]) or program.train.metrics:
        runtime.add("metrics")
    if fields["schedules"]:
        runtime.add("schedules")
    if takes_ops(program.objective) or calls_externs(program):  # user code takes the array operations
        runtime.add("ops")
    if program.train.precision == "fp16":
        runtime.add("precision")  # the dynamic loss scale
    return {"specc": [wrap(line) for line in specc_imports("jax", runtime, extensions, sampler_imports(program))]}


def model_modules(program) -> set[str]:
    """The runtime modules the generated model classes call (``preprocess.mel_spectrogram``...)."""
    found = set()
    for graph in program.models:
        for item in model_view(graph, "")["classes"]:
            for line in list(item["constructor"]) + list(item["body"]) + [item["returns"]]:
                found |= {name for name in RUNTIME_MODULES if f"{name}." in line}
    return found | ({"ops"} if calls_externs(program) else set())


def calls_externs(program) -> bool:
    """Whether a model calls a user function (``extern``): it takes the array operations."""
    return any(graph.externs for graph in program.models)


RUNTIME_MODULES = ("layers", "preprocess", "flows", "losses", "metrics", "objectives", "schedules")


def mlx_imports(view: dict) -> dict:
    """The script's import lines, isort-ordered (specc is a third-party package): the
    backend table's framework imports plus what this script uses."""
    stdlib = ["import functools"] if view["functools"] else []
    stdlib += ["import sys", "import time"]
    lines = [line for line in get_backend("mlx").imports if view["optim"] or "mlx.optimizers" not in line]
    if view["numpy"]:
        lines.append("import numpy as np")
    if view["tree_map"]:
        lines.append("from mlx.utils import tree_map")
    lines += specc_imports("mlx", view["modules"], view.get("extensions", False), view.get("reference", ()))
    straight = sorted(line for line in lines if line.startswith("import "))
    from_lines = sorted((line for line in lines if line.startswith("from ")), key=lambda line: line.split(" import ")[0])
    return {"stdlib": stdlib, "third_party": [wrap(line) for line in straight + from_lines]}


def lightning_imports(program, context: dict, view: dict, extensions: bool = False) -> list[str]:
    """The script's import lines, exactly the modules it uses, in isort's order."""
    objective = context["objective"]
    kind = program.objective.kind
    stdlib = ["import sys", "import time"]
    if view.get("ema"):
        stdlib.insert(0, "import copy")
    third = list(get_backend("lightning").imports)
    callbacks = []
    if view["early_stopping"]:
        callbacks.append("EarlyStopping")
    if callbacks:
        third.append(f"from lightning.pytorch.callbacks import {', '.join(callbacks)}")
    if view["tensorboard"]:
        third.append("from lightning.pytorch.loggers import TensorBoardLogger")
    runtime = {"layers"} | {"state"}
    text = model_text(context["models"])
    for module in ("preprocess", "flows"):
        if f"{module}." in text:
            runtime.add(module)
    if not replaces_loss(program.objective):
        runtime.add("losses")
    if any(call["call"].startswith("metrics.") for call in view["metrics"]) or program.train.metrics:
        runtime.add("metrics")
    if objective["is_flow"] and (view["needs"].get("samples") or objective["nulls"]):  # sampling, CFG dropout
        runtime.add("flows")
    # the GAN's steps and the frozen models of the generator loop (alone: only when it freezes)
    generator_loop = kind in GENERATOR_OBJECTIVES and (context["adversarial"]["adversarial"] or bool(program.train.freeze))
    if generator_loop or (kind == "language_model" and view["terms"]):
        runtime.add("objectives")  # the expected-value terms of a language model, the GAN's losses
    if any(optimizer["schedule"] for optimizer in view["optimizers"]):
        runtime.add("schedules")
    if takes_ops(program.objective) or calls_externs(program):  # user code takes the array operations
        runtime.add("ops")
    specc = specc_imports("torch", runtime, extensions, sampler_imports(program))
    return [stdlib, [wrap(line) for line in sorted(third + specc, key=isort_key)]]  # specc: third-party


def wrap(line: str) -> str:
    """An import longer than isort's 88 columns, one name a line as isort writes it."""
    if len(line) <= 88 or " import " not in line:
        return line
    module, names = line.split(" import ")
    return module + " import (\n" + "".join(f"    {name},\n" for name in names.split(", ")) + ")"


def isort_key(line: str):
    """isort's default order inside a section: ``import x`` lines before ``from x import``."""
    return (line.startswith("from "), line.split()[1].lower())
