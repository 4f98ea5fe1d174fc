"""Hand-written conv net in MLX (benchmarks/specs/conv.mf's model: conv 3x3 (32) + ReLU + max
pool 2, conv 3x3 (64) + ReLU + max pool 2, linear to 10 classes), channels-last as mlx.nn
writes convolutions; AdamW with a scheduled learning rate and an ``mx.compile``d step over
model and optimizer state.

    python benchmarks/handwritten/conv_mlx.py --data conv.npz --steps 600 [--weights W.npz]
"""

from __future__ import annotations

import time
from functools import partial

import mlx.core as mx
import mlx.optimizers as optim
import workloads as w
from mlx import nn
from mlx.utils import tree_unflatten


class ConvNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv_0 = nn.Conv2d(1, w.CONV_CHANNELS[0], 3)
        self.conv_1 = nn.Conv2d(w.CONV_CHANNELS[0], w.CONV_CHANNELS[1], 3)
        self.pool = nn.MaxPool2d(2, stride=2)
        self.head = nn.Linear(w.CONV_FLAT, w.CONV_CLASSES)

    def __call__(self, x):
        x = self.pool(nn.relu(self.conv_0(x)))
        x = self.pool(nn.relu(self.conv_1(x)))
        return self.head(x.reshape(x.shape[0], -1))


def main() -> None:
    arguments = w.parse_arguments(__doc__.splitlines()[0])
    mx.random.seed(w.SEED)
    batches = w.ImageBatches(arguments.data)
    model = ConvNet()
    weights = w.load_weights(arguments.weights)
    if weights is not None:  # mlx.nn's conv kernels are [out, kh, kw, in]
        arrays = w.conv_weights(weights, channels_first=False)
        for name in ("conv_0.weight", "conv_1.weight"):
            arrays[name] = arrays[name].transpose(0, 2, 3, 1)
        model.update(tree_unflatten([(k, mx.array(v)) for k, v in arrays.items()]))
    schedule = w.traced_schedule(
        mx, w.CONV_LR, w.CONV_WARMUP, w.CONV_TOTAL, w.CONV_MIN_RATIO
    )
    optimizer = optim.AdamW(  # bias_correction: Adam as torch and optax define it
        learning_rate=schedule,
        betas=list(w.BETAS),
        eps=w.EPSILON,
        weight_decay=w.CONV_DECAY,
        bias_correction=True,
    )
    mx.eval(model.parameters())

    def loss_fn(model, x, y):
        return nn.losses.cross_entropy(model(x), y, reduction="mean")

    loss_and_grad = nn.value_and_grad(model, loss_fn)
    state = [model.state, optimizer.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def train_step(x, y):
        loss, grads = loss_and_grad(model, x, y)
        grads, _ = optim.clip_grad_norm(grads, w.GRAD_CLIP)
        optimizer.update(model, grads)
        return loss

    half, losses, last = arguments.steps // 2, [], float("nan")
    start = time.perf_counter()
    for step in range(arguments.steps):
        if step == half:
            start = time.perf_counter()
        x, y = batches(step)
        loss = train_step(mx.array(x), mx.array(y))
        mx.eval(state)
        if step < arguments.print_losses:
            losses.append(loss.item())
        if (step + 1) % w.LOG_EVERY == 0:
            last = loss.item()  # the loss reaches the host at log intervals only
    w.report(arguments.steps - half, time.perf_counter() - start, losses, last)


if __name__ == "__main__":
    main()
