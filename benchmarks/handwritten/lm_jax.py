"""Hand-written causal transformer LM in flax.nnx + optax (benchmarks/specs/lm.mf's model):
a nanoGPT-style GPT (fused qkv projection, ``jax.nn.dot_product_attention``) trained by a
``jax.jit`` step over split nnx state that donates parameters and optimizer state.

    python benchmarks/handwritten/lm_jax.py --steps 600 [--weights W.npz]
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
import workloads as w
from flax import nnx


class CausalSelfAttention(nnx.Module):
    def __init__(self, rngs: nnx.Rngs):
        self.qkv = nnx.Linear(w.LM_WIDTH, 3 * w.LM_WIDTH, rngs=rngs)
        self.out = nnx.Linear(w.LM_WIDTH, w.LM_WIDTH, rngs=rngs)

    def __call__(self, x):
        batch, length, width = x.shape
        q, k, v = (
            part.reshape(batch, length, w.LM_HEADS, width // w.LM_HEADS)
            for part in jnp.split(self.qkv(x), 3, axis=-1)
        )
        y = jax.nn.dot_product_attention(q, k, v, is_causal=True)
        return self.out(y.reshape(batch, length, width))


class MLP(nnx.Module):
    def __init__(self, rngs: nnx.Rngs):
        self.up = nnx.Linear(w.LM_WIDTH, w.LM_HIDDEN, rngs=rngs)
        self.down = nnx.Linear(w.LM_HIDDEN, w.LM_WIDTH, rngs=rngs)

    def __call__(self, x):
        return self.down(jax.nn.gelu(self.up(x), approximate=False))


class Block(nnx.Module):
    def __init__(self, rngs: nnx.Rngs):
        self.attention_norm = nnx.LayerNorm(w.LM_WIDTH, epsilon=1e-5, rngs=rngs)
        self.attention = CausalSelfAttention(rngs)
        self.mlp_norm = nnx.LayerNorm(w.LM_WIDTH, epsilon=1e-5, rngs=rngs)
        self.mlp = MLP(rngs)

    def __call__(self, x):
        x = x + self.attention(self.attention_norm(x))
        return x + self.mlp(self.mlp_norm(x))


class GPT(nnx.Module):
    def __init__(self, vocab_size: int, rngs: nnx.Rngs):
        self.token_embedding = nnx.Embed(vocab_size, w.LM_WIDTH, rngs=rngs)
        self.position_embedding = nnx.Embed(w.LM_BLOCK, w.LM_WIDTH, rngs=rngs)
        self.blocks = nnx.List([Block(rngs) for _ in range(w.LM_LAYERS)])
        self.final_norm = nnx.LayerNorm(w.LM_WIDTH, epsilon=1e-5, rngs=rngs)
        self.head = nnx.Linear(w.LM_WIDTH, vocab_size, rngs=rngs)

    def __call__(self, tokens):
        x = self.token_embedding(tokens) + self.position_embedding(
            jnp.arange(tokens.shape[1])
        )
        for block in self.blocks:
            x = block(x)
        return self.head(self.final_norm(x))


def load(model: nnx.Module, arrays: dict[str, np.ndarray]) -> None:
    """PyTorch-layout arrays into nnx parameters (Linear kernels are ``[in, out]``)."""
    for path, variable in nnx.iter_graph(model):
        if not isinstance(variable, nnx.Param):
            continue
        owner, kind = ".".join(str(part) for part in path[:-1]), path[-1]
        name = {"kernel": "weight", "scale": "weight", "embedding": "weight"}.get(
            kind, kind
        )
        value = arrays[f"{owner}.{name}"]
        variable.value = jnp.asarray(value.T if kind == "kernel" else value)


def main() -> None:
    arguments = w.parse_arguments(__doc__.splitlines()[0], w.LM_DATA)
    windows = w.TokenWindows(arguments.data)
    model = GPT(windows.vocab_size, nnx.Rngs(w.SEED))
    weights = w.load_weights(arguments.weights)
    if weights is not None:
        load(model, w.lm_weights(weights))
    graphdef, params = nnx.split(model)
    schedule = w.traced_schedule(jnp, w.LM_LR, w.LM_WARMUP, w.LM_TOTAL, w.LM_MIN_RATIO)
    optimizer = optax.chain(
        optax.clip_by_global_norm(w.GRAD_CLIP),
        optax.adamw(
            schedule,
            b1=w.BETAS[0],
            b2=w.BETAS[1],
            eps=w.EPSILON,
            weight_decay=w.LM_DECAY,
        ),
    )
    opt_state = optimizer.init(params)

    def train_step(params, opt_state, inputs, targets):
        def loss_fn(params):
            logits = nnx.merge(graphdef, params)(inputs)
            return optax.softmax_cross_entropy_with_integer_labels(
                logits, targets
            ).mean()

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
        inputs, targets = windows(step)
        params, opt_state, loss = train_step(
            params, opt_state, inputs.astype(np.int32), targets.astype(np.int32)
        )
        if step < arguments.print_losses:
            losses.append(float(loss))
        if (step + 1) % w.LOG_EVERY == 0:
            last = float(loss)  # the loss reaches the host at log intervals only
    jax.block_until_ready(params)
    w.report(arguments.steps - half, time.perf_counter() - start, losses, last)


if __name__ == "__main__":
    main()
