"""Fused ``scaled_dot_product_attention`` against the written-out attention on torch: median
milliseconds per forward + backward of ``specc.runtime.torch.functions.attention`` (and of a
whole causal ``MultiHeadAttention`` layer, projections included) on two shapes, and the
ratio written-out / fused (above 1: the fused path is faster). Not asserted anywhere:
performance is measured, not tested, and this file is not part of the test suite.

    python benchmarks/torch_attention.py [--threads 1] [--repeat 7] [--steps 20]

The written-out path is the one ``attention`` takes when a callable is passed as
``dropout`` (here the identity): the same code the mean-flow objectives' jvp runs. The two
paths alternate (A B A B ...), ``--repeat`` rounds of ``--steps`` timed iterations each after
a warm-up, so that a change of machine load hits both alike; the load average is printed
before and after.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from specc.runtime.torch import functions, layers

from attention_cases import SHAPES, identity  # benchmarks/attention_cases.py


def attention_step(shape, written_out):
    """One forward + backward of ``attention`` on fixed random q, k, v."""
    batch, steps, dim, heads = shape
    generator = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(batch, steps, dim, generator=generator, requires_grad=True) for _ in range(3))
    dropout = identity if written_out else None

    def step():
        functions.attention(q, k, v, heads, True, None, dropout).sum().backward()

    return step


def layer_step(shape, written_out):
    """One forward + backward of a causal ``MultiHeadAttention`` (projections included)."""
    batch, steps, dim, heads = shape
    torch.manual_seed(0)
    layer = layers.MultiHeadAttention(dim, heads, causal=True)
    for parameter in layer.parameters():
        torch.nn.init.normal_(parameter, std=dim**-0.5)
    if written_out:
        layer.dropout = identity  # a callable on the weights: the written-out path
    x = torch.randn(batch, steps, dim, requires_grad=True)

    def step():
        layer(x).sum().backward()

    return step


def milliseconds(step, count):
    started = time.perf_counter()
    for _ in range(count):
        step()
    return (time.perf_counter() - started) / count * 1e3


def compare(build, shape, repeat, count):
    """Median ms per step of (written-out, fused), interleaved."""
    steps = {"written-out": build(shape, True), "fused": build(shape, False)}
    for step in steps.values():
        milliseconds(step, 3)  # warm-up
    times = {name: [] for name in steps}
    for _ in range(repeat):
        for name, step in steps.items():
            times[name].append(milliseconds(step, count))
    return statistics.median(times["written-out"]), statistics.median(times["fused"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    parser.add_argument("--repeat", type=int, default=7, help="interleaved rounds")
    parser.add_argument("--steps", type=int, default=20, help="timed iterations per round")
    arguments = parser.parse_args()
    torch.set_num_threads(arguments.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), load {os.getloadavg()}")
    print(f"median ms per forward + backward, {arguments.repeat} interleaved rounds of {arguments.steps}")
    print(f"{'shape':46} {'what':10} {'written-out':>11} {'fused':>8} {'ratio':>6}")
    for name, shape in SHAPES.items():
        for what, build in (("attention", attention_step), ("layer", layer_step)):
            written_out, fused = compare(build, shape, arguments.repeat, arguments.steps)
            print(f"{name:46} {what:10} {written_out:11.2f} {fused:8.2f} {written_out / fused:5.2f}x")
    print(f"load after {os.getloadavg()}")


if __name__ == "__main__":
    main()
