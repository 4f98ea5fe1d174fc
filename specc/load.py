"""Rebuild a trained model from a checkpoint alone: ``load_model`` (what a checkpoint holds,
``describe_checkpoint``, is :mod:`specc.describe`).

A checkpoint (``runtime/training/checkpoints.py``, docs/checkpoints.md) carries the resolved
spec (manifest ``"spec"``: imports inlined, ``--set`` overrides listed in its header) and the
weights in PyTorch layout under the compiler's dotted names (``<param>`` for a one-model
spec, ``<model>.<param>`` when the spec has several models). Loading:

1. read ``manifest.json`` and the shapes in ``model.safetensors``;
2. re-check the embedded spec with the compiler (``pipeline.check``, from memory, with the
   listed overrides) -> ``ir.Program``;
3. render only the model classes for the backend (``compiler.emit_standalone``), execute
   them in a fresh module namespace and instantiate the chosen model;
4. compare the checkpoint's names and shapes with the model's (every difference listed),
   load the arrays with the backend's ``state.load_state_dict`` and switch to eval mode.

This module sits above both the compiler and the runtime (the runtime never imports the
compiler). Every failure is a :class:`CheckpointError` naming the checkpoint and the problem.
"""

from __future__ import annotations

import importlib
import json
import linecache
import types
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import specc

SPEC_FILE = "spec.resolved.mf"  # the name the embedded spec is checked under (as in a run directory)
OVERRIDE_PREFIX = "# --set "


class CheckpointError(ValueError):
    """A checkpoint that cannot be described or loaded (the message names the problem)."""


@dataclass(frozen=True)
class CheckedCheckpoint:
    """A checkpoint whose embedded spec checked: its folder, manifest, array shapes (by
    checkpoint key), the ``--set`` overrides and the compiler's result."""

    path: Path
    manifest: dict
    shapes: dict
    overrides: tuple
    result: object

    @property
    def program(self):
        return self.result.program


# ----------------------------------------------------------------------------- reading


def checkpoint_directory(path) -> Path:
    """The step folder of ``path``: a checkpoint folder, a ``checkpoints/last`` link, or a
    run directory (its ``checkpoints/last``; without that link, ``checkpoint.last = false``,
    its newest complete checkpoint by step)."""
    from specc.runtime.training.checkpoints import CHECKPOINTS, LAST, MANIFEST, MODEL_FILE, newest_checkpoint

    directory = Path(path)
    if not directory.exists():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist")
    if not directory.is_dir():
        raise CheckpointError(f"checkpoint {str(path)!r} is not a directory")
    last = directory / CHECKPOINTS / LAST
    if not (directory / MANIFEST).exists() and last.is_dir():
        directory = last
    elif not (directory / MANIFEST).exists() and not last.is_symlink() and (directory / CHECKPOINTS).is_dir():
        directory = newest_checkpoint(directory) or directory
    for file_name in (MANIFEST, MODEL_FILE):
        if not (directory / file_name).is_file():
            raise CheckpointError(f"checkpoint {str(path)!r} has no {file_name}; it is not a specc checkpoint or is incomplete")
    return directory.resolve()


def read_manifest(directory: Path) -> dict:
    from specc.runtime.training.checkpoints import MANIFEST

    try:
        manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"checkpoint {str(directory)!r}: {MANIFEST} is not readable JSON ({error})") from error
    if not isinstance(manifest, dict):
        raise CheckpointError(f"checkpoint {str(directory)!r}: {MANIFEST} is not a JSON object")
    return manifest


def array_shapes(directory: Path) -> dict[str, tuple[int, ...]]:
    """``{key: shape}`` of ``model.safetensors`` without reading the arrays."""
    from safetensors import safe_open

    from specc.runtime.training.checkpoints import MODEL_FILE

    try:
        with safe_open(str(directory / MODEL_FILE), framework="numpy") as handle:
            return {key: tuple(handle.get_slice(key).get_shape()) for key in sorted(handle.keys())}
    except Exception as error:  # safetensors raises its own error types on a damaged file
        raise CheckpointError(f"checkpoint {str(directory)!r}: {MODEL_FILE} is not readable ({error})") from error


