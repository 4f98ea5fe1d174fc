"""``metrics.csv``: ``step,epoch,split,name,value,time``, the same on every backend.

Values are written with full float precision (``repr``); ``time`` is seconds since the run
started. On resume the rows after the checkpoint's step are dropped before appending: the
kept rows go to a temporary file that replaces the old one (``os.replace``), so a kill at any
moment leaves either the old file or the new one, never a truncated history. Each
``write_many`` is flushed and fsynced. A write that fails (disk full, read-only) raises a
``RunError`` naming the file.
"""

from __future__ import annotations

import csv
import math
import os
import time
from pathlib import Path

from specc.runtime.training.distributed import is_main_process
from specc.runtime.training.failures import storage_failure
from specc.runtime.training.progress import print_line

HEADER = ("step", "epoch", "split", "name", "value", "time")
# train: the running means of the training steps; train_eval: the fixed training examples
# evaluated like val (eval { on_train = true }), never mixed with them
SPLITS = ("train", "val", "test", "train_eval")


def format_value(value) -> str:
    """Full precision: ``repr`` of the float (``nan`` and ``inf`` as Python writes them)."""
    number = float(value)
    if math.isnan(number):
        return "nan"
    return repr(number)


class MetricsLog:
    """Append rows to ``path``; ``resume_step`` truncates rows with ``step > resume_step``.

    ``echo`` (a text stream, e.g. ``sys.stdout``) also prints one line per group of rows,
    ``step 200 val: accuracy 0.9554, loss 0.1457``, so a run shows what it logs.
    In a data-parallel run only the main process (rank 0) writes: elsewhere it is inert.
    """

    def __init__(self, path, resume_step: int | None = None, start_time: float | None = None, echo=None):
        self.path = Path(path)
        self.echo = echo
        self.start_time = time.time() if start_time is None else start_time
        self.time_offset = 0.0
        self.inert = not is_main_process()
        if self.inert:
            self.file = open(os.devnull, "w", encoding="utf-8")
            self.writer, self.echo = csv.writer(self.file, lineterminator="\n"), None
            return
        kept = self._kept_rows(resume_step) if resume_step is not None else []
        if kept:
            self.time_offset = max(float(row[5]) for row in kept)
        try:
            self._rewrite(kept)
            self.file = open(self.path, "a", newline="", encoding="utf-8")
        except OSError as error:
            raise storage_failure(error, f"writing {str(self.path)!r}") from error
        self.writer = csv.writer(self.file, lineterminator="\n")

    def _rewrite(self, kept: list[list[str]]) -> None:
        """The header and ``kept`` rows in a temporary file, fsynced, renamed over ``path``."""
        temporary = self.path.with_name(f".{self.path.name}.tmp-{os.getpid()}")
        try:
            with open(temporary, "w", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle, lineterminator="\n")
                writer.writerow(HEADER)
                writer.writerows(kept)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.path)
        except OSError:
            temporary.unlink(missing_ok=True)
            raise

    def _kept_rows(self, resume_step: int) -> list[list[str]]:
        if not self.path.exists():
            return []
        with open(self.path, newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
        if not rows or tuple(rows[0]) != HEADER:
            return []
        return [row for row in rows[1:] if len(row) == len(HEADER) and row[0].isdigit() and int(row[0]) <= resume_step]

    def elapsed(self) -> float:
        """Seconds since the run started (continuing the previous run's clock on resume)."""
        return self.time_offset + time.time() - self.start_time

    def write(self, step: int, epoch: int, split: str, name: str, value) -> None:
        """One row; ``split`` is train, val, test or train_eval."""
        if split not in SPLITS:
            raise ValueError(f"metrics.csv: split must be one of {', '.join(SPLITS)}, got {split!r}")
        self.writer.writerow([int(step), int(epoch), split, name, format_value(value), repr(round(self.elapsed(), 6))])

    def write_many(self, step: int, epoch: int, split: str, values: dict) -> None:
        """Several rows in name order, then flush and fsync."""
        try:
            for name in sorted(values):
                self.write(step, epoch, split, name, values[name])
        except OSError as error:
            raise storage_failure(error, f"writing {str(self.path)!r}") from error
        self.flush()
        if self.echo is not None and values:
            shown = ", ".join(f"{name} {float(values[name]):.4g}" for name in sorted(values))
            print_line(f"step {int(step)} {split}: {shown}", self.echo)  # above the progress bar

    def flush(self) -> None:
        """Every row written so far on disk (flushed and fsynced)."""
        if self.inert:
            return
        try:
            self.file.flush()
            os.fsync(self.file.fileno())
        except OSError as error:
            raise storage_failure(error, f"writing {str(self.path)!r}") from error

    def close(self) -> None:
        if not self.file.closed:
            self.flush()
            self.file.close()


def read_metrics(path) -> list[dict]:
    """Rows of a metrics.csv as dicts (``step``/``epoch`` int, ``value``/``time`` float)."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        row["step"], row["epoch"] = int(row["step"]), int(row["epoch"])
        row["value"], row["time"] = float(row["value"]), float(row["time"])
    return rows
