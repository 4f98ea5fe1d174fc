"""Training steps per second of generated scripts (jax, lightning, mlx) against a hand-written
idiomatic script in the same framework, for three workloads, and against Keras 3 (jax and
torch backends) for the digits MLP, printed as ratios. Not asserted anywhere: performance is
measured, not tested, and this file is not part of the test suite.

    python benchmarks/steps_per_second.py [--workloads mlp,lm,conv] [--only jax lightning mlx]
        [--steps N] [--repeat 3] [--threads 1] [--profile]

Workloads (``--workloads``):

- ``mlp``: specs/digits_mlp.mf against benchmarks/handwritten/{jax_nnx,lightning_plain,
  mlx_compiled,keras_fit}.py;
- ``lm``: benchmarks/specs/lm.mf (a 3.2M-parameter causal transformer LM: 4 layers, width
  256, sequence 128, batch 16) against benchmarks/handwritten/lm_{jax,lightning,mlx}.py;
- ``conv``: benchmarks/specs/conv.mf (audio_classifier's conv net on 32 x 32 inputs, batch
  32) against benchmarks/handwritten/conv_{jax,lightning,mlx}.py.

The LM and conv hand-written scripts start from the generated script's initial weights (an
``.npz`` of ``specc.runtime.init.initialize`` over the compiled model's parameter table,
written here) and draw the same batches in the same order; the MLP ones keep their
framework's initialisation, as before.

Every measurement is a fresh subprocess with the same environment (``OMP_NUM_THREADS`` and
``MKL_NUM_THREADS`` from ``--threads``; ``--threads 0`` leaves them unset, the framework
default). Rates are steady state: the second half of the steps, after compilation and
warm-up. For a generated script that is its ``steps_per_s`` rows of ``metrics.csv`` past
the halfway step (combined as total steps over total time); the hand-written scripts time
their second half themselves. Steps per run default per workload and backend (each ``Workload``'s ``steps``;
``--steps`` sets them all): MLX's CPU matmuls make its LM steps seconds long. Rounds are
interleaved: in each round every pair runs generated then hand-written (A B), pair after
pair, the order reversed in every second round (B A), ``--repeat`` rounds, so a change of machine load hits both scripts of a pair alike.
A pair's ratio is taken round by round (the two scripts ran next to each other) and the
median of those ratios is reported with their range, beside each script's median steps/s and
the load average before and after: runs of one script spread by more than 10% between rounds
on a shared machine, and the pairing cancels a drift of the machine's speed that a ratio of
two medians keeps. Peak memory is the maximum
resident set of each subprocess: ``ru_maxrss`` of the ``os.wait4`` rusage of that child
(Linux: KiB), i.e. the RUSAGE_CHILDREN figure of that one process; the largest of its runs
is reported.

``--profile``: instead of timing, runs each selected generated and hand-written script once
under cProfile and prints, per script, the functions with the most own time (``tottime``)
and the share of the whole run they take: where the step time goes, compilation included.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPOSITORY = Path(__file__).resolve().parents[1]
HANDWRITTEN = REPOSITORY / "benchmarks" / "handwritten"
BACKENDS = ("jax", "lightning", "mlx")
CONV_DATA = "conv.npz"  # written into the working folder
KERAS = importlib.util.find_spec("keras") is not None  # pip install -e '.[bench]'


@dataclass(frozen=True)
class Workload:
    spec: str
    handwritten: dict  # backend -> script in benchmarks/handwritten/
    steps: dict  # backend -> default steps per run
    shared_weights: bool = True  # hand-written scripts get --weights
    keras: dict = field(
        default_factory=dict
    )  # backend -> KERAS_BACKEND of a Keras 3 line


WORKLOADS = {
    "mlp": Workload(
        "specs/digits_mlp.mf",
        {
            "jax": "jax_nnx.py",
            "lightning": "lightning_plain.py",
            "mlx": "mlx_compiled.py",
        },
        # the second half of a run is timed, 4-6 s here: 5000 steps on jax timed 0.5 s, and a
        # pause of the machine moved a round's ratio by 30% (0.70 to 1.11 in one run)
        {"jax": 40000, "lightning": 8000, "mlx": 4000},
        shared_weights=False,
        keras={"jax": "jax", "lightning": "torch"},
    ),
    "lm": Workload(
        "benchmarks/specs/lm.mf",
        {"jax": "lm_jax.py", "lightning": "lm_lightning.py", "mlx": "lm_mlx.py"},
        # 40 timed steps of about 0.5 s on jax and lightning (20 left a round's ratio to the
        # machine's pauses: +-8% between rounds); MLX: about 10 s a step on this CPU
        {"jax": 80, "lightning": 80, "mlx": 8},
    ),
    "conv": Workload(
        "benchmarks/specs/conv.mf",
        {"jax": "conv_jax.py", "lightning": "conv_lightning.py", "mlx": "conv_mlx.py"},
        {"jax": 400, "lightning": 400, "mlx": 40},
    ),
}


def environment(threads: int, extra: dict | None = None) -> dict:
    """The subprocess environment: identical thread settings for every script."""
    values = dict(os.environ, **(extra or {}))
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        values.pop(name, None)
        if threads:
            values[name] = str(threads)
    return values


def log_every(steps: int) -> int:
    """The specs' 50, or fewer steps for short runs (the rate needs rows past the half)."""
    return 50 if steps >= 200 else max(1, steps // 8)


def compiled_program(workload: str, steps: int, folder: Path):
    from specc.compiler import pipeline

    spec = str(
        REPOSITORY / WORKLOADS[workload].spec
    )  # absolute: data paths resolve from it
    overrides = [
        f"train.max_steps={steps}",
        f"train.eval_every={steps}",
        f"train.checkpoint.every={steps}",
        f"train.log_every={log_every(steps)}",
    ]
    if workload == "conv":
        overrides.append(f'data.path="{folder / CONV_DATA}"')
    result = pipeline.check(spec, lambda name: Path(name).read_bytes(), overrides)
    if result.program is None:
        raise SystemExit(
            f"{spec} does not compile: {[d.message for d in result.diagnostics]}"
        )
    return result.program


def compile_script(workload: str, backend: str, steps: int, folder: Path) -> Path:
    """The workload's spec compiled for a backend; evaluation and checkpoints only at the end."""
    from specc.compiler.emit import render as emit

    script = folder / f"generated_{workload}_{backend}.py"
    script.write_text(emit.render(compiled_program(workload, steps, folder), backend))
    return script


def write_inputs(workloads, folder: Path) -> None:
    """conv.npz (seeded random 32 x 32 images and labels) and each workload's initial weights."""
    if "conv" in workloads:
        generator = np.random.default_rng(0)
        np.savez(
            folder / CONV_DATA,
            train_x=generator.standard_normal((2000, 32, 32, 1)).astype(np.float32),
            train_y=generator.integers(0, 10, 2000),
            val_x=generator.standard_normal((200, 32, 32, 1)).astype(np.float32),
            val_y=generator.integers(0, 10, 200),
        )
    for workload in workloads:
        if WORKLOADS[workload].shared_weights:
            write_weights(workload, folder)


def write_weights(workload: str, folder: Path) -> Path:
    """``<workload>_weights.npz``: the generated model's initial arrays by dotted name."""
    from specc.runtime import init

    program = compiled_program(workload, 10, folder)
    seed = 0  # the specs' train.seed
    path = folder / f"{workload}_weights.npz"
    np.savez(path, **init.initialize(program.models[0].parameters, seed))
    return path


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


@dataclass(frozen=True)
class Measurement:
    """One script of one workload: ``kind`` generated, hand-written or keras."""

    workload: str
    backend: str
    kind: str

    @property
    def name(self) -> str:
        if self.kind == "keras":
            return f"{self.workload} keras 3 on {WORKLOADS[self.workload].keras[self.backend]}"
        return f"{self.workload} {self.kind} {self.backend}"

    def command(
        self, steps: int, folder: Path, scripts: dict, out_dir: Path
    ) -> list[str]:
        if self.kind == "generated":
            return [
                sys.executable,
                str(scripts[self.workload, self.backend]),
                "--out-dir",
                str(out_dir),
            ]
        target = (
            "keras_fit.py"
            if self.kind == "keras"
            else WORKLOADS[self.workload].handwritten[self.backend]
        )
        command = [sys.executable, str(HANDWRITTEN / target), "--steps", str(steps)]
        if self.workload == "conv":
            command += ["--data", str(folder / CONV_DATA)]
        if self.kind == "hand-written" and WORKLOADS[self.workload].shared_weights:
            command += ["--weights", str(folder / f"{self.workload}_weights.npz")]
        return command

    def extra_environment(self) -> dict:
        if self.kind == "keras":
            return {"KERAS_BACKEND": WORKLOADS[self.workload].keras[self.backend]}
        return {}


def run_child(
    command: list[str], env: dict, folder: Path
) -> tuple[str, str, int, float]:
    """(stdout, stderr, exit code, peak resident MB) of one subprocess, reaped with os.wait4."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(
            command,
            env=env,
            cwd=folder,
            stdout=out,
            stderr=err,
            text=True,
        )
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return out.read(), err.read(), process.returncode, usage.ru_maxrss / 1024


def run_once(
    measurement: Measurement, steps: int, threads: int, scripts: dict, folder: Path
) -> tuple[float, float]:
    """(steady steps/s, peak MB) of one run."""
    out_dir = folder / f"run_{measurement.workload}_{measurement.backend}"
    if out_dir.exists():
        subprocess.run(["rm", "-rf", str(out_dir)], check=True)
    command = measurement.command(steps, folder, scripts, out_dir)
    stdout, stderr, code, peak = run_child(
        command, environment(threads, measurement.extra_environment()), folder
    )
    if code:
        raise SystemExit(f"{measurement.name} failed:\n{stderr[-3000:]}")
    if measurement.kind == "generated":
        return steady_rate(out_dir / "metrics.csv", steps), peak
    return json.loads(stdout.strip().splitlines()[-1])["steps_per_s"], peak


def selected(workloads, backends) -> list[Measurement]:
    """Pairs in run order: generated then hand-written, then the Keras line where there is one."""
    chosen = []
    for workload in workloads:
        for backend in backends:
            chosen += [
                Measurement(workload, backend, "generated"),
                Measurement(workload, backend, "hand-written"),
            ]
            if backend in WORKLOADS[workload].keras and KERAS:
                chosen.append(Measurement(workload, backend, "keras"))
    return chosen


def steps_of(measurement: Measurement, steps: int | None) -> int:
    return steps or WORKLOADS[measurement.workload].steps[measurement.backend]


def compile_scripts(measurements, steps, folder: Path) -> dict:
    """(workload, backend) -> the generated script of each generated measurement."""
    return {
        (m.workload, m.backend): compile_script(m.workload, m.backend, steps_of(m, steps), folder)
        for m in measurements
        if m.kind == "generated"
    }


def measure(measurements, steps, repeat: int, threads: int, folder: Path):
    scripts = compile_scripts(measurements, steps, folder)
    rates = {m: [] for m in measurements}
    peaks = {m: [] for m in measurements}
    for round_index in range(repeat):
        for measurement in round_order(measurements, round_index):
            rate, peak = run_once(
                measurement, steps_of(measurement, steps), threads, scripts, folder
            )
            rates[measurement].append(rate)
            peaks[measurement].append(peak)
            print(
                f"  round {round_index + 1}: {measurement.name}: {rate:.2f} steps/s, {peak:.0f} MB "
                f"(load {load_text()})",
                file=sys.stderr,
            )
    return rates, peaks


def round_order(measurements: list, round_index: int) -> list:
    """The measurements of one round: each pair's scripts (generated, hand-written, Keras) one
    after another, in that order in even rounds and reversed in odd ones (A B, then B A), so a
    script is not always the one that follows the previous pair's processes."""
    groups: dict = {}
    for measurement in measurements:
        groups.setdefault((measurement.workload, measurement.backend), []).append(measurement)
    ordered = []
    for group in groups.values():
        ordered += group[::-1] if round_index % 2 else group
    return ordered


def load_text() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def rate_text(value: float) -> str:
    """Whole steps/s from 100 up, three significant digits below."""
    return f"{value:.0f}" if value >= 100 else f"{value:.3g}"


def round_ratios(numerator: list, denominator: list) -> list:
    """The ratio of two scripts' rates round by round: the two ran next to each other in each
    round, so a change of machine speed between rounds cancels out of each ratio."""
    return [a / b for a, b in zip(numerator, denominator)]


def ratio_text(ratios: list) -> str:
    """The median of the rounds' ratios and their range: ``1.02x (0.97-1.06)``."""
    return f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f})"


