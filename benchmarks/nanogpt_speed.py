"""Validation loss and training speed of specs/examples/nanogpt_char.mf compiled for Lightning
and JAX against a hand-written PyTorch nanoGPT (benchmarks/nanogpt/reference.py), on the same
character-level token files, interleaved. Not asserted anywhere: performance is measured, not
tested, and this file is not part of the test suite.

    python benchmarks/nanogpt_speed.py [--repeats 3] [--max-steps 1000] [--threads 1]
        [--text FILE | --data DIR] [--spec SPEC] [--set KEY=VALUE ...] [--skip-generated]

Data: ``--data DIR`` uses token files already made by specs/examples/prepare_chars.py;
otherwise that script tokenizes ``--text FILE`` (default: this repository's docs/*.md, no
download) into the working folder (``--work-dir``, default a temporary one).

Scripts: the spec is compiled with ``specc compile SPEC --backend B -o ...`` and ``--set``
overrides of ``data.path`` and ``data.meta`` (absolute: the spec's own paths are relative to
the spec file) and of ``train.eval_every``, plus any ``--set`` given here; a spec that
states ``let vocab_size`` also gets it from meta.json (the let is checked against the file).
Every program gets the same seed (``--seed``) and runs ``--max-steps`` steps; the generated
scripts get ``--max-steps`` on their command line, so their learning-rate schedule stays the
spec's (as the reference's stays nanoGPT's: warmup 100, cosine to step 1000). A script stops
at its spec's ``train.max_steps`` at most: a shorter spec needs ``--set train.max_steps=N``.

Runs: reference, lightning, jax, reference, lightning, jax, ... (``--repeats`` rounds), each a
fresh subprocess with ``OMP_NUM_THREADS=MKL_NUM_THREADS=--threads`` (the reference also gets
``--threads`` for ``torch.set_num_threads``; XLA's CPU thread pool does not follow these
variables). Validation loss is read at every evaluation (the reference prints it; a generated
script writes ``val,loss`` rows to metrics.csv). Steps per second exclude the first 10 steps
and evaluation: the reference times its own steps; for a generated script the
``train,steps_per_s`` windows of metrics.csv are combined (steps over seconds), leaving out
the windows that start before step 10 and the window after each evaluation (evaluation and
checkpointing run after the log step, so their time falls in the next window). Peak memory is
the child's ``ru_maxrss``; the load average is read before every run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
PREPARE = REPOSITORY / "specs" / "examples" / "prepare_chars.py"
REFERENCE = REPOSITORY / "benchmarks" / "nanogpt" / "reference.py"
SPEC = REPOSITORY / "specs" / "examples" / "nanogpt_char.mf"
BACKENDS = ("lightning", "jax")
REFERENCE_NAME = "reference (PyTorch)"
WARMUP_TIMING = 10  # steps not timed, as in reference.py


@dataclass
class Run:
    """One program's measurements of one run."""

    val_loss: dict[int, float]
    steps_per_s: float
    peak_mb: float
    load: float
    parameters: str = "?"


@dataclass
class Program:
    name: str
    command: list[str]
    run_dir: Path | None = None  # a generated script's run directory (fresh per run)
    runs: list[Run] = field(default_factory=list)


def environment(threads: int) -> dict:
    """The subprocess environment: identical thread settings for every program."""
    values = dict(os.environ)
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        values.pop(name, None)
        if threads:
            values[name] = str(threads)
    return values


def run_child(command: list[str], env: dict, folder: Path, name: str) -> tuple[str, float]:
    """Run ``command``; (its stdout, its peak resident memory in MB). Exits naming ``name``
    with the end of its stderr when it fails."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(command, env=env, cwd=folder, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        stdout, stderr = out.read(), err.read()
    if process.returncode:
        raise SystemExit(f"{name} failed (exit {process.returncode}): {' '.join(command)}\n{stderr[-3000:]}")
    kilobytes = usage.ru_maxrss / (1024 if sys.platform == "darwin" else 1)  # bytes on macOS
    return stdout, kilobytes / 1024


def prepare_data(arguments, folder: Path) -> Path:
    """The token folder: ``--data`` as given, or prepare_chars.py's output under ``folder``."""
    if arguments.data is not None:
        return arguments.data.resolve()
    data = folder / "chars"
    source = [str(arguments.text)] if arguments.text else ["--from-docs"]
    finished = subprocess.run(
        [sys.executable, str(PREPARE), *source, str(data)], check=False, capture_output=True, text=True
    )
    if finished.returncode:
        raise SystemExit(finished.stderr.strip())
    print(finished.stdout.strip(), file=sys.stderr)
    return data


