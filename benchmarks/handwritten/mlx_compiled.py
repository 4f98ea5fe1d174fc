"""Hand-written digits MLP in MLX: mlx.nn, mlx.optimizers and an mx.compile'd step over the
model and optimizer state.

    python benchmarks/handwritten/mlx_compiled.py --steps 600
"""

from __future__ import annotations

import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

import common


class Mlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear_0 = nn.Linear(64, common.HIDDEN)
        self.linear_1 = nn.Linear(common.HIDDEN, common.HIDDEN)
        self.linear_2 = nn.Linear(common.HIDDEN, common.CLASSES)

    def __call__(self, x):
        return self.linear_2(nn.relu(self.linear_1(nn.relu(self.linear_0(x)))))


def main() -> None:
    steps = common.parse_steps(__doc__.splitlines()[0])
    mx.random.seed(0)
    x, y = common.training_arrays()
    model = Mlp()
    optimizer = optim.Adam(learning_rate=common.LEARNING_RATE)
    mx.eval(model.parameters())

    def loss_fn(model, x, y):
        return nn.losses.cross_entropy(model(x), y, reduction="mean")

    loss_and_grad = nn.value_and_grad(model, loss_fn)
    state = [model.state, optimizer.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def train_step(x, y):
        loss, grads = loss_and_grad(model, x, y)
        optimizer.update(model, grads)
        return loss

    batch_rows = common.EpochBatches(len(x))
    half = steps // 2
    start = time.perf_counter()
    for step in range(steps):
        if step == half:
            start = time.perf_counter()
        rows = batch_rows(step)
        loss = train_step(mx.array(x[rows]), mx.array(y[rows]))
        mx.eval(state)
        if (step + 1) % common.LOG_EVERY == 0:
            loss.item()  # the loss reaches the host at log intervals only
    common.report(steps - half, time.perf_counter() - start)


if __name__ == "__main__":
    main()
