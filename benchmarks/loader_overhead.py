"""What the data loader costs a training step (issue 12: "the loader never on the critical
path (prefetch measured: fraction of step time spent waiting for data)"). Measured, not
tested; not part of the test suite.

    python benchmarks/loader_overhead.py [--workloads mlp,conv,lm] [--backends jax,lightning]
        [--rounds 5] [--batches 2000] [--skip-batches] [--skip-wait]

Two measurements, each in rounds that interleave the paths (A B A B ...), medians printed:

1. **Cost per batch** of each loader path over the three workloads' data (the digits of
   specs/digits_mlp.mf, batch 64; benchmarks/specs/conv.mf's npz, batch 32; lm.mf's token
   stream, batch 16), with nothing else running: wall and CPU microseconds per batch
   (``time.process_time``: every thread of the process, the prefetch thread's included).
   Paths: ``default`` (what ``loader_options`` gives: in-memory rows are built in the
   consumer's thread with one fancy index per field, other sources prefetch), ``prefetch``
   (``prefetch = 2``: one background thread, a future per batch; the default before) and
   ``get`` (``prefetch = 0`` through ``Loader.batch`` and ``source.get``, with its checks:
   what ``prefetch_factor = 0`` gave before).
2. **Fraction of step time spent waiting for data** in the generated training scripts
   (benchmarks/steps_per_second.py compiles them the same way): each script runs in a
   fresh process with ``Loader.epoch_batches`` of the training loader wrapped so that every
   ``next()`` the training loop makes is timed; the fraction is the time inside those calls
   over the time between the first and the last call of the second half of the run (steady
   state, after compilation). ``default`` against ``prefetch`` (the loader's default
   before in-memory rows were built inline: ``prefetch = 2`` forced for loaders the spec
   gives no ``prefetch_factor``).
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import os
import runpy
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
PATHS = ("default", "prefetch", "get")
NOT_SOURCE_KEYS = ("coupling", "eval_batch_size", "batch_size")  # data keys the source does not take


def speed_module():
    """benchmarks/steps_per_second.py (its workloads, compilation and environment)."""
    if "steps_per_second" not in sys.modules:
        path = REPOSITORY / "benchmarks" / "steps_per_second.py"
        spec = importlib.util.spec_from_file_location("steps_per_second", path)
        sys.modules["steps_per_second"] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules["steps_per_second"])
    return sys.modules["steps_per_second"]


def training_loader(workload: str, folder: Path, path: str):
    """The generated script's training Loader of ``workload`` with the loader ``path``."""
    from specc.runtime.data import Loader, loader_options, make_source

    data = speed_module().compiled_program(workload, 10, folder).data
    arguments = dict(data.source.arguments)
    options = loader_options(arguments, "train")
    if path == "prefetch":
        options["prefetch"] = 2
    elif path == "get":
        options["prefetch"] = 0
    source_arguments = {key: value for key, value in arguments.items() if key not in NOT_SOURCE_KEYS}
    source = make_source(data.source.kind, **source_arguments)
    loader = Loader(source, "train", int(data.batch_size), seed=0, **options)
    if path == "get":
        loader.indexes_memory = False  # every batch through Loader.batch and source.get
    return loader


def time_batches(loader, count: int) -> tuple[float, float]:
    """(wall us, CPU us) per batch over ``count`` batches of ``loader.forever()``."""
    batches = loader.forever()
    next(batches)  # the pool and the first batch: start-up, not the steady cost
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in itertools.islice(batches, count):
        pass
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    batches.close()
    loader.close()
    return wall / count * 1e6, cpu / count * 1e6


def measure_batches(workloads, rounds: int, count: int, folder: Path) -> None:
    results = {(workload, path): [] for workload in workloads for path in PATHS}
    for _ in range(rounds):
        for workload in workloads:
            for path in PATHS:
                results[workload, path].append(time_batches(training_loader(workload, folder, path), count))
    print(f"\ncost per training batch, {count} batches x {rounds} interleaved rounds, medians (load {load()}):\n")
    print("| workload (source, batch) | path | default prefetch | wall us / batch | CPU us / batch |")
    print("|---|---|---|---|---|")
    for workload in workloads:
        for path in PATHS:
            loader = training_loader(workload, folder, path)
            walls, cpus = zip(*results[workload, path])
            name = f"{workload} ({loader.source.kind}, {loader.batch_size})"
            print(
                f"| {name} | {path} | {loader.prefetch} | {statistics.median(walls):.1f} "
                f"({', '.join(f'{value:.0f}' for value in walls)}) | {statistics.median(cpus):.1f} |"
            )


