"""The long, coverage-guided run of the front-end fuzzer (the CI test is a short, fixed one).

    python scripts/fuzz_front_end.py --minutes 10 [--seed N] [--out fuzz-findings]
    python scripts/fuzz_front_end.py --replay fuzz-findings/<name>.case

Cases come from the same grammar-aware generator as ``tests/fuzz/test_front_end.py``
(``tests/fuzz/grammar.py``) and are checked by the same harness (``tests/fuzz/harness.py``:
no exception escapes lint, fmt or compile, bounded output, fmt idempotent and faithful).
The run is guided by coverage: every case runs under a tracer that records which line of
the front end (``dsl/``, ``compiler/`` outside ``emit/``) follows which; a case that reaches
a transition no earlier case reached joins the corpus, and later cases are mutations of the
corpus (which starts as every spec of the repository). A case that takes longer than
``--timeout`` seconds of CPU time (or ten times as long on the clock) counts as a failure (a
hang).

Each distinct failure (exception type and the innermost frame of specc) is written once to
``--out`` as ``<n>.case`` (replayable) and ``<n>.txt`` (the traceback and the input), and
printed. The exit status is 1 when something failed.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import sys
import time
import traceback
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY))

from tests.fuzz import grammar, harness  # (after the repository is importable)

TRACED = tuple(str(REPOSITORY / folder) for folder in ("dsl", "compiler"))
UNTRACED = (str(REPOSITORY / "compiler" / "emit"),)


class Hang(Exception):
    """The case ran longer than the timeout."""


class Coverage:
    """Transitions between lines of the front end (``(code, previous line, line)``)."""

    def __init__(self):
        self.seen: set = set()
        self.current: set = set()
        self._interesting: dict[str, bool] = {}

    def _global(self, frame, event, argument):
        code = frame.f_code
        interesting = self._interesting.get(code.co_filename)
        if interesting is None:
            name = code.co_filename
            interesting = name.startswith(TRACED) and not name.startswith(UNTRACED)
            self._interesting[name] = interesting
        if not interesting:
            return None
        current, previous = self.current, [0]

        def local(frame, event, argument):
            if event == "line":
                line = frame.f_lineno
                current.add((code, previous[0], line))
                previous[0] = line
            return local

        return local

    def run(self, function, *arguments):
        """Run with tracing; returns (result, number of new transitions)."""
        self.current = set()
        sys.settrace(self._global)
        try:
            result = function(*arguments)
        finally:
            sys.settrace(None)
        new = self.current - self.seen
        self.seen |= new
        return result, len(new)


def save_case(case, path: Path) -> None:
    data = {
        "source": case.source.decode("latin-1"),
        "overrides": list(case.overrides),
        "backend": case.backend,
        "output_format": case.output_format,
        "library": case.library.decode("latin-1"),
    }
    path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")


def load_case(path: Path):
    data = json.loads(path.read_text(encoding="utf-8"))
    return grammar.Case(
        data["source"].encode("latin-1"),
        tuple(data["overrides"]),
        data["backend"],
        data["output_format"],
        data["library"].encode("latin-1"),
    )


def signature(error: BaseException) -> tuple[str, str]:
    """What makes two failures the same: the exception type and the innermost specc frame."""
    frames = traceback.extract_tb(error.__traceback__)
    own = [f for f in frames if f.filename.startswith(str(REPOSITORY)) and "/tests/fuzz/" not in f.filename]
    where = f"{Path(own[-1].filename).relative_to(REPOSITORY)}:{own[-1].lineno}" if own else "harness"
    if isinstance(error, harness.FrontEndFailure):
        where = str(error).split("\n")[0][:60]
    return type(error).__name__, where


def run_case(case, workspace, coverage: Coverage | None, timeout: float):
    """Run one case; ``Hang`` after ``timeout`` s of CPU time (other work on the machine does
    not count) or 10 times as long on the clock (a case blocked on a read uses no CPU)."""

    def expired(signum, frame):
        clock = "of CPU time" if signum == signal.SIGPROF else "on the clock"
        raise Hang(f"the case took more than {timeout if signum == signal.SIGPROF else 10 * timeout} s {clock}")

    timers = ((signal.SIGPROF, signal.ITIMER_PROF, timeout), (signal.SIGALRM, signal.ITIMER_REAL, 10 * timeout))
    previous = [signal.signal(number, expired) for number, _, _ in timers]
    for _, timer, seconds in timers:
        signal.setitimer(timer, seconds)
    try:
        if coverage is None:
            return harness.exercise(case, workspace), 0
        return coverage.run(harness.exercise, case, workspace)
    finally:
        for (number, timer, _), handler in zip(timers, previous):
            signal.setitimer(timer, 0)
            signal.signal(number, handler)


def replay(path: Path, timeout: float) -> int:
    workspace = harness.Workspace()
    try:
        outcome, _ = run_case(load_case(path), workspace, None, timeout)
    except Exception:  # noqa: BLE001 - any exception is the failure being replayed
        traceback.print_exc()
        return 1
    finally:
        workspace.close()
    print(f"{path}: passes ({outcome})")
    return 0


def report_failure(error, case, out: Path, failures: dict) -> None:
    key = signature(error)
    failures[key] = failures.get(key, 0) + 1
    if failures[key] > 1:
        return
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"failure-{len(failures):03d}"
    save_case(case, stem.with_suffix(".case"))
    text = "".join(traceback.format_exception(error))
    stem.with_suffix(".txt").write_text(f"{text}\n{case.describe()}\n--- input\n{case.source!r}\n", encoding="utf-8")
    print(f"FAILURE {key[0]} at {key[1]}: {stem}.case ({len(case.source)} bytes)", flush=True)


def fuzz(minutes: float, seed: int, out: Path, timeout: float, guided: bool) -> int:
    rng = random.Random(seed)
    seeds = grammar.seed_texts()
    corpus = list(seeds)
    coverage = Coverage() if guided else None
    workspace = harness.Workspace()
    failures: dict = {}
    started = time.monotonic()
    runs = checked = 0
    next_report = started + 30
    print(f"fuzzing for {minutes} min, seed {seed}, {len(seeds)} seeds, coverage {'on' if guided else 'off'}", flush=True)
    try:
        while time.monotonic() - started < minutes * 60:
            # a seed first as written, then mutations of the corpus (recent finds more often)
            if runs < len(seeds):
                case = grammar.Case(seeds[runs].encode())
            else:
                recent = corpus[-50:] if rng.random() < 0.5 else corpus
                case = grammar.make_case(rng, seeds, recent[rng.randint(0, len(recent) - 1)])
            runs += 1
            try:
                outcome, new = run_case(case, workspace, coverage, timeout)
            except Exception as error:  # noqa: BLE001 - every exception that escapes is a finding
                report_failure(error, case, out, failures)
                continue
            checked += outcome.checks
            if new and runs > len(seeds):
                corpus.append(case.source.decode("utf-8", "replace"))
            if time.monotonic() > next_report:
                next_report += 30
                edges = len(coverage.seen) if coverage else 0
                print(f"{time.monotonic() - started:6.0f} s  {runs} cases  {checked} compiled  corpus {len(corpus)}"
                      f"  transitions {edges}  failures {len(failures)}", flush=True)
    finally:
        workspace.close()
    print(f"done: {runs} cases in {time.monotonic() - started:.0f} s, {checked} compiled, corpus {len(corpus)}, "
          f"{len(failures)} distinct failure(s)")
    for (kind, where), count in sorted(failures.items(), key=lambda item: -item[1]):
        print(f"  {count:5d} x {kind} at {where}")
    return 1 if failures else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: a new one, printed)")
    parser.add_argument("--out", type=Path, default=Path("fuzz-findings"))
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds before a case counts as a hang")
    parser.add_argument("--no-coverage", action="store_true", help="no tracing: more cases, no guidance")
    parser.add_argument("--replay", type=Path, help="run one saved case and print its traceback")
    arguments = parser.parse_args()
    if arguments.replay:
        sys.exit(replay(arguments.replay, arguments.timeout))
    seed = arguments.seed if arguments.seed is not None else random.SystemRandom().randrange(2**32)
    sys.exit(fuzz(arguments.minutes, seed, arguments.out, arguments.timeout, not arguments.no_coverage))


if __name__ == "__main__":
    main()
