"""Hand-written conv net in flax.nnx + optax (benchmarks/specs/conv.mf's model: conv 3x3 (32)
+ ReLU + max pool 2, conv 3x3 (64) + ReLU + max pool 2, linear to 10 classes), channels-last
as flax writes convolutions; a ``jax.jit`` step over split nnx state that donates parameters
and optimizer state.

    python benchmarks/handwritten/conv_jax.py --data conv.npz --steps 600 [--weights W.npz]
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import optax
import workloads as w
from flax import nnx


class ConvNet(nnx.Module):
    def __init__(self, rngs: nnx.Rngs):
        self.conv_0 = nnx.Conv(
            1, w.CONV_CHANNELS[0], (3, 3), padding="VALID", rngs=rngs
        )
        self.conv_1 = nnx.Conv(
            w.CONV_CHANNELS[0], w.CONV_CHANNELS[1], (3, 3), padding="VALID", rngs=rngs
        )
        self.head = nnx.Linear(w.CONV_FLAT, w.CONV_CLASSES, rngs=rngs)

    def __call__(self, x):
        x = nnx.max_pool(jax.nn.relu(self.conv_0(x)), (2, 2), strides=(2, 2))
        x = nnx.max_pool(jax.nn.relu(self.conv_1(x)), (2, 2), strides=(2, 2))
        return self.head(x.reshape(x.shape[0], -1))


def load(model: ConvNet, arrays) -> None:
    """PyTorch-layout arrays into flax's (conv kernels ``[kh, kw, in, out]``, Linear ``[in, out]``)."""
    for name in ("conv_0", "conv_1"):
        layer = getattr(model, name)
        layer.kernel.value = jnp.asarray(arrays[f"{name}.weight"].transpose(2, 3, 1, 0))
        layer.bias.value = jnp.asarray(arrays[f"{name}.bias"])
    model.head.kernel.value = jnp.asarray(arrays["head.weight"].T)
    model.head.bias.value = jnp.asarray(arrays["head.bias"])


def main() -> None:
    arguments = w.parse_arguments(__doc__.splitlines()[0])
    batches = w.ImageBatches(arguments.data)
    model = ConvNet(nnx.Rngs(w.SEED))
    weights = w.load_weights(arguments.weights)
    if weights is not None:
        load(model, w.conv_weights(weights, channels_first=False))
    graphdef, params = nnx.split(model)
    schedule = w.traced_schedule(
        jnp, w.CONV_LR, w.CONV_WARMUP, w.CONV_TOTAL, w.CONV_MIN_RATIO
    )
    optimizer = optax.chain(
        optax.clip_by_global_norm(w.GRAD_CLIP),
        optax.adamw(
            schedule,
            b1=w.BETAS[0],
            b2=w.BETAS[1],
            eps=w.EPSILON,
            weight_decay=w.CONV_DECAY,
        ),
    )
    opt_state = optimizer.init(params)

    def train_step(params, opt_state, x, y):
        def loss_fn(params):
            logits = nnx.merge(graphdef, params)(x)
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    train_step = jax.jit(train_step, donate_argnums=(0, 1))
    half, losses, last = arguments.steps // 2, [], float("nan")
    start = time.perf_counter()
    for step in range(arguments.steps):
        if step == half:
            jax.block_until_ready(params)
            start = time.perf_counter()
        x, y = batches(step)
        params, opt_state, loss = train_step(params, opt_state, x, y.astype("int32"))
        if step < arguments.print_losses:
            losses.append(float(loss))
        if (step + 1) % w.LOG_EVERY == 0:
            last = float(loss)  # the loss reaches the host at log intervals only
    jax.block_until_ready(params)
    w.report(arguments.steps - half, time.perf_counter() - start, losses, last)


if __name__ == "__main__":
    main()
