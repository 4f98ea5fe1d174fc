"""Training steps per second of the generated digits-MLP scripts (jax, lightning, mlx) against
a hand-written idiomatic script in the same framework and against Keras 3 (jax and torch
backends), printed side by side as ratios. Not asserted anywhere: performance is measured,
not tested, and this file is not part of the test suite.

    python benchmarks/steps_per_second.py [--steps 1000] [--repeat 3] [--threads 1]

Every measurement is a fresh subprocess with the same environment (``OMP_NUM_THREADS`` and
``MKL_NUM_THREADS`` from ``--threads``; ``--threads 0`` leaves them unset, the framework
default). Rates are steady state: the second half of the steps, after compilation and
warm-up. For a generated script that is its ``steps_per_s`` rows of ``metrics.csv`` past
the halfway step (combined as total steps over total time); the hand-written scripts in
``benchmarks/handwritten/`` time their second half themselves. Each measurement is repeated
``--repeat`` times, round-robin so that a change of machine load hits every script alike,
and the median is reported with the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
HANDWRITTEN = REPOSITORY / "benchmarks" / "handwritten"
SPEC = "specs/digits_mlp.mf"

# name -> (command after the interpreter, extra environment); "generated:<backend>" is compiled
MEASUREMENTS = {
    "generated jax": ("generated", "jax", {}),
    "hand-written jax (nnx + optax)": ("script", "jax_nnx.py", {}),
    "keras 3 on jax": ("script", "keras_fit.py", {"KERAS_BACKEND": "jax"}),
    "generated lightning": ("generated", "lightning", {}),
    "hand-written lightning": ("script", "lightning_plain.py", {}),
    "keras 3 on torch": ("script", "keras_fit.py", {"KERAS_BACKEND": "torch"}),
    "generated mlx": ("generated", "mlx", {}),
    "hand-written mlx (mx.compile)": ("script", "mlx_compiled.py", {}),
}

# backend -> (generated, hand-written, keras or None)
COMPARISONS = {
    "jax": ("generated jax", "hand-written jax (nnx + optax)", "keras 3 on jax"),
    "lightning": ("generated lightning", "hand-written lightning", "keras 3 on torch"),
    "mlx": ("generated mlx", "hand-written mlx (mx.compile)", None),
}


def environment(threads: int, extra: dict) -> dict:
    """The subprocess environment: identical thread settings for every script."""
    values = dict(os.environ, **extra)
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        values.pop(name, None)
        if threads:
            values[name] = str(threads)
    return values


def compile_script(backend: str, steps: int, folder: Path) -> Path:
    """The digits spec compiled for a backend; evaluation and checkpoints only at the end."""
    from specc.compiler import pipeline
    from specc.compiler.emit import render as emit

    overrides = [
        f"train.max_steps={steps}",
        f"train.eval_every={steps}",
        f"train.checkpoint.every={steps}",
    ]
    result = pipeline.check(
        SPEC, lambda name: (REPOSITORY / name).read_bytes(), overrides
    )
    if result.program is None:
        raise SystemExit(
            f"{SPEC} does not compile: {[d.message for d in result.diagnostics]}"
        )
    script = folder / f"generated_{backend}.py"
    script.write_text(emit.render(result.program, backend))
    return script


def steady_rate(metrics_path: Path, steps: int) -> float:
    """Steps over seconds of the ``steps_per_s`` windows that start at or after steps // 2."""
    from specc.runtime import training

    rows = [
        row
        for row in training.read_metrics(metrics_path)
        if row["name"].endswith("steps_per_s")
    ]
    rows = sorted({row["step"]: row["value"] for row in rows}.items())
    counted, seconds, previous = 0, 0.0, 0
    for step, rate in rows:
        if previous >= steps // 2:
            counted += step - previous
            seconds += (step - previous) / rate
        previous = step
    return counted / seconds


def run_once(name: str, steps: int, threads: int, scripts: dict, folder: Path) -> float:
    kind, target, extra = MEASUREMENTS[name]
    env = environment(threads, extra)
    if kind == "generated":
        out_dir = folder / f"run_{target}"
        if out_dir.exists():
            subprocess.run(["rm", "-rf", str(out_dir)], check=True)
        command = [sys.executable, str(scripts[target]), "--out-dir", str(out_dir)]
    else:
        command = [sys.executable, str(HANDWRITTEN / target), "--steps", str(steps)]
    finished = subprocess.run(
        command, env=env, capture_output=True, text=True, cwd=folder
    )
    if finished.returncode:
        raise SystemExit(f"{name} failed:\n{finished.stderr[-3000:]}")
    if kind == "generated":
        return steady_rate(out_dir / "metrics.csv", steps)
    return json.loads(finished.stdout.strip().splitlines()[-1])["steps_per_s"]


def measure(names, steps: int, repeat: int, threads: int) -> dict[str, list[float]]:
    rates = {name: [] for name in names}
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        backends = {
            MEASUREMENTS[name][1]
            for name in names
            if MEASUREMENTS[name][0] == "generated"
        }
        scripts = {
            backend: compile_script(backend, steps, folder) for backend in backends
        }
        for round_index in range(repeat):
            for name in names:
                rates[name].append(run_once(name, steps, threads, scripts, folder))
                print(
                    f"  round {round_index + 1}: {name}: {rates[name][-1]:.1f} steps/s",
                    file=sys.stderr,
                )
    return rates


def load_text() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def print_table(rates: dict[str, list[float]]) -> None:
    median = {name: statistics.median(values) for name, values in rates.items()}
    print("| script | runs, steps/s | median, steps/s |")
    print("|---|---|---|")
    for name, values in rates.items():
        print(
            f"| {name} | {', '.join(f'{value:.0f}' for value in values)} | {median[name]:.0f} |"
        )
    print()
    print("| backend | generated / hand-written | generated / keras |")
    print("|---|---|---|")
    for backend, (generated, handwritten, keras) in COMPARISONS.items():
        if generated not in median:
            continue
        by_hand = (
            f"{median[generated] / median[handwritten]:.2f}x"
            if handwritten in median
            else "-"
        )
        by_keras = (
            f"{median[generated] / median[keras]:.2f}x" if keras in median else "-"
        )
        print(f"| {backend} | {by_hand} | {by_keras} |")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--threads", type=int, default=1, help="OMP/MKL threads; 0 = unset"
    )
    parser.add_argument(
        "--only", nargs="*", choices=sorted(COMPARISONS), help="backends to run"
    )
    arguments = parser.parse_args(argv)
    backends = arguments.only or list(COMPARISONS)
    names = [name for backend in backends for name in COMPARISONS[backend] if name]
    before = load_text()
    rates = measure(names, arguments.steps, arguments.repeat, arguments.threads)
    threads = arguments.threads or "unset (framework default)"
    print(
        f"digits MLP, {arguments.steps} steps (second half timed), median of {arguments.repeat}, "
        f"OMP_NUM_THREADS={threads}, {os.cpu_count()} CPUs, load average {before} before / {load_text()} after"
    )
    print()
    print_table(rates)


if __name__ == "__main__":
    main()
