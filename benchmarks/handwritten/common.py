"""Shared pieces of the hand-written digits-MLP benchmark scripts (not part of specc).

Every script trains 64 -> 128 relu -> 128 relu -> 10 with adam(1e-3) and batch 64 on the
training part of scikit-learn's 8x8 digits (70% of the 1797 images, like specc's default
split: 19 full batches per epoch, the last partial batch dropped), and prints one JSON line
``{"steps_per_s": R}`` where R is the steady-state rate: the second half of the steps, after
compilation and warm-up.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

BATCH_SIZE = 64
LEARNING_RATE = 1e-3
HIDDEN = 128
CLASSES = 10
TRAIN_FRACTION = 0.7
LOG_EVERY = 50  # the loss is read on the host this often, as the spec's log_every


def training_arrays(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(x f32[N, 64] scaled to [0, 1], y i64[N]) of a seeded 70% training split."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    order = np.random.default_rng(seed).permutation(len(digits.target))
    rows = order[: int(len(order) * TRAIN_FRACTION)]
    return (digits.data[rows] / 16.0).astype(np.float32), digits.target[rows].astype(
        np.int64
    )


def parse_steps(description: str) -> int:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--steps", type=int, default=600)
    return parser.parse_args().steps


def report(steps_timed: int, seconds: float) -> None:
    """Print the steady-state rate as the one JSON line the driver reads."""
    print(json.dumps({"steps_per_s": steps_timed / seconds}))


class EpochBatches:
    """Row indices of each batch: a fresh seeded permutation per epoch, last partial dropped."""

    def __init__(self, rows: int, batch_size: int = BATCH_SIZE, seed: int = 0):
        self.rows, self.batch_size, self.seed = rows, batch_size, seed
        self.per_epoch = rows // batch_size

    def __call__(self, step: int) -> np.ndarray:
        epoch, position = divmod(step, self.per_epoch)
        order = np.random.default_rng([self.seed, epoch]).permutation(self.rows)
        return order[position * self.batch_size : (position + 1) * self.batch_size]
