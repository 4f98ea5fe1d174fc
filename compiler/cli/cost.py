"""``specc summary``: the layer tables and what a training step costs, before training.

The numbers come from :mod:`specc.compiler.analysis.summary` (formulas in docs/tools.md);
this module only chooses what to print.
"""

from __future__ import annotations

import json
import sys


def run_summary(program, memory: str | None, model: str | None, depth: int, as_json: bool) -> int:
    """Print the summary of ``program``; the exit code."""
    from specc.compiler.analysis.report import format_summary, parse_memory, summary_data
    from specc.compiler.analysis.summary import summarize

    try:
        budget = None if memory is None else parse_memory(memory)
    except ValueError as error:
        sys.stderr.write(f"error: {error}\n")
        return 2
    names = [graph.name for graph in program.models]
    if model is not None and model not in names:
        sys.stderr.write(f"error: the spec has no model `{model}` (its models: {', '.join(names)})\n")
        return 2
    if depth < 1:
        sys.stderr.write(f"error: --depth must be 1 or more (got {depth})\n")
        return 2
    summary = summarize(program)
    if as_json:
        sys.stdout.write(json.dumps(summary_data(summary, budget, model), indent=2, sort_keys=True) + "\n")
    else:
        sys.stdout.write(format_summary(summary, budget, depth, model))
    return 0
