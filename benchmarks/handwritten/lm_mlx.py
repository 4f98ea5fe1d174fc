"""Hand-written causal transformer LM in MLX (benchmarks/specs/lm.mf's model): mlx.nn, a
nanoGPT-style GPT (fused qkv projection, ``mx.fast.scaled_dot_product_attention``), AdamW
with a scheduled learning rate, and an ``mx.compile``d step over model and optimizer state.

    python benchmarks/handwritten/lm_mlx.py --steps 600 [--weights W.npz]
"""

from __future__ import annotations

import math
import time
from functools import partial

import mlx.core as mx
import mlx.optimizers as optim
import workloads as w
from mlx import nn
from mlx.utils import tree_unflatten


class CausalSelfAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.qkv = nn.Linear(w.LM_WIDTH, 3 * w.LM_WIDTH)
        self.out = nn.Linear(w.LM_WIDTH, w.LM_WIDTH)
        self.scale = 1.0 / math.sqrt(w.LM_WIDTH // w.LM_HEADS)

    def __call__(self, x):
        batch, length, width = x.shape
        q, k, v = (
            part.reshape(batch, length, w.LM_HEADS, -1).transpose(0, 2, 1, 3)
            for part in mx.split(self.qkv(x), 3, axis=-1)
        )
        y = mx.fast.scaled_dot_product_attention(
            q, k, v, scale=self.scale, mask="causal"
        )
        return self.out(y.transpose(0, 2, 1, 3).reshape(batch, length, width))


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.up = nn.Linear(w.LM_WIDTH, w.LM_HIDDEN)
        self.down = nn.Linear(w.LM_HIDDEN, w.LM_WIDTH)

    def __call__(self, x):
        return self.down(nn.gelu(self.up(x)))


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.attention_norm = nn.LayerNorm(w.LM_WIDTH)
        self.attention = CausalSelfAttention()
        self.mlp_norm = nn.LayerNorm(w.LM_WIDTH)
        self.mlp = MLP()

    def __call__(self, x):
        x = x + self.attention(self.attention_norm(x))
        return x + self.mlp(self.mlp_norm(x))


class GPT(nn.Module):
    def __init__(self, vocab_size: int):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab_size, w.LM_WIDTH)
        self.position_embedding = nn.Embedding(w.LM_BLOCK, w.LM_WIDTH)
        self.blocks = [Block() for _ in range(w.LM_LAYERS)]
        self.final_norm = nn.LayerNorm(w.LM_WIDTH)
        self.head = nn.Linear(w.LM_WIDTH, vocab_size)

    def __call__(self, tokens):
        x = self.token_embedding(tokens) + self.position_embedding(
            mx.arange(tokens.shape[1])
        )
        for block in self.blocks:
            x = block(x)
        return self.head(self.final_norm(x))


def main() -> None:
    arguments = w.parse_arguments(__doc__.splitlines()[0], w.LM_DATA)
    mx.random.seed(w.SEED)
    windows = w.TokenWindows(arguments.data)
    model = GPT(windows.vocab_size)
    weights = w.load_weights(arguments.weights)
    if weights is not None:  # mlx.nn stores Linear weights [out, in], like PyTorch
        model.update(
            tree_unflatten([(k, mx.array(v)) for k, v in w.lm_weights(weights).items()])
        )
    schedule = w.traced_schedule(mx, w.LM_LR, w.LM_WARMUP, w.LM_TOTAL, w.LM_MIN_RATIO)
    optimizer = optim.AdamW(  # bias_correction: Adam as torch and optax define it
        learning_rate=schedule,
        betas=list(w.BETAS),
        eps=w.EPSILON,
        weight_decay=w.LM_DECAY,
        bias_correction=True,
    )
    mx.eval(model.parameters())

    def loss_fn(model, inputs, targets):
        return nn.losses.cross_entropy(model(inputs), targets, reduction="mean")

    loss_and_grad = nn.value_and_grad(model, loss_fn)
    state = [model.state, optimizer.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def train_step(inputs, targets):
        loss, grads = loss_and_grad(model, inputs, targets)
        grads, _ = optim.clip_grad_norm(grads, w.GRAD_CLIP)
        optimizer.update(model, grads)
        return loss

    half, losses, last = arguments.steps // 2, [], float("nan")
    start = time.perf_counter()
    for step in range(arguments.steps):
        if step == half:
            start = time.perf_counter()
        inputs, targets = windows(step)
        loss = train_step(mx.array(inputs), mx.array(targets))
        mx.eval(state)
        if step < arguments.print_losses:
            losses.append(loss.item())
        if (step + 1) % w.LOG_EVERY == 0:
            last = loss.item()  # the loss reaches the host at log intervals only
    w.report(arguments.steps - half, time.perf_counter() - start, losses, last)


if __name__ == "__main__":
    main()
