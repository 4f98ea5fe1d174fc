"""Hand-written digits MLP in flax.nnx + optax: a jitted functional step with donated state.

python benchmarks/handwritten/jax_nnx.py --steps 600
"""

from __future__ import annotations

import time

import jax
import numpy as np
import optax
from flax import nnx

import common


class Mlp(nnx.Module):
    def __init__(self, rngs: nnx.Rngs):
        self.linear_0 = nnx.Linear(64, common.HIDDEN, rngs=rngs)
        self.linear_1 = nnx.Linear(common.HIDDEN, common.HIDDEN, rngs=rngs)
        self.linear_2 = nnx.Linear(common.HIDDEN, common.CLASSES, rngs=rngs)

    def __call__(self, x):
        return self.linear_2(jax.nn.relu(self.linear_1(jax.nn.relu(self.linear_0(x)))))


def main() -> None:
    steps = common.parse_steps(__doc__.splitlines()[0])
    x, y = common.training_arrays()
    y = y.astype(np.int32)
    graphdef, params = nnx.split(Mlp(nnx.Rngs(0)))
    optimizer = optax.adam(common.LEARNING_RATE)
    opt_state = optimizer.init(params)

    def train_step(params, opt_state, x, y):
        def loss_fn(params):
            logits = nnx.merge(graphdef, params)(x)
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    train_step = jax.jit(train_step, donate_argnums=(0, 1))
    batch_rows = common.EpochBatches(len(x))
    half = steps // 2
    start = time.perf_counter()
    for step in range(steps):
        if step == half:
            loss.block_until_ready()
            start = time.perf_counter()
        rows = batch_rows(step)
        params, opt_state, loss = train_step(params, opt_state, x[rows], y[rows])
        if (step + 1) % common.LOG_EVERY == 0:
            float(loss)  # the loss reaches the host at log intervals only
    loss.block_until_ready()
    common.report(steps - half, time.perf_counter() - start)


if __name__ == "__main__":
    main()
