"""Measure the peak memory of one PyTorch training step of a spec's model on CPU.

Run as a script in a fresh process (``python -m tests.analysis.measure_memory SPEC BATCH
[--set K=V ...]``); prints JSON ``{"measured": bytes, "estimated": bytes}``.

What is measured: the growth of the process's peak resident memory (``VmHWM``) from the
moment before the model is built to the end of one step (forward, cross-entropy loss,
backward, Adam/AdamW update) with ``BATCH`` examples. Kernels are loaded first by a warm-up
step of a tiny model, so that the library's one-time allocations are in the baseline.
The estimate is ``specc summary``'s: ``ProgramSummary.memory(BATCH)``.
"""

from __future__ import annotations

import json
import resource
import sys
from pathlib import Path

import torch
import torch.nn.functional as F


def resident_bytes() -> int:
    """The process's current resident memory (Linux: /proc/self/statm)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize()


def peak_bytes() -> int:
    """The peak resident memory of this process's own address space (Linux: ``VmHWM`` of
    /proc/self/status). Not ``ru_maxrss``: Linux carries it over ``exec`` from the process
    that forked this one, so under a large parent (a pytest-xdist worker of 2 GB) every
    measurement read the parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux


def example_inputs(graph, dimensions: dict, batch: int) -> list:
    from specc.compiler.analysis.summary import per_example

    values = []
    for _, kind in graph.inputs:
        shape = (batch, *per_example(kind, dimensions))
        if kind.dtype == "bool":
            values.append(torch.ones(shape, dtype=torch.bool))
        elif kind.dtype in ("i64", "i32"):
            values.append(torch.randint(0, 2, shape))
        else:
            values.append(torch.randn(shape))
    return values


def train_step(model, inputs, optimizer) -> None:
    output = model(*inputs)
    logits = output[0] if isinstance(output, (tuple, list)) else output
    labels = torch.randint(0, logits.shape[-1], logits.shape[:-1])
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1))
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=False)


def warm_up() -> None:
    """One step of a tiny linear + embedding + attention model: loads the kernels."""
    from specc.runtime.torch import layers

    embedding, attention, linear = layers.Embedding(8, 8), layers.MultiHeadAttention(8, 2, True), layers.Linear(8, 8)
    parameters = [*embedding.parameters(), *attention.parameters(), *linear.parameters()]
    optimizer = torch.optim.AdamW(parameters)
    for parameter in parameters:
        torch.nn.init.normal_(parameter, std=0.1)
    hidden = linear(attention(F.layer_norm(embedding(torch.randint(0, 8, (2, 4))), (8,))))
    F.cross_entropy(hidden.reshape(-1, 8), torch.zeros(8, dtype=torch.long)).backward()
    optimizer.step()


def main(arguments: list[str]) -> None:
    from specc.compiler.analysis.summary import bind_dimensions, summarize
    from specc.compiler.emit.standalone import render_models
    from specc.compiler.pipeline import check
    from specc.load import execute_models

    spec, batch = arguments[0], int(arguments[1])
    overrides = tuple(arguments[index + 1] for index, item in enumerate(arguments) if item == "--set")
    program = check(spec, lambda path: Path(path).read_bytes(), overrides).program
    graph = program.models[0]
    dimensions, _ = bind_dimensions(program, graph)
    rendered = render_models(program, "torch")
    namespace = execute_models(rendered.source, program.spec_name, "torch")
    torch.manual_seed(0)
    warm_up()
    inputs = example_inputs(graph, dimensions, batch)
    baseline = resident_bytes()
    model = getattr(namespace, rendered.roots[graph.name])()
    model.train()
    optimizer_class = torch.optim.AdamW if program.optimizers[0].optimizer.kind == "adamw" else torch.optim.Adam
    train_step(model, inputs, optimizer_class(model.parameters(), lr=1e-4))
    measured = peak_bytes() - baseline
    estimated = summarize(program).memory(batch)
    print(json.dumps({"measured": measured, "estimated": estimated}))


if __name__ == "__main__":
    torch.set_num_threads(1)
    main(sys.argv[1:])