def read_arrays(directory: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    from specc.runtime.training.checkpoints import MODEL_FILE

    return load_file(str(directory / MODEL_FILE))


def embedded_overrides(spec_text: str) -> tuple[str, ...]:
    """The ``--set`` overrides listed in the header of a resolved spec
    (``# --set k=8`` lines right after ``# resolved from ...``)."""
    overrides = []
    for line in spec_text.split("\n")[1:]:
        if not line.startswith(OVERRIDE_PREFIX):
            break
        overrides.append(line[len(OVERRIDE_PREFIX) :])
    return tuple(overrides)


def _reader(spec_text: str):
    """``read(path)`` for the checker: the embedded spec under SPEC_FILE, the user's Python
    files it names (an ``extern`` function: read where the path leads from here, an absolute
    one where it was), and nothing else (its imports are inlined; the std folder stays
    readable for safety)."""
    from specc.compiler.pipeline import std_root

    root = std_root()

    def read(path: str) -> bytes:
        if path == SPEC_FILE:
            return spec_text.encode("utf-8")
        if path.startswith(root + "/") or path.endswith(".py"):
            return Path(path).read_bytes()
        raise FileNotFoundError(f"{path}: a checkpoint's spec has its imports inlined")

    return read


def check_checkpoint(path) -> CheckedCheckpoint:
    """Read ``path`` and re-check its embedded spec; :class:`CheckpointError` when the
    manifest has no spec or the spec no longer checks (with the diagnostics)."""
    from specc.compiler.pipeline import check
    from specc.dsl.diagnostics import render_all

    directory = checkpoint_directory(path)
    manifest = read_manifest(directory)
    spec_text = manifest.get("spec")
    if not isinstance(spec_text, str) or not spec_text.strip():
        raise CheckpointError(
            f"checkpoint {str(path)!r}: manifest.json has no \"spec\" (the resolved spec text), so the "
            "model cannot be rebuilt; only checkpoints written by a specc training script describe themselves"
        )
    overrides = embedded_overrides(spec_text)
    result = check(SPEC_FILE, _reader(spec_text), overrides)
    unreadable = next((d for d in result.errors if d.code == "E0530"), None)
    if unreadable is not None:  # user code: a relative path started at the folder of the spec it was trained from
        raise CheckpointError(
            f"checkpoint {str(path)!r}: its spec names user code that cannot be read from here ({unreadable.message}); "
            "a relative path starts at the folder of the spec file it was trained from: load the checkpoint from "
            "that folder, or write the path absolute in the spec"
        )
    if result.program is None:
        written_by = manifest.get("specc_version", "an unknown version")
        diagnostics = render_all(result.errors, result.sources).rstrip("\n")
        raise CheckpointError(
            f"checkpoint {str(path)!r}: its spec (written by specc {written_by}) no longer checks with "
            f"specc {specc.__version__}:\n{diagnostics}"
        )
    return CheckedCheckpoint(directory, manifest, array_shapes(directory), overrides, result)


# ----------------------------------------------------------------------------- models and weights


def choose_model(checked: CheckedCheckpoint, model: str | None) -> str:
    """The model to load: ``model``, or the only model of the spec."""
    names = [graph.name for graph in checked.program.models]
    if model is None:
        if len(names) == 1:
            return names[0]
        raise CheckpointError(
            f"checkpoint {str(checked.path)!r} holds {len(names)} models ({', '.join(names)}); "
            "choose one with model=..."
        )
    if model not in names:
        raise CheckpointError(
            f"checkpoint {str(checked.path)!r} has no model {model!r}; its models: {', '.join(names)}"
        )
    return model


def key_prefix(program, model: str) -> str:
    """Checkpoint keys of ``model``: ``<param>`` for one model, ``<model>.<param>`` for several
    and for the generator loop's objectives (``adversarial``, ``vae``), one model or two."""
    from specc.compiler.backends import GENERATOR_OBJECTIVES

    several = len(program.models) > 1 or program.objective.kind in GENERATOR_OBJECTIVES
    return f"{model}." if several else ""


def expected_shapes(program, model: str, nulls: tuple) -> dict[str, tuple[int, ...]]:
    """``{parameter: shape}`` of ``model`` (plus its null-condition embeddings)."""
    graph = next(graph for graph in program.models if graph.name == model)
    shapes = {name: tuple(parameter.shape) for name, parameter in graph.parameters}
    shapes.update({name: tuple(shape) for name, shape in nulls})
    return shapes


def model_shapes(checked: CheckedCheckpoint, model: str) -> dict[str, tuple[int, ...]]:
    """The checkpoint's arrays of ``model``, prefix removed; :class:`CheckpointError` when a
    checkpoint of several models has no ``<model>.`` key at all."""
    prefix = key_prefix(checked.program, model)
    if not prefix:
        return dict(checked.shapes)
    shapes = {key[len(prefix) :]: shape for key, shape in checked.shapes.items() if key.startswith(prefix)}
    if not shapes:
        raise CheckpointError(
            f"checkpoint {str(checked.path)!r} has no weights of model {model!r}: the spec has several models, "
            f"so their weights are named '<model>.<parameter>' and none starts with {prefix!r}"
        )
    return shapes


def _listed(names, limit: int = 8) -> str:
    names = sorted(names)
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def check_weights(path: Path, model: str, expected: dict, given: dict, prefix: str, strict: bool = True) -> None:
    """Every parameter present with its shape and nothing else (``strict``; otherwise only the
    shapes of the names both have); one message listing the missing, unexpected and
    mis-shaped names (checkpoint keys, with their prefix)."""
    problems = []
    missing = [prefix + name for name in expected if name not in given] if strict else []
    unexpected = [prefix + name for name in given if name not in expected] if strict else []
    shaped = [
        f"{prefix}{name} {list(given[name])} (the model has {list(expected[name])})"
        for name in sorted(expected)
        if name in given and tuple(given[name]) != tuple(expected[name])
    ]
    if missing:
        problems.append(f"missing {_listed(missing)}")
    if unexpected:
        problems.append(f"unexpected {_listed(unexpected)}")
    if shaped:
        problems.append(f"wrong shape {'; '.join(shaped[:8])}")
    if problems:
        raise CheckpointError(
            f"checkpoint {str(path)!r}: the weights do not match model {model!r}: " + "; ".join(problems)
        )


def _attach_torch(instance, name: str, shape: tuple) -> None:
    import torch

    setattr(instance, name, torch.nn.Parameter(torch.zeros(shape)))


def _attach_jax(instance, name: str, shape: tuple) -> None:
    import jax.numpy as jnp
    from flax import nnx

    setattr(instance, name, nnx.Param(jnp.zeros(shape, jnp.float32)))


def _attach_mlx(instance, name: str, shape: tuple) -> None:
    import mlx.core as mx

    setattr(instance, name, mx.zeros(shape, dtype=mx.float32))


# runtime (a backend table's ``runtime``) -> how a learned null-condition embedding is added
# to a model (as in build_model)
ATTACH_PARAMETER = {"torch": _attach_torch, "jax": _attach_jax, "mlx": _attach_mlx}
DEFAULT_RUNTIME = "torch"  # load_model's default: a plain PyTorch module


def loader_runtime(backend: str) -> str:
    """The runtime package of a loader backend name: a runtime (``torch``, ``jax``, ``mlx``)
    or a script backend (``lightning``), as the backend tables say (their ``runtime``)."""
    from specc.compiler.backends import BACKEND_NAMES, get_backend, runtime_name, suggested_backend

    try:
        return runtime_name(backend)
    except ValueError:
        runtimes = [get_backend(name).runtime for name in BACKEND_NAMES]
        choices = [DEFAULT_RUNTIME] + [runtime for runtime in runtimes if runtime != DEFAULT_RUNTIME]
        suggestion = suggested_backend(str(backend), choices)
        hint = f"; did you mean {suggestion!r}?" if suggestion else ""
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(choices)}{hint}") from None


