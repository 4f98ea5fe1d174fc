"""How fast `specc lint` is: printed, never asserted.

    python benchmarks/lint_speed.py [--repeat 7] [--spec specs/digits_mlp.mf]

1. cold lint of one spec in a fresh process (`python -m specc lint SPEC`, what the `specc`
   console script runs), next to a bare `python -c pass` (the interpreter's own start-up),
   to importing the lint path, and to `specc lint --help` (the typer application);
2. lint of 100 specs in one process (`specc lint DIR` over 100 copies of
   specs/ksin_flow.mf with different values), i.e. the warm per-spec cost;
3. which heavy modules the lint path imports (black, jinja2, numpy and the frameworks must
   not be among them; typer, click and rich are: `specc` is one typer application).

The child processes use a bytecode cache in a temporary folder (``PYTHONPYCACHEPREFIX``,
warmed by one run), as an installed package has: the development environment sets
``PYTHONDONTWRITEBYTECODE``, which would make every run compile every module from source.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "specs" / "digits_mlp.mf"
VARIED = ROOT / "specs" / "ksin_flow.mf"  # the spec copied 100 times
FORBIDDEN = (
    "ruff",
    "jinja2",
    "numpy",
    "torch",
    "jax",
    "mlx",
    "lightning",
    "flax",
    "optax",
    "scipy",
)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


ENVIRONMENT = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}


def timed(command: list[str], repeat: int) -> tuple[float, float]:
    """Median wall time and median CPU time (user + system) of ``command`` in fresh
    processes. CPU time is the steadier figure on a machine shared with other work."""
    walls, cpus = [], []
    subprocess.run(command, cwd=ROOT, capture_output=True, check=False, env=ENVIRONMENT)  # warms the bytecode cache
    for _ in range(repeat):
        start, cpu = time.perf_counter(), _cpu()
        subprocess.run(command, cwd=ROOT, capture_output=True, check=False, env=ENVIRONMENT)
        walls.append(time.perf_counter() - start)
        cpus.append(_cpu() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def hundred_specs(folder: Path) -> None:
    text = VARIED.read_text(encoding="utf-8")
    for index in range(100):
        variant = text.replace("batch_size = 1024", f"batch_size = {64 + index}")
        (folder / f"spec_{index:03d}.mf").write_text(variant.replace("spec ksin_flow", f"spec ksin_{index}"))


def imported_modules(spec: Path) -> list[str]:
    """Every module a `specc lint SPEC` process has imported when it exits."""
    code = (
        "import atexit, sys\n"
        "atexit.register(lambda: print('\\n'.join(sorted(sys.modules))))\n"
        f"sys.argv = ['specc', 'lint', {str(spec)!r}]\n"
        "from specc.compiler.cli.main import main\n"
        "main()\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, env=ENVIRONMENT
    )
    return completed.stdout.split()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--spec", type=Path, default=SPEC, help="the spec of the cold lint")
    arguments = parser.parse_args()
    repeat, spec = arguments.repeat, arguments.spec.resolve()
    python = sys.executable
    cache = tempfile.TemporaryDirectory()
    ENVIRONMENT["PYTHONPYCACHEPREFIX"] = cache.name
    bare = timed([python, "-c", "pass"], repeat)
    imports = timed(
        [python, "-c", "import specc.compiler.cli.main, specc.compiler.pipeline, specc.compiler.check.validators"], repeat
    )
    cold = timed([python, "-m", "specc", "lint", str(spec)], repeat)
    helped = timed([python, "-m", "specc", "lint", "--help"], repeat)
    one_copy = cold if spec == VARIED else timed([python, "-m", "specc", "lint", str(VARIED)], repeat)
    with tempfile.TemporaryDirectory() as folder:
        hundred_specs(Path(folder))
        hundred = timed([python, "-m", "specc", "lint", folder], max(1, repeat // 3))
    print(
        f"cold lint of {spec.relative_to(ROOT) if spec.is_relative_to(ROOT) else spec}; bytecode cached, as installed"
    )
    print(f"{'measure (seconds, median)':<44}{'wall':>10}{'cpu':>10}")
    rows = [
        ("python -c pass (interpreter start-up)", bare),
        ("import the lint path", imports),
        ("cold lint of one spec (fresh process)", cold),
        ("specc lint --help (typer)", helped),
        ("lint of 100 specs (one process)", hundred),
    ]
    for label, (wall, cpu) in rows:
        print(f"{label:<44}{wall:>10.3f}{cpu:>10.3f}")
    print(
        f"{'  per spec after the first':<44}{(hundred[0] - one_copy[0]) / 99:>10.4f}{(hundred[1] - one_copy[1]) / 99:>10.4f}"
    )
    print(f"{'cold lint / interpreter start-up':<44}{cold[0] / bare[0]:>9.1f}x{cold[1] / bare[1]:>9.1f}x")
    heavy = [name for name in imported_modules(spec) if name.split(".")[0] in FORBIDDEN]
    print("heavy modules imported by lint:", ", ".join(sorted({name.split(".")[0] for name in heavy})) or "none")


if __name__ == "__main__":
    main()
