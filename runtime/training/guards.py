"""Loop guards: non-finite losses and means between log rows (data shapes are checked by
``specc.runtime.data.check_fields`` before step 1)."""

from __future__ import annotations


class NonFiniteLoss(RuntimeError):
    """Raised by a script when the device flag reports a non-finite loss."""

    def __init__(self, step: int, checkpoint=None):
        kept = f"; the last good checkpoint is {checkpoint}" if checkpoint else "; no checkpoint was written"
        super().__init__(f"the loss is not finite at step {step}: stopping the run{kept}")
        self.step = step


def first_bad_step(flag) -> int | None:
    """The step number a device flag holds (``-1`` or less means none), as a host int."""
    value = int(flag)
    return None if value < 0 else value


class MeanTracker:
    """Sums values between log rows without a host sync (``+`` on device arrays is lazy);
    ``means()`` syncs once and resets."""

    def __init__(self):
        self.sums: dict = {}
        self.count = 0

    def add(self, values: dict) -> None:
        for name, value in values.items():
            self.sums[name] = value if name not in self.sums else self.sums[name] + value
        self.count += 1

    def means(self) -> dict[str, float]:
        result = {name: float(total) / max(1, self.count) for name, total in self.sums.items()}
        self.sums, self.count = {}, 0
        return result
