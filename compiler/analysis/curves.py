"""Training and validation curves from a run's ``metrics.csv`` text.

``metrics.csv`` is ``step,epoch,split,name,value,time`` on every backend
(``specc.runtime.training.metrics_log``). ``read_series`` turns its text into one series
per (split, name), steps ascending; a step logged twice (a resumed run) keeps its last
value. ``default_metrics`` chooses what ``specc plot`` draws when no ``--metric`` is given:
every metric with a validation or test value, and the training loss.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass

from specc.runtime.training.metrics_log import HEADER


class MetricsError(ValueError):
    """A metrics.csv that cannot be read (its message names the line)."""


@dataclass(frozen=True)
class Series:
    split: str
    name: str
    steps: tuple[int, ...]
    values: tuple[float, ...]


def read_series(text: str, source: str = "metrics.csv") -> dict[tuple[str, str], Series]:
    """(split, name) -> Series; ``source`` names the file in errors."""
    rows = csv.reader(io.StringIO(text))
    header = next(rows, None)
    if header is None or tuple(header[: len(HEADER)]) != HEADER:
        raise MetricsError(f"{source}: the first line must be {','.join(HEADER)}")
    points: dict[tuple[str, str], dict[int, float]] = {}
    for line, row in enumerate(rows, start=2):
        if not row:
            continue
        try:
            step, split, name, value = int(row[0]), row[2], row[3], float(row[4])
        except (IndexError, ValueError):
            raise MetricsError(f"{source}:{line}: cannot read the row {','.join(row)!r}") from None
        points.setdefault((split, name), {})[step] = value
    return {
        key: Series(key[0], key[1], tuple(sorted(values)), tuple(values[step] for step in sorted(values)))
        for key, values in sorted(points.items())
    }


def default_metrics(series: dict[tuple[str, str], Series]) -> list[str]:
    """Every metric name with a non-training value, and ``loss`` when it is logged."""
    names = {name for split, name in series if split != "train"}
    names |= {name for split, name in series if name == "loss"}
    return sorted(names, key=lambda name: (name != "loss", name))


def finite(series: Series) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """The points of ``series`` whose value is a finite number (a diverged step logs nan)."""
    kept = [(step, value) for step, value in zip(series.steps, series.values) if math.isfinite(value)]
    return tuple(step for step, _ in kept), tuple(value for _, value in kept)
