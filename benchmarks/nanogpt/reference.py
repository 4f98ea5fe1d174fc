"""nanoGPT's character-level configuration as one hand-written PyTorch script: the reference
that specs/examples/nanogpt_char.mf is held against (benchmarks/nanogpt_speed.py).

    python benchmarks/nanogpt/reference.py DATA_DIR [--seed 1337] [--threads 1] [--max-steps 1000]

DATA_DIR holds train.bin and val.bin (uint16 token ids) and meta.json ({"vocab_size": N, ...}),
as specs/examples/prepare_chars.py writes them.

The model is nanoGPT's GPT (model.py) written anew: token and position embeddings, pre-norm
blocks of causal self-attention (``F.scaled_dot_product_attention``) and a 4x GELU MLP, a final
LayerNorm and an output head tied to the token embedding; LayerNorm and linear layers carry
biases only when ``BIAS``; weights start at N(0, 0.02), the residual projections at
N(0, 0.02 / sqrt(2 n_layer)), biases at zero. Training is nanoGPT's train.py with the
configuration below: AdamW whose weight decay applies to tensors of rank >= 2 only, a linear
warmup ``lr (it + 1) / (warmup + 1)`` then a cosine to ``MIN_LR`` at ``LR_DECAY_STEPS``,
gradients clipped to norm 1, batches of random windows of ``BLOCK_SIZE + 1`` tokens drawn with
replacement from train.bin. Validation loss is the mean over ``EVAL_BATCHES`` batches of
windows of val.bin drawn once, so successive evaluations compare.

Output: ``parameters: N``, then ``step S val_loss X`` at each evaluation (every
``--eval-every`` steps and at the last step), then ``steps_per_s R``: training steps per second
over the steps after the first ``WARMUP_TIMING`` (evaluation excluded).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

# model (nanoGPT config/train_shakespeare_char.py, shrunk for a CPU as in its README)
BLOCK_SIZE = 64
N_LAYER = 4
N_HEAD = 4
N_EMBD = 128
DROPOUT = 0.0
BIAS = False
INIT_STD = 0.02

# training
BATCH_SIZE = 32
LEARNING_RATE = 1e-3
BETAS = (0.9, 0.99)
WEIGHT_DECAY = 0.1
WARMUP_STEPS = 100
LR_DECAY_STEPS = 1000
MIN_LR = 1e-4
GRAD_CLIP = 1.0
MAX_STEPS = 1000
EVAL_EVERY = 250
EVAL_BATCHES = 20  # nanoGPT's eval_iters
LOG_EVERY = 10  # the loss is read on the host this often, as the spec's log_every
SEED = 1337
WARMUP_TIMING = 10  # the first steps are not timed


@dataclass(frozen=True)
class GPTConfig:
    vocab_size: int
    block_size: int = BLOCK_SIZE
    n_layer: int = N_LAYER
    n_head: int = N_HEAD
    n_embd: int = N_EMBD
    dropout: float = DROPOUT
    bias: bool = BIAS


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.heads, self.dropout = config.n_head, config.dropout
        self.qkv = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.proj.residual = True  # scaled initialisation
        self.out_dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, width = x.shape
        q, k, v = (
            part.view(batch, length, self.heads, width // self.heads).transpose(1, 2)
            for part in self.qkv(x).split(width, dim=2)
        )
        y = F.scaled_dot_product_attention(
            q, k, v, dropout_p=self.dropout if self.training else 0.0, is_causal=True
        )
        y = y.transpose(1, 2).reshape(batch, length, width)
        return self.out_dropout(self.proj(y))


class MLP(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.up = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.down = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.down.residual = True
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.down(F.gelu(self.up(x))))


class Block(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.attention_norm = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attention = CausalSelfAttention(config)
        self.mlp_norm = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(self.attention_norm(x))
        return x + self.mlp(self.mlp_norm(x))


class GPT(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.token_embedding = nn.Embedding(config.vocab_size, config.n_embd)
        self.position_embedding = nn.Embedding(config.block_size, config.n_embd)
        self.dropout = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.final_norm = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.head.weight = self.token_embedding.weight  # tied: one tensor, two uses
        self.apply(self._initialise)

    def _initialise(self, module: nn.Module) -> None:
        """GPT-2: N(0, 0.02) weights, zero biases, N(0, 0.02 / sqrt(2 n_layer)) on the two
        projections that write into the residual stream (LayerNorms keep ones and zeros)."""
        if isinstance(module, nn.Linear):
            residual = getattr(module, "residual", False)
            std = INIT_STD / math.sqrt(2 * self.config.n_layer) if residual else INIT_STD
            nn.init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=INIT_STD)

    def forward(self, tokens: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The mean cross-entropy of the next-token predictions."""
        positions = torch.arange(tokens.shape[1], device=tokens.device)
        x = self.dropout(
            self.token_embedding(tokens) + self.position_embedding(positions)
        )
        for block in self.blocks:
            x = block(x)
        logits = self.head(self.final_norm(x))
        return F.cross_entropy(logits.flatten(0, 1), targets.flatten())


