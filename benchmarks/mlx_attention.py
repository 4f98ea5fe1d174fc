"""Fused ``mx.fast.scaled_dot_product_attention`` against the written-out attention on MLX:
median milliseconds per forward + backward of ``specc.runtime.mlx.functions.attention`` (and
of a whole causal ``MultiHeadAttention`` layer, projections included), each ``mx.compile``d
as a generated step is, on two shapes, and the ratio written-out / fused (above 1: the fused
path is faster). Not asserted anywhere: performance is measured, not tested, and this file
is not part of the test suite.

    python benchmarks/mlx_attention.py [--repeat 5] [--steps 5]

The written-out path is the one ``attention`` takes when a callable is passed as ``dropout``
(here the identity), the path of an active attention dropout. The two paths alternate
(A B A B ...), ``--repeat`` rounds of ``--steps`` timed iterations each after a warm-up, so
that a change of machine load hits both alike; the load average is printed before and after.
On a CPU MLX runs the fused call as its fallback ops (``ScaledDotProductAttention::
use_fallback`` is true for CPU streams), so there the comparison is of two op sequences.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import mlx.core as mx
import numpy as np

from specc.runtime.init import layer_parameters
from specc.runtime.mlx import functions, layers, state

from attention_cases import SHAPES, identity  # benchmarks/attention_cases.py


def _random(rng, shape):
    return mx.array(rng.normal(size=shape).astype(np.float32))


def attention_step(shape, written_out):
    """One compiled forward + backward of ``attention`` on fixed random q, k, v."""
    batch, steps, dim, heads = shape
    rng = np.random.default_rng(0)
    q, k, v = (_random(rng, (batch, steps, dim)) for _ in range(3))
    dropout = identity if written_out else None

    def loss(query, key, value):
        return mx.sum(functions.attention(query, key, value, heads, True, None, dropout))

    gradient = mx.compile(mx.grad(loss, argnums=(0, 1, 2)))
    return lambda: mx.eval(gradient(q, k, v))


def layer_step(shape, written_out):
    """One compiled forward + backward of a causal ``MultiHeadAttention``."""
    batch, steps, dim, heads = shape
    rng = np.random.default_rng(0)
    layer = layers.MultiHeadAttention(dim, heads, causal=True)
    arrays = {
        parameter.name: rng.normal(size=parameter.shape).astype(np.float32) * dim**-0.5
        for parameter in layer_parameters("MultiHeadAttention", dim=dim, num_heads=heads, causal=True)
    }
    state.load_state_dict(layer, arrays)
    if written_out:
        layer.dropout = identity  # a callable on the weights: the written-out path
    x = _random(rng, (batch, steps, dim))

    def loss(parameters, inputs):
        layer.update(parameters)
        return mx.sum(layer(inputs))

    gradient = mx.compile(mx.grad(loss))
    parameters = layer.trainable_parameters()
    return lambda: mx.eval(gradient(parameters, x))


def milliseconds(step, count):
    started = time.perf_counter()
    for _ in range(count):
        step()
    return (time.perf_counter() - started) / count * 1e3


def compare(build, shape, repeat, count):
    """Median ms per step of (written-out, fused), interleaved."""
    steps = {"written-out": build(shape, True), "fused": build(shape, False)}
    for step in steps.values():
        milliseconds(step, 2)  # warm-up (and compilation)
    times = {name: [] for name in steps}
    for _ in range(repeat):
        for name, step in steps.items():
            times[name].append(milliseconds(step, count))
    return statistics.median(times["written-out"]), statistics.median(times["fused"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="interleaved rounds")
    parser.add_argument("--steps", type=int, default=5, help="timed iterations per round")
    parser.add_argument("--shapes", default="all", help="'all' or 'small' (the nanoGPT shape only)")
    arguments = parser.parse_args()
    shapes = SHAPES if arguments.shapes == "all" else dict(list(SHAPES.items())[1:])
    print(f"mlx {mx.__version__} on {mx.default_device()}, load {os.getloadavg()}")
    print(f"median ms per compiled forward + backward, {arguments.repeat} interleaved rounds of {arguments.steps}")
    print(f"{'shape':46} {'what':10} {'written-out':>11} {'fused':>8} {'ratio':>6}")
    for name, shape in shapes.items():
        for what, build in (("attention", attention_step), ("layer", layer_step)):
            written_out, fused = compare(build, shape, arguments.repeat, arguments.steps)
            print(f"{name:46} {what:10} {written_out:11.2f} {fused:8.2f} {written_out / fused:5.2f}x", flush=True)
    print(f"load after {os.getloadavg()}")


if __name__ == "__main__":
    main()