def print_tables(rates: dict, peaks: dict, workloads, backends, steps) -> None:
    median = {m: statistics.median(values) for m, values in rates.items()}
    print("| script | steps | runs, steps/s | median, steps/s | peak RSS, MB |")
    print("|---|---|---|---|---|")
    for m, values in rates.items():
        runs = ", ".join(rate_text(value) for value in values)
        print(
            f"| {m.name} | {steps_of(m, steps)} | {runs} | {rate_text(median[m])} | {max(peaks[m]):.0f} |"
        )
    print()
    print(
        "generated / hand-written: median of the rounds' ratios (their range); median steps/s "
        "generated / hand-written; peak RSS generated / hand-written, MB:"
    )
    print()
    print("| workload | " + " | ".join(backends) + " |")
    print("|---|" + "---|" * len(backends))
    for workload in workloads:
        cells = []
        for backend in backends:
            generated = Measurement(workload, backend, "generated")
            by_hand = Measurement(workload, backend, "hand-written")
            ratios = round_ratios(rates[generated], rates[by_hand])
            cells.append(
                f"{ratio_text(ratios)}; {rate_text(median[generated])} / "
                f"{rate_text(median[by_hand])}; {max(peaks[generated]):.0f} / {max(peaks[by_hand]):.0f} MB"
            )
        print(f"| {workload} | " + " | ".join(cells) + " |")
    keras = [m for m in rates if m.kind == "keras"]
    if keras:
        print()
        for m in keras:
            generated = Measurement(m.workload, m.backend, "generated")
            ratios = round_ratios(rates[generated], rates[m])
            print(f"- {m.workload} generated {m.backend} / {m.name}: {ratio_text(ratios)}")


