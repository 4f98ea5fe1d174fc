"""Optional loggers beside metrics.csv; each framework import happens lazily."""

from __future__ import annotations

from pathlib import Path


class TensorBoardLogger:
    """Scalars under ``<run>/tensorboard`` as ``split/name`` (tensorboard's SummaryWriter)."""

    def __init__(self, run_dir):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as error:
            raise SystemExit(
                "the tensorboard logger needs `tensorboard` and `torch` installed (pip install tensorboard torch)"
            ) from error
        self.writer = SummaryWriter(log_dir=str(Path(run_dir) / "tensorboard"))

    def write_many(self, step: int, epoch: int, split: str, values: dict) -> None:
        for name in sorted(values):
            self.writer.add_scalar(f"{split}/{name}", float(values[name]), int(step))

    def close(self) -> None:
        self.writer.flush()
        self.writer.close()


LOGGERS = {"tensorboard": TensorBoardLogger}


def make_loggers(kinds, run_dir) -> list:
    """Loggers other than csv (which is always on); unknown kinds are a ValueError."""
    made = []
    for kind in kinds:
        if kind == "csv":
            continue
        if kind not in LOGGERS:
            raise ValueError(f"logger {kind!r} is not available in this runtime; available: csv, {', '.join(LOGGERS)}")
        made.append(LOGGERS[kind](run_dir))
    return made
