"""The tables ``benchmarks/steps_per_second.py --profile`` prints from one script's cProfile
output: the functions with the most own time, then the script's own functions and specc's
runtime by cumulative time. Not part of the test suite."""

from __future__ import annotations

import pstats
from pathlib import Path


def print_profile(output: Path, title: str, script: str, lines: int) -> None:
    """The ``lines`` functions with the most own time (``tottime``) and their share of the run."""
    statistics = pstats.Stats(str(output))
    total = statistics.total_tt
    print(f"\n### {title}: {total:.1f} s profiled")
    print("| own s | share | calls | function |")
    print("|---|---|---|---|")
    entries = sorted(statistics.stats.items(), key=lambda item: item[1][2], reverse=True)
    for (file, line, function), (_, calls, own, _, _) in entries[:lines]:
        where = f"{Path(file).name}:{line}" if line else file
        print(f"| {own:.2f} | {own / total:.0%} | {calls} | `{function}` ({where}) |")
    print_own_code(statistics, total, script, lines)


def print_own_code(statistics: pstats.Stats, total: float, script: str, lines: int) -> None:
    """The script's own functions and specc's runtime by cumulative time (their callees
    included): the hooks, loss, loader and bookkeeping a step runs besides the framework."""
    own = [
        (cumulative, calls, file, line, function)
        for (file, line, function), (_, calls, _, cumulative, _) in statistics.stats.items()
        if file == script or "/runtime/" in file or file.endswith("workloads.py")
    ]
    print(f"\n{Path(script).name} and specc.runtime functions, cumulative:\n")
    print("| cumulative s | share | calls | function |")
    print("|---|---|---|---|")
    for cumulative, calls, file, line, function in sorted(own, reverse=True)[:lines]:
        where = f"{Path(file).parent.name}/{Path(file).name}:{line}"
        print(f"| {cumulative:.2f} | {cumulative / total:.0%} | {calls} | `{function}` ({where}) |")
