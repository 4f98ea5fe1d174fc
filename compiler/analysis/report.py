"""``specc summary`` as text: the layer tables and the training step's costs.

``parse_memory("80GB")`` reads a memory budget: ``B``, ``KB``, ``MB``, ``GB``, ``TB``
(powers of 1000) or ``KiB``, ``MiB``, ``GiB``, ``TiB`` (powers of 1024); sizes are printed
in powers of 1000.
"""

from __future__ import annotations

import re

from specc.compiler.analysis.summary import ModelSummary, ProgramSummary, shape_text

UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
         "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
MEMORY_PATTERN = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*")


def parse_memory(text: str) -> int:
    """Bytes in ``text`` (``80GB``, ``24 GiB``, ``512MB``); ValueError naming what is wrong."""
    found = MEMORY_PATTERN.fullmatch(text)
    if not found or found.group(2).lower() not in UNITS:
        raise ValueError(f"cannot read the memory size {text!r}: write a number and a unit, like 80GB, 24GiB or 512MB")
    memory = int(float(found.group(1)) * UNITS[found.group(2).lower()])
    if memory <= 0:
        raise ValueError(f"the memory size {text!r} must be more than 0 bytes")
    return memory


def size_text(count: float, unit: str) -> str:
    """``1.5 G`` + unit in powers of 1000 (``218.8 GFLOP``, ``1.67 GB``)."""
    for scale, prefix in ((10**15, "P"), (10**12, "T"), (10**9, "G"), (10**6, "M"), (10**3, "k")):
        if abs(count) >= scale:
            return f"{count / scale:.3g} {prefix}{unit}"
    return f"{count:.3g} {unit}"


def budget_text(memory: int) -> str:
    """A memory budget as the user likely wrote it: ``24 GiB`` for a whole number of GiB."""
    for scale, unit in ((2**40, "TiB"), (2**30, "GiB")):
        if memory % scale == 0:
            return f"{memory // scale} {unit}"
    return size_text(memory, "B")


def _table(rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [cell.rjust(width) if column in right else cell.ljust(width)
                 for column, (cell, width) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells).rstrip())
    return lines


def model_table(model: ModelSummary, depth: int) -> list[str]:
    """The layer table down to ``depth`` levels of nesting (1: the model's own body)."""
    rows = [["layer", "kind", "output", "parameters", "forward FLOPs/example"]]
    for row in model.rows:
        if row.depth < depth:
            parameters = "(shared)" if row.parameters is None else f"{row.parameters:,}"
            flops = "unknown" if row.flops is None else f"{row.flops:,}"  # a user function's (extern)
            rows.append(["  " * row.depth + row.path, row.kind, row.output, parameters, flops])
    rows.append(["total", "", "", f"{model.parameters:,}", f"{model.forward_flops:,}"])
    lines = _table(rows, right={3, 4})
    rule = "-" * max(len(line) for line in lines)
    return [lines[0], rule, *lines[1:-1], rule, lines[-1]]


def _model_heading(model: ModelSummary) -> str:
    inputs = ", ".join(f"{name}: {kind.dtype}{shape_text(kind)}" for name, kind in model.inputs)
    bound = "".join(f", {name} = {size}" for name, size in model.dimensions)
    unbound = "".join(f", {name} taken as 1 (no data field sets it)" for name in model.unbound)
    return f"model {model.name}({inputs}){bound}{unbound}"


