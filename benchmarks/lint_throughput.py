"""Throughput of `specc lint` and `specc fmt` on big specs: MB/s per size, printed, never asserted.

    python benchmarks/lint_throughput.py [--sizes 0.5 1 2 5] [--shapes spec list] [--keep DIR]

Two shapes of input, each generated at every size (MB):

- ``spec``: what a big real spec looks like: the sections of specs/ksin_flow.mf, then
  stage after stage of ``let width_i = ...`` and a FiLM ``block stage_i(...)`` of four graph
  lines with comments, and a model that calls every stage in turn (so the checker builds,
  shapes and lowers every block) before the spec's own layers; it checks without a problem;
- ``list``: one ``let`` holding a one-line list of integers (400k elements is about 3 MB).

Each command runs in a fresh process (``python -m specc lint FILE``, ``python -m specc fmt
--check FILE``), as a user runs it; the CPU time of the child (user + system) is measured,
and the start-up (the same command on a 1-line spec) is taken off before dividing the size by
it. A file larger than the reader's limit (``MAX_FILE_BYTES``, 4 MiB) is refused by the CLI
(E0209) in no time, so the same work is also measured in this process: ``check`` (what lint
runs) and ``format_source`` (fmt) on the text, with no file read (the ``in-process`` columns).
Linear work shows as the same MB/s at every size.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASE = (ROOT / "specs" / "ksin_flow.mf").read_text(encoding="utf-8")
STAGE = """
let width_{i} = {width} * 64  # width of stage {i}
block stage_{i}(x: [B, D], c: [B, C], hidden: int = width_{i}) -> [B, D] {{
  scale, shift = split(linear(c, 2 * D), 2)  # FiLM
  h = layernorm(x, affine = false) * (1 + scale) + shift
  h = gelu(linear(h, hidden))
  return x + linear(h, D)
}}
"""


def big_spec(size: int) -> str:
    """A spec of about ``size`` bytes that checks: ksin_flow with many blocks, all used."""
    head, model = BASE.split("model vector_field", 1)
    parts, total, names = [head], len(BASE), []
    while total < size:
        stage = STAGE.format(i=len(names), width=len(names) % 7 + 1)
        parts.append(stage)
        total += len(stage) + 20
        names.append(f"stage_{len(names)}")
    calls = "".join(f"  h = {name}(h, c)\n" for name in names)
    parts.append("model vector_field" + model.replace("  repeat 6 {", calls + "  repeat 6 {", 1))
    return "".join(parts)


def one_line_list(size: int) -> str:
    """``let values = [0, 1, 2, ...]`` on one line, about ``size`` bytes."""
    items, total = [], 30
    while total < size:
        items.append(str(len(items)))
        total += len(items[-1]) + 2
    return "spec big\nlet values = [" + ", ".join(items) + "]\n"


SHAPES = {"spec": big_spec, "list": one_line_list}
COMMANDS = {"lint": ["lint"], "fmt": ["fmt", "--check"]}


def child_cpu(arguments: list[str], cache: Path) -> float:
    """CPU seconds (user + system) of ``python -m specc ARGUMENTS`` in a fresh process, with
    a bytecode cache in ``cache`` (as an installed package has; see lint_speed.py)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    environment = {**os.environ, "PYTHONPYCACHEPREFIX": str(cache)}
    environment.pop("PYTHONDONTWRITEBYTECODE", None)
    result = subprocess.run([sys.executable, "-m", "specc", *arguments], capture_output=True, env=environment, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode not in (0, 1) or b"Traceback" in result.stderr:
        raise SystemExit(f"specc {' '.join(arguments)} failed:\n{result.stderr.decode()[-2000:]}")
    if b"E0209" in result.stdout + result.stderr:
        return None  # refused: larger than MAX_FILE_BYTES
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def in_process(name: str, text: str) -> float:
    """CPU seconds of lint's ``check`` or fmt's ``format_source`` on ``text`` in this process."""
    from specc.compiler.pipeline import check
    from specc.dsl.formatter import format_source

    data = text.encode()
    started = time.process_time()
    if name == "lint":
        check("big.mf", lambda path: data, library_ok=True, backend_warnings=True)
    else:
        format_source(text, "big.mf")
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[0.5, 1, 2, 5], help="sizes in MB")
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    parser.add_argument("--keep", type=Path, help="write the generated specs here (default: a temporary folder)")
    arguments = parser.parse_args()
    folder = arguments.keep or Path(tempfile.mkdtemp(prefix="specc-throughput-"))
    folder.mkdir(parents=True, exist_ok=True)
    tiny = folder / "tiny.mf"
    tiny.write_text("spec tiny\nlet a = 1\n", encoding="utf-8")
    cache = folder / "pycache"
    start_up = {name: min(child_cpu([*command, str(tiny)], cache) for _ in range(3)) for name, command in COMMANDS.items()}
    print(f"start-up (1-line spec): lint {start_up['lint']:.2f} s, fmt {start_up['fmt']:.2f} s of CPU")
    in_process("lint", "spec warm\nlet a = 1\n")  # imports and grammar, once
    print(f"{'':11}{'---- fresh process (CLI) ----':>33}  {'---- in-process ----':>33}")
    print(f"{'shape':>5} {'MB':>5}" + f" {'lint s':>7} {'MB/s':>6} {'fmt s':>7} {'MB/s':>6} " * 2)
    for shape in arguments.shapes:
        for megabytes in arguments.sizes:
            path = folder / f"{shape}_{megabytes:g}MB.mf"
            text = SHAPES[shape](int(megabytes * 1_000_000))
            path.write_text(text, encoding="utf-8")
            size = len(text.encode()) / 1e6
            row = f"{shape:>5} {size:5.2f}"
            for name, command in COMMANDS.items():
                seconds = child_cpu([*command, str(path)], cache)
                if seconds is None:
                    row += f" {'refused (E0209)':>14}"
                else:
                    row += f" {seconds:7.2f} {size / max(seconds - start_up[name], 1e-9):6.3f}"
            row += " "
            for name in COMMANDS:
                seconds = in_process(name, text)
                row += f" {seconds:7.2f} {size / seconds:6.3f}"
            print(row, flush=True)
    if arguments.keep is None:
        shutil.rmtree(folder)


if __name__ == "__main__":
    main()
