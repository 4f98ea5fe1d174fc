"""A simple stdlib progress line on stderr (only when stderr is a terminal, unless forced)."""

from __future__ import annotations

import sys
import time


class ProgressBar:
    """``step 120/1000 [====      ] 12.0% 85.3 steps/s loss 0.4123``, redrawn in place."""

    def __init__(self, total: int | None, width: int = 30, stream=None, enabled: bool | None = None):
        self.total, self.width = total, width
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.started = time.time()

    def update(self, step: int, values: dict | None = None) -> None:
        if not self.enabled:
            return
        parts = [f"step {step}" + (f"/{self.total}" if self.total else "")]
        if self.total:
            filled = int(self.width * min(step, self.total) / self.total)
            parts.append("[" + "=" * filled + " " * (self.width - filled) + "]")
            parts.append(f"{100.0 * step / self.total:5.1f}%")
        for name, value in (values or {}).items():
            parts.append(f"{name} {value:.4g}")
        self.stream.write("\r" + " ".join(parts))
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()
