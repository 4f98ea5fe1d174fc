"""Early stopping on a monitored metric."""

from __future__ import annotations

import math

from specc.runtime.training.progress import print_line


class EarlyStopping:
    """Stop after ``patience`` evaluations without improvement.

    A value improves when ``value < best - min_delta`` (mode ``min``) or
    ``value > best + min_delta`` (mode ``max``). Non-finite values never improve.
    With ``verbose``, the decision to stop is printed (:meth:`reason`, Lightning's text).
    """

    def __init__(self, monitor: str, patience: int, mode: str = "min", min_delta: float = 0.0, verbose: bool = False):
        if mode not in ("min", "max"):
            raise ValueError(f"early_stopping: mode must be 'min' or 'max', got {mode!r}")
        self.monitor, self.patience, self.mode, self.min_delta = monitor, int(patience), mode, float(min_delta)
        self.verbose = bool(verbose)
        self.best: float | None = None
        self.waited = 0

    def improves(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        if self.best is None:
            return True
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def update(self, metrics: dict) -> bool:
        """Record one evaluation's metrics; True when training should stop now.

        ``ValueError`` when the monitored metric is not among ``metrics``.
        """
        if self.monitor not in metrics:
            known = ", ".join(sorted(metrics))
            raise ValueError(f"early_stopping: monitored metric {self.monitor!r} is not logged; logged: {known}")
        value = float(metrics[self.monitor])
        if self.improves(value):
            self.best, self.waited = value, 0
        else:
            self.waited += 1
        stop = self.waited >= self.patience
        if stop and self.verbose:
            print_line(self.reason())
        return stop

    def reason(self) -> str:
        """Why training stops (the text of Lightning's ``EarlyStopping(verbose=True)``)."""
        best = "none" if self.best is None else f"{self.best:.3f}"
        return (
            f"Monitored metric {self.monitor} did not improve in the last {self.waited} records. "
            f"Best score: {best}. Signaling Trainer to stop."
        )

    def state_dict(self) -> dict:
        return {"best": self.best, "waited": self.waited}

    def load_state_dict(self, state: dict) -> None:
        self.best = None if state.get("best") is None else float(state["best"])
        self.waited = int(state.get("waited", 0))
