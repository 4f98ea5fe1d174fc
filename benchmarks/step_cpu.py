"""CPU time per training step of a generated script and its hand-written counterpart in the
same framework (benchmarks/steps_per_second.py's workloads; ``--backend``, Lightning unless
told), the figure that a loaded machine disturbs least: each script runs twice in fresh processes, for N1 and N2 steps, and
``(cpu(N2) - cpu(N1)) / (N2 - N1)`` is its CPU time per step (user + system of the child,
its loader thread included), so start-up, compilation and the final evaluation cancel.

    OMP_NUM_THREADS=1 python benchmarks/step_cpu.py --workload mlp --steps 200 1200 --repeat 2
    OMP_NUM_THREADS=1 python benchmarks/step_cpu.py --backend jax --workload mlp --steps 1000 5000
    python benchmarks/step_cpu.py --workload conv --variant compiled=train.compile=true
    python benchmarks/step_cpu.py --workload mlp --wall   # wall seconds, by the same difference

``--variant NAME=KEY=VALUE[,KEY=VALUE]`` adds a generated script compiled with those overrides
(``nobar=train.callbacks=[lr_monitor, grad_norm_monitor]``). Variants run interleaved, round
after round; the median of the rounds is printed. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import steps_per_second as benchmark


def generated(workload: str, backend: str, steps: int, overrides: list[str], folder: Path, name: str) -> list[str]:
    """The command of the workload's generated script (``overrides`` added), written into ``folder``."""
    from specc.compiler import pipeline
    from specc.compiler.emit import render

    spec = str(benchmark.REPOSITORY / benchmark.WORKLOADS[workload].spec)
    base = [f"train.max_steps={steps}", f"train.eval_every={steps}", f"train.checkpoint.every={steps}", "train.log_every=50"]
    if workload == "conv":
        base.append(f'data.path="{folder / benchmark.CONV_DATA}"')
    result = pipeline.check(spec, lambda path: Path(path).read_bytes(), base + overrides)
    if result.program is None:
        raise SystemExit(f"{name}: {[diagnostic.message for diagnostic in result.diagnostics]}")
    script = folder / f"{name}_{steps}.py"
    script.write_text(render.render(result.program, backend))
    return [sys.executable, str(script), "--out-dir", str(folder / f"run_{name}_{steps}")]


def child_seconds(command: list[str], folder: Path, wall: bool = False) -> float:
    """User + system seconds of the child (``wall``: its seconds from start to exit)."""
    if "--out-dir" in command:  # a fresh run each round: the last round's checkpoints would stop it
        shutil.rmtree(command[command.index("--out-dir") + 1], ignore_errors=True)
    environment = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    started = time.perf_counter()
    process = subprocess.Popen(command, env=environment, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(process.pid, 0)
    if status:
        raise SystemExit(f"{command[1]} failed:\n{process.stderr.read()[-2000:]}")
    return time.perf_counter() - started if wall else usage.ru_utime + usage.ru_stime


def command_of(name: str, workload: str, backend: str, steps: int, variants: dict, folder: Path) -> list[str]:
    if name == "hand-written":
        return benchmark.Measurement(workload, backend, "hand-written").command(steps, folder, {}, folder / "unused")
    return generated(workload, backend, steps, variants[name], folder, name)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", choices=sorted(benchmark.WORKLOADS), default="mlp")
    parser.add_argument("--backend", choices=("jax", "lightning", "mlx"), default="lightning")
    parser.add_argument("--steps", type=int, nargs=2, default=(200, 1200), metavar=("N1", "N2"))
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--variant", action="append", default=[], help="NAME=KEY=VALUE[,KEY=VALUE]")
    parser.add_argument("--wall", action="store_true", help="wall time per step instead of CPU time")
    arguments = parser.parse_args(argv)
    workload, (first, second) = arguments.workload, arguments.steps
    kind = "wall" if arguments.wall else "CPU"
    variants = {"generated": [], **{item.split("=", 1)[0]: item.split("=", 1)[1].split(",") for item in arguments.variant}}
    results = {name: [] for name in [*variants, "hand-written"]}
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        benchmark.write_inputs([workload], folder)
        for round_index in range(arguments.repeat):
            for name, values in results.items():
                seconds = [
                    child_seconds(command_of(name, workload, arguments.backend, steps, variants, folder), folder, arguments.wall)
                    for steps in (first, second)
                ]
                values.append((seconds[1] - seconds[0]) / (second - first) * 1e3)
                print(f"  round {round_index + 1}: {name}: {values[-1]:.3f} ms {kind} a step (load {benchmark.load_text()})", file=sys.stderr)
    print(f"{workload}, {arguments.backend}: {kind} ms per step, ({second} - {first})-step difference, median of {arguments.repeat}")
    print("| script | runs | median |")
    print("|---|---|---|")
    for name, values in results.items():
        print(f"| {name} | {', '.join(f'{value:.2f}' for value in values)} | {statistics.median(values):.2f} |")


if __name__ == "__main__":
    main()
