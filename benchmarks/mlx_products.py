"""Matrix products on MLX's CPU by layout, and the runtime's products against the plain ones:
median milliseconds from interleaved runs, with ratios. Not asserted anywhere: performance is
measured, not tested, and this file is not part of the test suite.

    python benchmarks/mlx_products.py [--repeat 4] [--steps 3]

Three tables:

1. ``a @ b`` for ``[2048, 256] @ [256, 1024]`` with the operands as stored, the first
   transposed, the second transposed and both (a transposed operand is a ``.T`` view of a
   contiguous array): the layouts reach MLX's BLAS as transposition flags.
2. ``Linear`` forward + backward (``x [16, 128, in]``, a ``tanh`` after it so that the forward
   value is needed): ``x @ weight.T`` (what ``mlx.nn.Linear`` computes) against
   ``specc.runtime.mlx.products.transposed_product``.
3. A convolution forward + backward: ``mx.conv_general`` against
   ``products.convolution_by_patches``, on the conv nets' and audio models' shapes.

Tables 2 and 3 also print how far the runtime's gradients are from the plain ones.

Each case is ``mx.compile``d as a generated step is. Cases of one table alternate (A B, then
B A), ``--repeat`` rounds of ``--steps`` timed calls after a warm-up; the load average is
printed before and after. Run it with ``OMP_NUM_THREADS=1`` to compare one thread.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import mlx.core as mx
import numpy as np

from specc.runtime.mlx import products


def _random(shape, seed):
    return mx.array(np.random.default_rng(seed).normal(size=shape).astype(np.float32))


def _timed(function, steps):
    mx.eval(function())
    start = time.perf_counter()
    for _ in range(steps):
        mx.eval(function())
    return (time.perf_counter() - start) / steps * 1000


def interleaved(cases: dict, repeat: int, steps: int) -> dict:
    """Median milliseconds per case; the order of the cases reversed in every second round."""
    times = {name: [] for name in cases}
    for round_index in range(repeat):
        names = list(cases) if round_index % 2 == 0 else list(cases)[::-1]
        for name in names:
            times[name].append(_timed(cases[name], steps))
    return {name: statistics.median(values) for name, values in times.items()}


def layout_cases():
    a, b = _random((2048, 256), 0), _random((256, 1024), 1)
    a_transposed, b_transposed = mx.contiguous(a.T), mx.contiguous(b.T)
    return {
        "a @ b (as stored)": lambda: a @ b,
        "a.T @ b (first transposed)": lambda: a_transposed.T @ b,
        "a @ b.T (second transposed)": lambda: a @ b_transposed.T,
        "a.T @ b.T (both)": lambda: a_transposed.T @ b_transposed.T,
    }


def _step(loss, *arguments):
    gradient = mx.compile(mx.value_and_grad(loss, argnums=tuple(range(len(arguments)))))
    return lambda: gradient(*arguments)


def linear_cases(inputs, outputs):
    x, weight = _random((16, 128, inputs), 2), _random((outputs, inputs), 3) * inputs**-0.5
    return {
        "x @ weight.T": _step(lambda x, w: mx.sum(mx.tanh(x @ w.T)), x, weight),
        "transposed_product": _step(lambda x, w: mx.sum(mx.tanh(products.transposed_product(x, w))), x, weight),
    }


CONVOLUTIONS = {  # name: (input shape, out channels, kernel, stride, dilation, padding)
    "conv net's 2nd conv 2-d 32->64 3x3 on 15x15": ((32, 15, 15, 32), 64, (3, 3), (1, 1), (1, 1), (0, 0)),
    "2-d 16->32 3x3 stride 2 on 64x64": ((8, 64, 64, 16), 32, (3, 3), (2, 2), (1, 1), (1, 1)),
    "1-d 32->32 k7 on 4096": ((8, 4096, 32), 32, (7,), (1,), (1,), (3,)),
    "1-d 32->64 k4 stride 2 on 4096": ((8, 4096, 32), 64, (4,), (2,), (1,), (1,)),
    "1-d 64->64 k3 dilation 3 on 1024": ((8, 1024, 64), 64, (3,), (1,), (3,), (3,)),
}


def convolution_cases(shape, out, kernel, stride, dilation, padding):
    x, weight = _random(shape, 4), _random((out, *kernel, shape[-1]), 5) * 0.1

    def native(x, w):
        return mx.conv_general(x, w, stride=list(stride), padding=list(padding), kernel_dilation=list(dilation))

    def patches(x, w):
        return products.convolution_by_patches(x, w, stride, padding, padding, dilation)

    return {
        "mx.conv_general": _step(lambda x, w: mx.sum(mx.tanh(native(x, w))), x, weight),
        "convolution_by_patches": _step(lambda x, w: mx.sum(mx.tanh(patches(x, w))), x, weight),
    }


def gradient_difference(cases: dict) -> str:
    """The largest difference between the two cases' gradients, relative to the largest
    gradient of the first: 0 means bit for bit the same."""
    (_, first), (_, second) = (cases[name]() for name in cases)
    worst = max(
        mx.abs(ours - reference).max().item() / max(mx.abs(reference).max().item(), 1e-30)
        for ours, reference in zip(second, first)
    )
    return f"gradients differ by {worst:.1e} relative"


def print_table(title, rows):
    """``rows``: (label, {case: ms}[, note]); the ratio is first case / each case (above 1:
    faster)."""
    print(f"\n{title}")
    for label, medians, *note in rows:
        first = next(iter(medians.values()))
        cells = ", ".join(f"{name} {ms:.1f} ms ({first / ms:.2f}x)" for name, ms in medians.items())
        print(f"  {label}: {cells}" + "".join(f"; {text}" for text in note))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=4)
    parser.add_argument("--steps", type=int, default=3)
    arguments = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f}; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}")
    run = lambda cases: interleaved(cases, arguments.repeat, arguments.steps)  # noqa: E731
    compared = lambda cases: (run(cases), gradient_difference(cases))  # noqa: E731
    print_table("1. [2048, 256] @ [256, 1024] by layout", [("product", run(layout_cases()))])
    shapes = [(256, 256), (256, 1024), (1024, 256), (256, 93)]
    print_table(
        "2. Linear forward + backward, x [16, 128, in]",
        [(f"{inputs} -> {outputs}", *compared(linear_cases(inputs, outputs))) for inputs, outputs in shapes],
    )
    print_table(
        "3. Convolution forward + backward",
        [(name, *compared(convolution_cases(*case))) for name, case in CONVOLUTIONS.items()],
    )
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