def compile_script(arguments, backend: str, data: Path, vocab_size: int, folder: Path) -> Path:
    """``specc compile`` of the spec for ``backend``, its data paths pointed at ``data``."""
    script = folder / f"nanogpt_{backend}.py"
    overrides = [
        f"data.path={json.dumps(str(data))}",
        f"data.meta={json.dumps(str(data / 'meta.json'))}",
        f"train.eval_every={arguments.eval_every}",
        *arguments.set,
    ]
    if re.search(r"^let vocab_size\b", arguments.spec.read_text(encoding="utf-8"), re.MULTILINE):
        overrides.insert(2, f"vocab_size={vocab_size}")  # a stated size, checked against meta.json
    command = [sys.executable, "-m", "specc", "compile", str(arguments.spec), "--backend", backend]
    command += ["-o", str(script)] + [part for value in overrides for part in ("--set", value)]
    finished = subprocess.run(command, check=False, capture_output=True, text=True, cwd=REPOSITORY)
    if finished.returncode:
        raise SystemExit(f"{arguments.spec} does not compile for {backend}:\n{finished.stdout}{finished.stderr}")
    return script


def reference_run(stdout: str) -> tuple[dict[int, float], float, str]:
    """(val loss per step, steps/s, parameter count) printed by reference.py."""
    losses = {int(step): float(value) for step, value in re.findall(r"^step (\d+) val_loss (\S+)$", stdout, re.MULTILINE)}
    rate = float(re.search(r"^steps_per_s (\S+)$", stdout, re.MULTILINE).group(1))
    return losses, rate, parameter_count(stdout)


def parameter_count(stdout: str) -> str:
    found = re.search(r"^parameters: ([\d,]+)", stdout, re.MULTILINE)
    return found.group(1) if found else "?"


def generated_run(run_dir: Path, eval_every: int, max_steps: int) -> tuple[dict[int, float], float]:
    """(val loss per step, steps/s without warm-up and evaluation windows) of metrics.csv."""
    from specc.runtime import training

    rows = training.read_metrics(run_dir / "metrics.csv")
    last = max((row["step"] for row in rows if row["split"] == "train"), default=0)
    if last < max_steps:
        raise SystemExit(
            f"{run_dir.name} stopped at step {last}, before --max-steps {max_steps}: a script runs at most its "
            f"spec's train.max_steps (--set train.max_steps={max_steps} raises it; the schedule may follow)"
        )
    losses = {row["step"]: row["value"] for row in rows if row["split"] == "val" and row["name"] == "loss"}
    rates = sorted({row["step"]: row["value"] for row in rows if row["name"] == "steps_per_s"}.items())
    counted, seconds, previous = 0, 0.0, 0
    for step, rate in rates:
        after_evaluation = previous > 0 and previous % eval_every == 0
        if previous >= WARMUP_TIMING and not after_evaluation:
            counted += step - previous
            seconds += (step - previous) / rate
        previous = step
    return losses, counted / seconds if seconds else float("nan")


def measure(program: Program, arguments, env: dict, folder: Path, round_index: int) -> Run:
    load = os.getloadavg()[0]
    command = list(program.command)
    if program.run_dir is not None:
        run_dir = program.run_dir.with_name(f"{program.run_dir.name}_{round_index + 1}")
        shutil.rmtree(run_dir, ignore_errors=True)  # a fresh run, not a resumed one
        command += ["--out-dir", str(run_dir)]
    stdout, peak = run_child(command, env, folder, program.name)
    if program.run_dir is None:
        losses, rate, parameters = reference_run(stdout)
    else:
        losses, rate = generated_run(run_dir, arguments.eval_every, arguments.max_steps)
        parameters = parameter_count(stdout)
    return Run(losses, rate, peak, load, parameters)


def programs(arguments, data: Path, vocab_size: int, folder: Path) -> list[Program]:
    common = ["--seed", str(arguments.seed), "--max-steps", str(arguments.max_steps)]
    found = [
        Program(
            REFERENCE_NAME,
            [sys.executable, str(REFERENCE), str(data), "--threads", str(arguments.threads),
             "--eval-every", str(arguments.eval_every), *common],
        )
    ]
    if arguments.skip_generated:
        return found
    for backend in arguments.backends:
        script = compile_script(arguments, backend, data, vocab_size, folder)
        found.append(Program(f"generated {backend}", [sys.executable, str(script), *common], folder / f"run_{backend}"))
    return found


def load_text() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def median_losses(program: Program) -> dict[int, float]:
    steps = sorted({step for run in program.runs for step in run.val_loss})
    return {step: statistics.median(run.val_loss[step] for run in program.runs if step in run.val_loss) for step in steps}