def make_optimizer(model: nn.Module) -> torch.optim.AdamW:
    """AdamW with weight decay on the matrices (and embeddings) only: two parameter groups."""
    parameters = list(model.parameters())  # a tied tensor once
    groups = [
        {"params": [p for p in parameters if p.dim() >= 2], "weight_decay": WEIGHT_DECAY},
        {"params": [p for p in parameters if p.dim() < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=LEARNING_RATE, betas=BETAS)


def learning_rate(step: int) -> float:
    """The lr of update ``step`` (0-based): nanoGPT's warmup, then cosine to MIN_LR."""
    if step < WARMUP_STEPS:
        return LEARNING_RATE * (step + 1) / (WARMUP_STEPS + 1)
    if step > LR_DECAY_STEPS:
        return MIN_LR
    progress = (step - WARMUP_STEPS) / (LR_DECAY_STEPS - WARMUP_STEPS)
    return MIN_LR + 0.5 * (1.0 + math.cos(math.pi * progress)) * (LEARNING_RATE - MIN_LR)


class Windows:
    """Windows of ``block_size + 1`` consecutive ids of one token file (a read-only memory map)."""

    def __init__(self, path: Path, block_size: int):
        self.tokens = np.memmap(path, dtype=np.uint16, mode="r")
        self.length = block_size + 1
        if len(self.tokens) < self.length:
            raise SystemExit(f"{path} holds {len(self.tokens)} tokens, fewer than {self.length}")

    def starts(self, generator: np.random.Generator, count: int) -> np.ndarray:
        """``count`` start offsets drawn uniformly with replacement."""
        return generator.integers(0, len(self.tokens) - self.length + 1, size=count)

    def batch(self, starts: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """(inputs, targets) ``[len(starts), block_size]`` int64: a window and its shift by one."""
        rows = self.tokens[starts[:, None] + np.arange(self.length)].astype(np.int64)
        rows = torch.from_numpy(rows)
        return rows[:, :-1], rows[:, 1:]


@torch.no_grad()
def evaluate(model: GPT, windows: Windows, batches: list[np.ndarray]) -> float:
    model.eval()
    losses = [model(*windows.batch(starts)).item() for starts in batches]
    model.train()
    return sum(losses) / len(losses)


def parse_arguments(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="folder of train.bin, val.bin and meta.json")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    parser.add_argument("--max-steps", type=int, default=MAX_STEPS)
    parser.add_argument("--eval-every", type=int, default=EVAL_EVERY)
    parser.add_argument("--print-every", type=int, default=100, help="training loss lines")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    arguments = parse_arguments(argv)
    torch.set_num_threads(arguments.threads)
    torch.manual_seed(arguments.seed)
    meta = json.loads((arguments.data / "meta.json").read_text(encoding="utf-8"))
    model = GPT(GPTConfig(vocab_size=meta["vocab_size"]))
    optimizer = make_optimizer(model)
    train = Windows(arguments.data / "train.bin", BLOCK_SIZE)
    val = Windows(arguments.data / "val.bin", BLOCK_SIZE)
    train_draws = np.random.default_rng([arguments.seed, 0])
    eval_batches = list(
        val.starts(np.random.default_rng([arguments.seed, 1]), EVAL_BATCHES * BATCH_SIZE)
        .reshape(EVAL_BATCHES, BATCH_SIZE)
    )
    print(f"parameters: {sum(p.numel() for p in model.parameters()):,}", flush=True)

    timed_steps, timed_seconds = 0, 0.0
    for step in range(arguments.max_steps):
        started = time.perf_counter()
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step)
        loss = model(*train.batch(train.starts(train_draws, BATCH_SIZE)))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), GRAD_CLIP)
        optimizer.step()
        done = step + 1
        if done % LOG_EVERY == 0:
            value = loss.item()
            if done % arguments.print_every == 0:
                print(f"iter {done} loss {value:.4f}", flush=True)
        if step >= WARMUP_TIMING:
            timed_steps += 1
            timed_seconds += time.perf_counter() - started
        if done % arguments.eval_every == 0 or done == arguments.max_steps:
            print(f"step {done} val_loss {evaluate(model, val, eval_batches):.4f}", flush=True)
    if timed_steps:
        print(f"steps_per_s {timed_steps / timed_seconds:.2f}")


if __name__ == "__main__":
    sys.exit(main())
