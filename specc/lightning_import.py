"""Import a plain Lightning (or PyTorch) checkpoint into specc: ``import_checkpoint`` turns the
weights of a ``.ckpt`` written by a hand-written ``LightningModule`` of the same architecture
into a specc checkpoint, which ``specc.load_model`` loads into every backend, ``specc
inspect`` describes and ``train.warm_start`` starts a run from (seed 003's checkpoints).

How the weights are matched (docs/checkpoints.md, "Importing a plain Lightning checkpoint"):

1. the ``.ckpt`` is read with ``torch.load(weights_only=True)``: tensors and plain
   containers only, so no code stored in the file runs; its ``state_dict`` (or the file
   itself, a bare state dict) holds the weights;
2. the keys under ``prefix`` are kept (default: the attribute holding the network when
   every key starts with the same one, ``model.`` for ``self.model = Net()``), in the file's
   order, which is the order the module registered them;
3. the spec's model is built for torch and its parameters listed in the order *it*
   registers them; the two lists are paired by position, each pair checked for the same
   shape. Any difference (count or a shape) is a :class:`CheckpointError` naming both keys
   and both shapes, since a weight paired with another layer's would load silently.

The result is ``OUT/checkpoints/step-<global_step>/`` with the spec embedded (its manifest
names the imported file); it has no optimizer state, so it warm-starts a run but does not
resume one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from specc.load import CheckpointError, execute_models, expected_shapes, key_prefix


def read_plain_weights(path) -> tuple[dict, dict]:
    """``({key: float32 array}, {"global_step", "epoch"})`` of a Lightning ``.ckpt`` (0 for a
    bare state dict)."""
    import torch

    try:
        data = torch.load(str(path), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist") from None
    except Exception as error:  # torch raises pickle and zip errors of several kinds
        raise CheckpointError(
            f"checkpoint {str(path)!r} cannot be read as weights only ({type(error).__name__}: "
            f"{str(error).splitlines()[0] if str(error) else 'no detail'}); specc never unpickles code from a checkpoint"
        ) from None
    state = data.get("state_dict", data) if isinstance(data, dict) else None
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {str(path)!r} holds no state dict (a mapping of names to tensors)")
    weights = {key: value.detach().to(torch.float32).numpy() for key, value in state.items() if torch.is_tensor(value)}
    if not weights:
        raise CheckpointError(f"checkpoint {str(path)!r}: its state dict holds no tensors")
    return weights, {key: int(data.get(key, 0)) for key in ("global_step", "epoch")}


def common_prefix(keys) -> str:
    """``model.`` when every key starts with that same first part, else ``""``."""
    firsts = {key.split(".", 1)[0] for key in keys}
    return f"{next(iter(firsts))}." if len(firsts) == 1 and all("." in key for key in keys) else ""


def spec_parameter_order(program, model: str) -> list[tuple[str, tuple]]:
    """``(name, shape)`` of ``model``'s parameters in the order its torch module registers
    them (the order a hand-written module of the same layers has)."""
    from specc.compiler.emit.standalone import render_models

    rendered = render_models(program, "torch")
    if rendered.nulls.get(model):
        raise CheckpointError(f"model {model!r} has learned null conditions, which a plain checkpoint does not describe")
    instance = getattr(execute_models(rendered.source, program.spec_name, "torch"), rendered.roots[model])()
    expected = expected_shapes(program, model, ())
    order = [(name, tuple(parameter.shape)) for name, parameter in instance.named_parameters()]
    if sorted(name for name, _ in order) != sorted(expected):
        raise CheckpointError(f"model {model!r}: the torch module's parameters are not the spec's (an internal error)")
    return order


def pair_weights(path, theirs: dict, prefix: str, ours: list[tuple[str, tuple]], model: str) -> dict:
    """``{spec name: array}``: the file's weights under ``prefix`` paired by position with the
    spec's parameters, shape by shape (module docstring)."""
    kept = [(key, value) for key, value in theirs.items() if key.startswith(prefix)]
    if len(kept) != len(ours):
        raise CheckpointError(
            f"checkpoint {str(path)!r} has {len(kept)} tensors under {prefix or 'its root'!r}, model {model!r} has "
            f"{len(ours)} parameters: not the same architecture (or the module holds several networks: give the "
            "prefix of this one's keys, --prefix generator. / prefix=\"generator.\")"
        )
    paired = {}
    for index, ((key, value), (name, shape)) in enumerate(zip(kept, ours)):
        if tuple(value.shape) != shape:
            raise CheckpointError(
                f"checkpoint {str(path)!r}: tensor {index + 1} of {len(ours)}, {key!r} {list(value.shape)}, pairs with "
                f"{name!r} {list(shape)} of model {model!r}: the layers differ (or are registered in another order)"
            )
        paired[name] = np.ascontiguousarray(value)
    return paired


def import_checkpoint(plain, spec, out, model: str | None = None, prefix: str | None = None, overrides=()) -> Path:
    """The specc checkpoint folder made from the plain checkpoint ``plain`` for the model of
    ``spec`` (module docstring); ``out`` becomes its run directory."""
    from specc.compiler.pipeline import check
    from specc.dsl.diagnostics import render_all
    from specc.runtime.training.checkpoints import write_checkpoint

    result = check(str(spec), lambda name: Path(name).read_bytes(), tuple(overrides))
    if result.program is None:
        raise CheckpointError(f"spec {str(spec)!r} does not check:\n{render_all(result.errors, result.sources).rstrip()}")
    program = result.program
    names = [graph.name for graph in program.models]
    chosen = model if model is not None else (names[0] if len(names) == 1 else None)
    if chosen not in names:
        wanted = f"has no model {model!r}" if model is not None else f"has {len(names)} models: choose one with model=..."
        raise CheckpointError(f"spec {str(spec)!r} {wanted} (its models: {', '.join(names)})")
    theirs, progress = read_plain_weights(plain)
    prefix = common_prefix(theirs) if prefix is None else prefix
    weights = pair_weights(plain, theirs, prefix, spec_parameter_order(program, chosen), chosen)
    arrays = {key_prefix(program, chosen) + name: value for name, value in weights.items()}
    manifest = {"spec": program.resolved_source, "spec_name": program.spec_name, "spec_hash": program.spec_hash,
                "backend": "lightning",
                "imported_from": str(Path(plain).resolve()), "epoch": progress["epoch"], "metrics": {}, "seed": 0}
    return write_checkpoint(out, progress["global_step"], arrays, {}, manifest)