def print_tables(found: list[Program]) -> None:
    losses = {program.name: median_losses(program) for program in found}
    steps = sorted({step for values in losses.values() for step in values})
    reference = losses[REFERENCE_NAME]
    print("Validation loss (median over the runs; a run's losses are deterministic for the seed up to")
    print("thread scheduling), and its difference from the reference's:")
    print()
    print("| program | parameters | " + " | ".join(f"val loss @{step}" for step in steps) + " |")
    print("|---|---|" + "---|" * len(steps))
    for program in found:
        cells = []
        for step in steps:
            value = losses[program.name].get(step)
            cell = "-" if value is None else f"{value:.4f}"
            if value is not None and program.name != REFERENCE_NAME and step in reference:
                cell += f" ({value - reference[step]:+.4f})"
            cells.append(cell)
        print(f"| {program.name} | {program.runs[0].parameters} | " + " | ".join(cells) + " |")
    print()
    rate = {program.name: statistics.median(run.steps_per_s for run in program.runs) for program in found}
    print("| program | steps/s per run | median steps/s | / reference | peak RSS MB (max) | load average before runs |")
    print("|---|---|---|---|---|---|")
    for program in found:
        runs = ", ".join(f"{run.steps_per_s:.2f}" for run in program.runs)
        loads = ", ".join(f"{run.load:.2f}" for run in program.runs)
        ratio = rate[program.name] / rate[REFERENCE_NAME]
        peak = max(run.peak_mb for run in program.runs)
        print(f"| {program.name} | {runs} | {rate[program.name]:.2f} | {ratio:.2f}x | {peak:.0f} | {loads} |")
    if any(math.isnan(run.steps_per_s) for program in found for run in program.runs):
        print()
        print("nan: no steps_per_s window of metrics.csv starts after step 10 and after no evaluation")
        print("(more --max-steps, or --set train.log_every=N with a smaller N)")


def parse_arguments(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="rounds of interleaved runs")
    parser.add_argument("--max-steps", type=int, default=1000)
    parser.add_argument("--eval-every", type=int, default=250)
    parser.add_argument("--threads", type=int, default=1, help="OMP/MKL threads and torch threads; 0 = unset")
    parser.add_argument("--seed", type=int, default=1337)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--text", type=Path, help="text file to tokenize (default: docs/*.md)")
    source.add_argument("--data", type=Path, help="folder already holding train.bin, val.bin, meta.json")
    parser.add_argument("--spec", type=Path, default=SPEC)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="another spec override")
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS))
    parser.add_argument("--skip-generated", action="store_true", help="run the reference only")
    parser.add_argument("--work-dir", type=Path, help="keep data, scripts and runs here (default: a temporary folder)")
    arguments = parser.parse_args(argv)
    arguments.spec = arguments.spec.resolve()
    if arguments.repeats < 1 or arguments.max_steps < 1 or arguments.eval_every < 1:
        parser.error("--repeats, --max-steps and --eval-every must be positive")
    return arguments


def benchmark(arguments, folder: Path) -> None:
    data = prepare_data(arguments, folder)
    vocab_size = json.loads((data / "meta.json").read_text(encoding="utf-8"))["vocab_size"]
    found = programs(arguments, data, vocab_size, folder)
    env = environment(arguments.threads)
    before, started = load_text(), time.time()
    for round_index in range(arguments.repeats):
        for program in found:
            run = measure(program, arguments, env, folder, round_index)
            program.runs.append(run)
            last = max(run.val_loss) if run.val_loss else None
            shown = f"val loss {run.val_loss[last]:.4f} @{last}" if last else "no evaluation"
            print(
                f"  round {round_index + 1}: {program.name}: {run.steps_per_s:.2f} steps/s, {shown}, "
                f"{run.peak_mb:.0f} MB, load {run.load:.2f}",
                file=sys.stderr,
            )
    threads = arguments.threads or "unset (framework default)"
    spec = arguments.spec
    spec = spec.relative_to(REPOSITORY) if spec.is_relative_to(REPOSITORY) else spec
    text = arguments.text or arguments.data or "docs/*.md"
    train_tokens = (data / "train.bin").stat().st_size // 2  # uint16 ids
    print(f"nanoGPT char: {spec} (generated) against benchmarks/nanogpt/reference.py (hand-written)")
    print(
        f"data {text}: vocab {vocab_size}, {train_tokens:,} training tokens; {arguments.max_steps} steps, "
        f"seed {arguments.seed}, {arguments.repeats} interleaved rounds in {time.time() - started:.0f} s"
    )
    print(
        f"OMP_NUM_THREADS={threads}; {os.cpu_count()} CPUs, load average {before} before / {load_text()} after"
    )
    print()
    print_tables(found)


def main(argv=None) -> None:
    arguments = parse_arguments(argv)
    if arguments.work_dir is not None:
        arguments.work_dir.mkdir(parents=True, exist_ok=True)
        benchmark(arguments, arguments.work_dir.resolve())
        return
    with tempfile.TemporaryDirectory(prefix="nanogpt_speed.") as folder:
        benchmark(arguments, Path(folder))


if __name__ == "__main__":
    main()
