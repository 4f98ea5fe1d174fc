"""``data { predict = "predict.npz" }``: the file of inputs ``python train.py --predict``
writes the model's outputs for (seed 004's ``SurgeDataModule(predict_file=...)``), checked
at lint (E0566-E0568):

- E0566, an objective without a predict mode (a flow samples with ``eval.test_sampler``,
  else ``eval.sampler``, which it then needs; a classifier or a regressor runs its model;
  language models, VAEs and GANs have ``specc sample`` or nothing), or a model that reads no
  data field but the target (nothing in the file to predict from);
- E0567, a file that is neither an ``.npz`` nor an HDF5 file (``.h5``, ``.hdf5``);
- E0568, an ``.npz`` read at lint (the arrays' headers only, never a pickle, as
  ``data_options`` reads saved statistics) that lacks a field the model reads, or holds it
  with another per-row shape. An HDF5 file is checked when the script reads it; a file absent
  at lint is warning E0527 (``data_paths``).

The fields read are the model's inputs bound to data fields (``bindings``), the target
excepted: the file holds inputs, not answers.
"""

from __future__ import annotations

from specc.compiler.check.cross_field import Facts
from specc.compiler.check.data_options import npz_headers
from specc.compiler.check.data_paths import spec_relative_reader
from specc.dsl.diagnostics import printable
from specc.runtime.checks import format_shape

FLOWS = ("flow_matching", "mean_flow", "improved_mean_flow")
SUPERVISED = ("classification", "regression")
EXTENSIONS = (".npz", ".h5", ".hdf5")  # as specc.runtime.data.predict.EXTENSIONS


def check_predict(facts: Facts, read, fields: dict | None, bindings: dict, target: str | None) -> None:
    """E0566-E0568 on the data section's ``predict`` (module docstring)."""
    path = facts.value("data", "predict")
    if not isinstance(path, str):
        return
    span = facts.span("data", "predict")
    kind = facts.objective_kind()
    if kind not in FLOWS + SUPERVISED:
        facts.error(
            "E0566",
            f"objective `{kind}` has no predict mode: `predict` writes a flow's samples or a classifier's or "
            "regressor's outputs",
            span,
            "remove `predict`" + ("; `specc sample` draws from a language model" if kind == "language_model" else ""),
        )
        return
    if kind in FLOWS and facts.value("eval", "sampler") is None:
        facts.error(
            "E0566",
            "`predict` samples with the objective's sampler, and `eval` sets none",
            span,
            "e.g. eval { sampler = rk4(steps = 100) } (a test_sampler, when set, is the one used)",
        )
        return
    inputs = input_fields(bindings, target)
    if fields is not None and bindings and not inputs:
        facts.error(
            "E0566",
            "`predict` reads the model's inputs from the file, and the model reads no data field but the target: "
            "there is nothing to predict from",
            span,
            "remove `predict`; an unconditional flow samples without inputs",
        )
        return
    if not path.endswith(EXTENSIONS):
        facts.error(
            "E0567",
            f"`{printable(path)}` is neither an .npz nor an HDF5 file (.h5, .hdf5)",
            span,
            "save the inputs with numpy.savez(path, <field> = ...) or as top-level HDF5 datasets",
        )
        return
    if fields is None or not path.endswith(".npz"):
        return
    problem = npz_problem(spec_relative_reader(facts, read, "data", "predict"), path, fields, inputs)
    if problem is not None:
        facts.error("E0568", problem, span, f"the file holds the model's inputs, one row each: {', '.join(inputs) or 'none'}")


def input_fields(bindings: dict, target: str | None) -> list[str]:
    """The data fields the objective's models read, the target excepted, in binding order."""
    found = []
    for pairs in bindings.values():
        for _, source in pairs:
            name = source.split(".", 1)[1] if source.startswith("data.") else None
            if name is not None and name != target and name not in found:
                found.append(name)
    return found


def npz_problem(read, path: str, fields: dict, inputs) -> str | None:
    """What is wrong with the ``.npz`` of inputs at ``path``, or None (fine, or absent or
    unreadable here: E0527 and the script's own check)."""
    shown = f"`{printable(path)}`"
    headers, problem = npz_headers(read, path, "inputs")
    if headers is None:
        return problem
    for name in inputs:
        if name not in headers:
            return f"{shown} has no array `{name}`, a model input (arrays: {', '.join(sorted(headers)) or 'none'})"
        shape, dtype = headers[name]
        declared = tuple(fields[name].shape)
        if len(shape) == 0 or tuple(shape[1:]) != declared:
            return (
                f"{shown}: array `{name}` has shape {format_shape(shape)}, but field `{name}` is "
                f"{fields[name].dtype}{format_shape(declared)} per row"
            )
        if dtype.kind not in "fiub":
            return f"{shown}: array `{name}` holds dtype {dtype}; inputs are numbers"
    return None