def run_child(script: str, out_dir: str, prefetch: int | None) -> None:
    """In this process: run a generated script with its training loader's waits timed, then
    print them as one JSON line."""
    from specc.runtime.data import Loader

    waits = []
    original_init, original_batches = Loader.__init__, Loader.epoch_batches

    def init(self, *arguments, **keywords):
        if prefetch is not None and keywords.get("prefetch") is None:
            keywords["prefetch"] = prefetch
        original_init(self, *arguments, **keywords)

    def epoch_batches(self, epoch, start=0):
        batches = original_batches(self, epoch, start)
        if self.split != "train":
            yield from batches
            return
        while True:
            before = time.perf_counter()
            batch = next(batches, None)
            if batch is None:
                return
            waits.append((before, time.perf_counter()))
            yield batch

    Loader.__init__, Loader.epoch_batches = init, epoch_batches
    sys.argv = [script, "--out-dir", out_dir]
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as exit_:
        if exit_.code:
            raise
    print(json.dumps(waits))


def wait_fraction(waits) -> tuple[float, float, float]:
    """(fraction of the second half's time inside next(), mean wait in us, steps/s) of the
    second half of a run's training batches."""
    half = waits[len(waits) // 2 :]
    span = half[-1][0] - half[0][0]
    waited = sum(after - before for before, after in half[:-1])
    steps = max(1, len(half) - 1)
    return waited / span, waited / steps * 1e6, steps / span


def measure_waits(workloads, backends, rounds: int, folder: Path) -> None:
    speed = speed_module()
    scripts = {
        (workload, backend): speed.compile_script(workload, backend, speed.WORKLOADS[workload].steps[backend], folder)
        for workload in workloads
        for backend in backends
    }
    modes = {"default": None, "prefetch": 2}
    results = {(key, mode): [] for key in scripts for mode in modes}
    for _ in range(rounds):
        for key, script in scripts.items():
            for mode, prefetch in modes.items():
                out_dir = folder / f"wait_{key[0]}_{key[1]}_{mode}"
                subprocess.run(["rm", "-rf", str(out_dir)], check=True)
                command = [sys.executable, __file__, "--child", str(script), str(out_dir)]
                command += [] if prefetch is None else ["--child-prefetch", str(prefetch)]
                done = subprocess.run(command, env=speed.environment(1), cwd=folder, capture_output=True, text=True)
                if done.returncode:
                    raise SystemExit(f"{script} failed:\n{done.stderr[-3000:]}")
                results[key, mode].append(wait_fraction(json.loads(done.stdout.strip().splitlines()[-1])))
    print(f"\nfraction of step time waiting for data, generated scripts, {rounds} interleaved rounds, medians "
          f"(load {load()}):\n")
    print("| workload | backend | " + " | ".join(f"{mode}: waiting (us / step; steps/s)" for mode in modes) + " |")
    print("|---|---|" + "---|" * len(modes))
    for key in scripts:
        cells = []
        for mode in modes:
            fractions, means, rates = zip(*results[key, mode])
            cells.append(
                f"{statistics.median(fractions):.1%} ({statistics.median(means):.0f} us; "
                f"{statistics.median(rates):.4g})"
            )
        print(f"| {key[0]} | {key[1]} | " + " | ".join(cells) + " |")


def load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workloads", default="mlp,conv,lm")
    parser.add_argument("--backends", default="jax,lightning")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batches", type=int, default=2000)
    parser.add_argument("--skip-batches", action="store_true")
    parser.add_argument("--skip-wait", action="store_true")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--child-prefetch", type=int, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        run_child(*arguments.child, arguments.child_prefetch)
        return
    workloads = arguments.workloads.split(",")
    print(f"load before: {load()}")
    with tempfile.TemporaryDirectory() as directory:
        folder = Path(directory)
        speed_module().write_inputs(workloads, folder)
        if not arguments.skip_batches:
            measure_batches(workloads, arguments.rounds, arguments.batches, folder)
        if not arguments.skip_wait:
            measure_waits(workloads, arguments.backends.split(","), max(1, arguments.rounds // 2), folder)
    print(f"\nload after: {load()}")


if __name__ == "__main__":
    main()
