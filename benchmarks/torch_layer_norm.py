"""torch's fused ``F.layer_norm`` against the written-out LayerNorm (mean, centre, variance,
divide, scale) that ``specc.runtime.torch.layers.LayerNorm`` uses only where a forward-mode
tangent passes through it: median milliseconds per forward + backward on the nanoGPT
example's activations, and the ratio written-out / fused. Interleaved (A B A B ...); the
load average is printed before and after. Not part of the test suite.

    python benchmarks/torch_layer_norm.py [--threads 1] [--repeat 7] [--steps 200]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
import torch.nn.functional as F

from specc.runtime.torch import layers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--steps", type=int, default=200)
    arguments = parser.parse_args()
    torch.set_num_threads(arguments.threads)
    x = torch.randn(32, 64, 128, requires_grad=True)  # batch 32, 64 tokens, width 128
    weight = torch.ones(128, requires_grad=True)

    def written_out():
        return layers._normalize(x, -1, 1e-5) * weight

    def fused():
        return F.layer_norm(x, (128,), weight, None, 1e-5)

    difference = (written_out() - fused()).abs().max().item()
    times = {"written out": [], "fused": []}
    print(f"load average before: {os.getloadavg()}; threads {arguments.threads}; max |difference| {difference:.2e}")
    for _ in range(arguments.repeat):
        for name, function in (("written out", written_out), ("fused", fused)):
            function().sum().backward()  # warm-up
            start = time.perf_counter()
            for _ in range(arguments.steps):
                function().sum().backward()
            times[name].append((time.perf_counter() - start) / arguments.steps * 1e3)
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, value in medians.items():
        print(f"{name:>12}: {value:.3f} ms per forward + backward (median of {arguments.repeat})")
    print(f"written out / fused: {medians['written out'] / medians['fused']:.2f}x")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