def profile(measurements, steps, threads: int, folder: Path, lines: int) -> None:
    """Each script once under cProfile: its top functions by own time."""
    import step_profile  # beside this file; imported here: the tests load this file alone

    scripts = compile_scripts(measurements, steps, folder)
    for measurement in measurements:
        if measurement.kind == "keras":
            continue
        out_dir = folder / f"run_{measurement.workload}_{measurement.backend}"
        if out_dir.exists():
            subprocess.run(["rm", "-rf", str(out_dir)], check=True)
        output = (
            folder
            / f"{measurement.workload}_{measurement.backend}_{measurement.kind}.prof"
        )
        command = measurement.command(
            steps_of(measurement, steps), folder, scripts, out_dir
        )
        script = command[1]
        command = [sys.executable, "-m", "cProfile", "-o", str(output)] + command[1:]
        _, stderr, code, _ = run_child(
            command, environment(threads, measurement.extra_environment()), folder
        )
        if code:
            raise SystemExit(
                f"{measurement.name} failed under cProfile:\n{stderr[-3000:]}"
            )
        step_profile.print_profile(  # benchmarks/step_profile.py
            output, f"{measurement.name}, {steps_of(measurement, steps)} steps", script, lines
        )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--workloads", default="mlp,lm,conv", help="comma-separated: mlp, lm, conv"
    )
    parser.add_argument(
        "--steps",
        type=int,
        default=None,
        help="steps per run (default: each workload's steps per backend)",
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--threads", type=int, default=1, help="OMP/MKL threads; 0 = unset"
    )
    parser.add_argument("--only", nargs="*", choices=BACKENDS, help="backends to run")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="cProfile each script once instead of timing",
    )
    parser.add_argument("--profile-lines", type=int, default=15)
    arguments = parser.parse_args(argv)
    workloads = [
        name.strip() for name in arguments.workloads.split(",") if name.strip()
    ]
    unknown = sorted(set(workloads) - set(WORKLOADS))
    if unknown:
        parser.error(f"unknown workloads {unknown}; choose from {sorted(WORKLOADS)}")
    backends = arguments.only or list(BACKENDS)
    measurements = selected(workloads, backends)
    if not KERAS and "mlp" in workloads:
        print(
            "keras is not installed (pip install -e '.[bench]'): no Keras 3 line",
            file=sys.stderr,
        )
    before = load_text()
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        write_inputs(workloads, folder)
        if arguments.profile:
            profile(
                measurements,
                arguments.steps,
                arguments.threads,
                folder,
                arguments.profile_lines,
            )
            return
        rates, peaks = measure(
            measurements, arguments.steps, arguments.repeat, arguments.threads, folder
        )
    threads = arguments.threads or "unset (framework default)"
    print(
        f"workloads {', '.join(workloads)}: second half of each run timed, median of {arguments.repeat} "
        f"interleaved rounds, OMP_NUM_THREADS={threads}, {os.cpu_count()} CPUs, "
        f"load average {before} before / {load_text()} after"
    )
    print()
    print_tables(rates, peaks, workloads, backends, arguments.steps)


if __name__ == "__main__":
    main()
