"""Time of ``specc compile`` per example spec and backend (check + render + format, in one
warm process), and of the formatting step alone: ``ruff format`` (what the compiler runs)
against black 26.10.1 (what it ran before 2026-12-07) on the same unformatted template
output, interleaved (ruff, black, ruff, black, ...), when black is installed, and whether
the two layouts are the same, byte for byte. Not part of the test suite; nothing here is
asserted.

    python benchmarks/compile_speed.py [--repeat 5]
    pip install black==26.10.1 && python benchmarks/compile_speed.py   # with the black column
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import time
from pathlib import Path

from specc.compiler import pipeline
from specc.compiler.emit import render as emit

ROOT = Path(__file__).resolve().parents[1]
SPECS = sorted((ROOT / "specs").glob("*.mf"))
BACKENDS = ("jax", "lightning", "mlx")


def read(name: str) -> bytes:
    return Path(name).read_bytes()


def unformatted(spec: Path, backend: str) -> tuple[str | None, float]:
    """The template output before formatting, and the seconds of one whole compile."""
    captured = []
    started = time.perf_counter()
    result = pipeline.check(str(spec), read, (), backend)
    if result.program is None:
        return None, 0.0
    emit.render(result.program, backend)
    seconds = time.perf_counter() - started
    original = emit.format_source
    emit.format_source = lambda text: captured.append(text) or text
    try:
        emit.render(result.program, backend)
    finally:
        emit.format_source = original
    return captured[0], seconds


def black_formatter():
    """black's ``format_str`` with the compiler's old mode, or None when black is absent."""
    if importlib.util.find_spec("black") is None:
        return None
    import black

    mode = black.Mode(line_length=100, target_versions={black.TargetVersion.PY311})
    return lambda text: black.format_str(text, mode=mode)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    arguments = parser.parse_args()
    black = black_formatter()
    print(f"load average {os.getloadavg()[0]:.2f}; medians of {arguments.repeat} interleaved runs, ms\n")
    print("| spec | backend | lines | compile | ruff format | black | black / ruff | same text |")
    print("|---|---|---|---|---|---|---|---|")
    ruff_total = black_total = 0.0
    scripts = differing = 0
    for spec in SPECS:
        for backend in BACKENDS:
            text, _ = unformatted(spec, backend)
            if text is None:
                continue
            scripts += 1
            compiles, ruff_times, black_times, same = [], [], [], "-"
            for _ in range(arguments.repeat):
                compiles.append(unformatted(spec, backend)[1])
                started = time.perf_counter()
                formatted = emit.format_source(text)
                ruff_times.append(time.perf_counter() - started)
                if black is not None:
                    started = time.perf_counter()
                    by_black = black(text)
                    black_times.append(time.perf_counter() - started)
                    same = "yes" if by_black == formatted else "no"
            ruff_ms = statistics.median(ruff_times) * 1000
            ruff_total += ruff_ms
            row = [spec.stem, backend, str(formatted.count("\n")), f"{statistics.median(compiles) * 1000:.0f}", f"{ruff_ms:.1f}"]
            if black_times:
                black_ms = statistics.median(black_times) * 1000
                black_total += black_ms
                row += [f"{black_ms:.1f}", f"{black_ms / ruff_ms:.1f}x", same]
                differing += same == "no"
            else:
                row += ["-", "-", "-"]
            print("| " + " | ".join(row) + " |")
    if black is not None:
        print(f"\nall scripts: ruff {ruff_total:.0f} ms, black {black_total:.0f} ms, black / ruff {black_total / ruff_total:.1f}x")
        print(f"{scripts - differing} of {scripts} scripts the same text from both formatters")
    else:
        print(f"\nall scripts: ruff {ruff_total:.0f} ms (black not installed: pip install black==26.10.1)")


if __name__ == "__main__":
    main()