def execute_models(source: str, spec_name: str, runtime: str) -> types.ModuleType:
    """Run the rendered model classes in a fresh module (registered in ``linecache`` so
    tracebacks show the generated lines)."""
    file_name = f"<specc models {spec_name} {runtime}>"
    linecache.cache[file_name] = (len(source), None, source.splitlines(keepends=True), file_name)
    module = types.ModuleType(f"specc_models_{spec_name}_{runtime}", f"Model classes of {spec_name} for {runtime}.")
    module.__dict__["__file__"] = file_name
    exec(compile(source, file_name, "exec"), module.__dict__)
    return module


def load_model(
    checkpoint, backend: str = DEFAULT_RUNTIME, model: str | None = None, strict: bool = True, map_location=None
):
    """The model of ``checkpoint`` rebuilt for ``backend`` (``torch``: ``nn.Module``,
    ``jax``: ``nnx.Module``, ``mlx``: ``mlx.nn.Module``), weights loaded, in eval mode.

    ``checkpoint``: a step folder (``run/checkpoints/step-000200``), ``run/checkpoints/last``
    or a run directory. ``model``: which model when the spec has several (``"vae"``).
    ``strict=False`` (torch's ``load_state_dict(strict=False)``): a parameter the checkpoint
    lacks keeps the value the run started from (the runtime's initialisation with the run's
    seed), a checkpoint array the model lacks is ignored; a wrong shape is still an error.
    ``map_location`` (torch): the device the module is moved to (``"cuda:0"``); JAX and MLX
    place arrays on their default device and accept only ``None`` or ``"cpu"``.
    Raises :class:`CheckpointError` (a ``ValueError``) naming what is wrong.
    """
    from specc.compiler.emit.standalone import render_models

    runtime = loader_runtime(backend)
    checked = check_checkpoint(checkpoint)
    name = choose_model(checked, model)
    rendered = render_models(checked.program, runtime)
    nulls = rendered.nulls.get(name, ())
    prefix = key_prefix(checked.program, name)
    expected = expected_shapes(checked.program, name, nulls)
    check_weights(checked.path, name, expected, model_shapes(checked, name), prefix, strict)
    if map_location not in (None, "cpu") and runtime != "torch":
        raise CheckpointError(
            f"map_location={map_location!r} is a torch device; the {runtime} runtime places arrays on its default device"
        )
    try:
        namespace = execute_models(rendered.source, checked.program.spec_name, runtime)
    except ImportError as error:
        raise CheckpointError(
            f"backend {backend!r} needs the Python package {error.name!r}, which is not installed "
            f"(pip install 'specc[{runtime}]')"
        ) from error
    instance = getattr(namespace, rendered.roots[name])()
    for parameter, shape in nulls:
        ATTACH_PARAMETER[runtime](instance, parameter, shape)
    arrays = {key[len(prefix) :]: value for key, value in read_arrays(checked.path).items() if key.startswith(prefix)}
    if not strict:
        arrays = partial_arrays(checked, name, expected, arrays)
    state = importlib.import_module(f"specc.runtime.{runtime}.state")
    state.load_state_dict(instance, arrays)
    instance.eval()
    return instance.to(map_location) if runtime == "torch" and map_location is not None else instance


def partial_arrays(checked: CheckedCheckpoint, model: str, expected: dict, arrays: dict) -> dict:
    """``load_model(strict=False)``: the checkpoint's arrays of the model's parameters, and
    for each one it lacks the value the run started from (``init.initialize`` with the
    manifest's seed; zeros for a null-condition embedding)."""
    from specc.runtime import init

    graph = next(graph for graph in checked.program.models if graph.name == model)
    start = init.initialize(graph.parameters, int(checked.manifest.get("seed", 0)))
    return {
        parameter: arrays[parameter] if parameter in arrays else start.get(parameter, np.zeros(shape, np.float32))
        for parameter, shape in expected.items()
    }


# ----------------------------------------------------------------------------- description
