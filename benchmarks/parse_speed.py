"""Parse speed of large specs: 0.1, 0.5 and 1 MB made of copies of specs/ksin_flow.mf.

Prints seconds (CPU and wall) and microseconds per byte for each size; the per-byte figure
should stay flat (parsing is linear). Nothing is asserted: run it and read the table.

    python benchmarks/parse_speed.py
"""

from __future__ import annotations

import pathlib
import time

from specc.dsl.formatter import format_source
from specc.dsl.parser import parse

ROOT = pathlib.Path(__file__).resolve().parent.parent
SIZES = (100_000, 500_000, 1_000_000)


def spec_of_size(size: int) -> str:
    base = (ROOT / "specs" / "ksin_flow.mf").read_text(encoding="utf-8").replace("spec ksin_flow", "")
    copies = size // len(base) + 1
    return "".join(base.replace("data ksin", f"data ksin_{index}") for index in range(copies))


def measure(function, text: str) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    result, diagnostics = function(text, "big.mf")
    assert result is not None and not diagnostics, diagnostics[:3]
    return time.process_time() - cpu, time.perf_counter() - wall


def main() -> None:
    started = time.perf_counter()
    parse("spec warm_up\nlet a = 1\n", "warm.mf")
    print(f"first parse (grammar load): {time.perf_counter() - started:.3f} s")
    print(f"{'size':>10} {'parse cpu s':>12} {'parse wall s':>13} {'us/byte':>8} {'format cpu s':>13}")
    for size in SIZES:
        text = spec_of_size(size)
        parse_cpu, parse_wall = measure(parse, text)
        format_cpu, _ = measure(format_source, text)
        print(
            f"{len(text):>10} {parse_cpu:>12.3f} {parse_wall:>13.3f} {parse_cpu / len(text) * 1e6:>8.2f} {format_cpu:>13.3f}"
        )


if __name__ == "__main__":
    main()
