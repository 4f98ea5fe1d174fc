"""Digits MLP in Keras 3 with ``model.fit`` (verbose=0); the backend comes from KERAS_BACKEND
(jax or torch), which must be set before keras is imported.

    KERAS_BACKEND=jax python benchmarks/handwritten/keras_fit.py --steps 600
"""

from __future__ import annotations

import math
import time

import keras

import common


class HalfwayTimer(keras.callbacks.Callback):
    """Wall time of the second half of the steps (the first half is warm-up)."""

    def __init__(self, steps: int, per_epoch: int):
        super().__init__()
        self.half, self.per_epoch, self.epoch, self.start = (
            steps // 2,
            per_epoch,
            0,
            None,
        )
        self.steps = steps

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.epoch * self.per_epoch + batch + 1 == self.half:
            self.start = time.perf_counter()

    def on_train_end(self, logs=None):
        common.report(self.steps - self.half, time.perf_counter() - self.start)


def main() -> None:
    steps = common.parse_steps(__doc__.splitlines()[0])
    keras.utils.set_random_seed(0)
    x, y = common.training_arrays()
    per_epoch = len(x) // common.BATCH_SIZE
    x, y = (
        x[: per_epoch * common.BATCH_SIZE],
        y[: per_epoch * common.BATCH_SIZE],
    )  # drop_last
    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(common.HIDDEN, activation="relu"),
            keras.layers.Dense(common.HIDDEN, activation="relu"),
            keras.layers.Dense(common.CLASSES),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(common.LEARNING_RATE),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    epochs = math.ceil(steps / per_epoch)
    model.fit(
        x,
        y,
        batch_size=common.BATCH_SIZE,
        epochs=epochs,
        shuffle=True,
        verbose=0,
        callbacks=[HalfwayTimer(epochs * per_epoch, per_epoch)],
    )


if __name__ == "__main__":
    main()