def cost_lines(summary: ProgramSummary, memory: int | None) -> list[str]:
    batch = summary.batch_size
    micro = f"batch {batch}" + (f" x {summary.accumulate} accumulated" if summary.accumulate > 1 else "")
    lines = [
        f"training step ({micro}, precision {summary.precision}):",
        (f"  FLOPs per step          {size_text(summary.flops_per_step, 'FLOP')} "
         f"(3 x forward FLOPs x {batch * summary.accumulate} examples)"),
    ]
    if summary.note:
        lines.append(f"                          a lower bound: {summary.note}")
    lines += [
        (f"  activations             {size_text(summary.activation_bytes, 'B')} per example, "
         f"{size_text(summary.activation_bytes * batch, 'B')} per batch of {batch}"),
        f"  parameters              {size_text(summary.parameter_bytes, 'B')} ({summary.parameters:,} in fp32)",
    ]
    if summary.working_copy_bytes:
        label = f"{summary.precision} working copy"
        lines.append(f"  {label:<24}{size_text(summary.working_copy_bytes, 'B')}")
    lines.append(f"  gradients               {size_text(summary.gradient_bytes, 'B')} (fp32)")
    for item in summary.optimizers:
        label = f"optimizer {item.name + ': ' if item.name else ''}{item.kind}"
        lines.append(f"  {label:<23} {size_text(4 * item.states * item.parameters, 'B')} "
                     f"({item.states} fp32 value{'s' if item.states != 1 else ''} per parameter)")
    if summary.ema_bytes:
        lines.append(f"  ema                     {size_text(summary.ema_bytes, 'B')}")
    lines.append(f"  estimated peak memory   {size_text(summary.memory(), 'B')} at batch {batch}")
    if memory is not None:
        largest = summary.largest_batch(memory)
        if largest:
            lines.append(f"  largest batch in {budget_text(memory)}: {largest:,} "
                         f"(estimated {size_text(summary.memory(largest), 'B')})")
        else:
            lines.append(f"  largest batch in {budget_text(memory)}: none fits: the parameters, gradients and "
                         f"optimizer state alone need {size_text(summary.static_bytes, 'B')}")
    return lines


def format_summary(summary: ProgramSummary, memory: int | None = None, depth: int = 1, model: str | None = None) -> str:
    """The report of ``specc summary``: the layer table of every model (or of ``model``
    only) down to ``depth`` levels, then the training step, which counts every model."""
    lines = [f"spec {summary.spec_name}"]
    for item in summary.models:
        if model is None or item.name == model:
            lines += ["", _model_heading(item), *model_table(item, depth)]
    if model is not None and len(summary.models) > 1:
        lines += ["", "the training step counts every model: " + ", ".join(item.name for item in summary.models)]
    lines += ["", *cost_lines(summary, memory)]
    return "\n".join(lines) + "\n"


def _model_data(model: ModelSummary) -> dict:
    return {
        "name": model.name,
        "parameters": model.parameters,
        "forward_flops_per_example": model.forward_flops,
        "activation_bytes_per_example": model.activation_bytes,
        "dimensions": dict(model.dimensions),
        "layers": [
            {"path": row.path, "kind": row.kind, "output": row.output, "parameters": row.parameters,
             "forward_flops_per_example": row.flops, "depth": row.depth}
            for row in model.rows
        ],
    }


def summary_data(summary: ProgramSummary, memory: int | None = None, model: str | None = None) -> dict:
    """The summary as JSON data (``specc summary --json``); ``models`` lists every model
    (or ``model`` only), the step's values count every model."""
    data = {
        "spec": summary.spec_name,
        "models": [_model_data(item) for item in summary.models if model is None or item.name == model],
        "precision": summary.precision,
        "batch_size": summary.batch_size,
        "accumulate": summary.accumulate,
        "parameters": summary.parameters,
        "flops_per_step": summary.flops_per_step,
        "activation_bytes_per_example": summary.activation_bytes,
        "parameter_bytes": summary.parameter_bytes,
        "working_copy_bytes": summary.working_copy_bytes,
        "gradient_bytes": summary.gradient_bytes,
        "optimizer_bytes": summary.optimizer_bytes,
        "ema_bytes": summary.ema_bytes,
        "memory_bytes": summary.memory(),
    }
    if memory is not None:
        data["memory_budget_bytes"] = memory
        data["largest_batch"] = summary.largest_batch(memory)
    return data
