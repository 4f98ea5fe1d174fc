"""Shared pieces of the hand-written LM and conv-net benchmark scripts (not part of specc).

The two workloads are the specs benchmarks/specs/lm.mf and benchmarks/specs/conv.mf; each
hand-written script (``lm_*.py``, ``conv_*.py``) trains the same model with the same
optimizer (AdamW, global-norm clipping to 1.0, specc's ``warmup_cosine`` with
``warmup_from = "one"``), batch and data order as the script specc generates from the spec:

- LM: windows of 129 token ids of ``train.bin`` (uint16) drawn with replacement, batch b of
  epoch e from ``default_rng([0, 0, e, b, 2]).integers(0, n - 128, 16)`` (specc's token
  stream); the model reads the first 128 ids and predicts the last 128.
- conv: the ``train_x`` / ``train_y`` arrays of an ``.npz`` file; epoch e visits
  ``default_rng([0, e]).permutation(n)`` in batches of 32, the last partial one dropped.

``--weights FILE`` (an ``.npz`` of specc's initial arrays by the generated model's dotted
names, PyTorch layout, which steps_per_second.py writes) starts from the generated script's
initial weights; without it each script uses its framework's own initialisation.

Each script prints one JSON line: ``steps_per_s`` (the second half of the steps, after
compilation and warm-up), ``losses`` (the loss of each of the first ``--print-losses``
steps, read on the host; 0 by default so that timing is not disturbed) and ``last_loss``.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

REPOSITORY = Path(__file__).resolve().parents[2]
SEED = 0
LOG_EVERY = 50  # the loss is read on the host this often, as the specs' log_every

# benchmarks/specs/lm.mf
LM_DATA = REPOSITORY / "specs" / "examples" / "chars"
LM_BLOCK = 128
LM_WIDTH = 256
LM_LAYERS = 4
LM_HEADS = 4
LM_HIDDEN = 1024
LM_BATCH = 16
LM_LR, LM_DECAY, LM_WARMUP, LM_TOTAL, LM_MIN_RATIO = 2e-4, 0.05, 100, 1000, 0.1

# benchmarks/specs/conv.mf
CONV_CHANNELS = (32, 64)
CONV_FLAT = 6 * 6 * 64
CONV_CLASSES = 10
CONV_BATCH = 32
CONV_LR, CONV_DECAY, CONV_WARMUP, CONV_TOTAL, CONV_MIN_RATIO = (
    1e-3,
    0.01,
    100,
    1000,
    0.001,
)
GRAD_CLIP = 1.0
BETAS, EPSILON = (0.9, 0.999), 1e-8


def parse_arguments(
    description: str, data_default: Path | None = None
) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument(
        "--data", type=Path, default=data_default, required=data_default is None
    )
    parser.add_argument(
        "--weights", type=Path, help="initial arrays (.npz) by generated name"
    )
    parser.add_argument(
        "--print-losses", type=int, default=0, help="report the first N losses"
    )
    return parser.parse_args()


def report(
    steps_timed: int, seconds: float, losses: list[float], last_loss: float
) -> None:
    """Print the steady-state rate and the losses as the one JSON line the driver reads."""
    print(
        json.dumps(
            {
                "steps_per_s": steps_timed / seconds,
                "losses": losses,
                "last_loss": last_loss,
            }
        )
    )


def learning_rate(
    step: int, peak: float, warmup: int, total: int, min_ratio: float
) -> float:
    """specc's warmup_cosine: lr of update ``step`` (0-based)."""
    if step < warmup:
        return peak * (step + 1) / (warmup + 1)
    duration = max(1, total - warmup)
    progress = min(step - warmup, duration) / duration
    minimum = min_ratio * peak
    return minimum + (peak - minimum) * 0.5 * (1.0 + math.cos(math.pi * progress))


def traced_schedule(numpy_like, peak: float, warmup: int, total: int, min_ratio: float):
    """``learning_rate`` over a traced step counter (``numpy_like``: jax.numpy or mlx.core)."""
    duration = max(1, total - warmup)
    minimum = min_ratio * peak

    def schedule(step):
        step = step.astype(numpy_like.float32)
        rising = peak * (step + 1) / (warmup + 1)
        progress = (
            numpy_like.minimum(numpy_like.maximum(step - warmup, 0.0), duration)
            / duration
        )
        falling = minimum + (peak - minimum) * 0.5 * (
            1.0 + numpy_like.cos(math.pi * progress)
        )
        return numpy_like.where(step < warmup, rising, falling)

    return schedule


def lm_learning_rate(step):
    return learning_rate(step, LM_LR, LM_WARMUP, LM_TOTAL, LM_MIN_RATIO)


def conv_learning_rate(step):
    return learning_rate(step, CONV_LR, CONV_WARMUP, CONV_TOTAL, CONV_MIN_RATIO)


class TokenWindows:
    """nanoGPT's get_batch over a memory-mapped train.bin, in specc's draw order."""

    def __init__(self, folder: Path, block: int = LM_BLOCK, batch: int = LM_BATCH):
        self.tokens = np.memmap(Path(folder) / "train.bin", dtype=np.uint16, mode="r")
        self.length, self.batch = block + 1, batch
        self.per_epoch = max(1, (len(self.tokens) // self.length) // batch)
        self.vocab_size = json.loads((Path(folder) / "meta.json").read_text())[
            "vocab_size"
        ]

    def __call__(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        """(inputs, targets) int64 ``[batch, block]`` of training step ``step`` (0-based)."""
        epoch, index = divmod(step, self.per_epoch)
        generator = np.random.default_rng([SEED, 0, epoch, index, 2])
        starts = generator.integers(0, len(self.tokens) - self.length + 1, self.batch)
        rows = self.tokens[starts[:, None] + np.arange(self.length)].astype(np.int64)
        return rows[:, :-1], rows[:, 1:]


class ImageBatches:
    """Row batches of an in-memory training set, in specc's loader order."""

    def __init__(self, path: Path, batch: int = CONV_BATCH):
        with np.load(path) as arrays:
            self.x = arrays["train_x"].astype(
                np.float32
            )  # [N, 32, 32, 1], channels last
            self.y = arrays["train_y"].astype(np.int64)
        self.batch = batch
        self.per_epoch = len(self.y) // batch

    def rows(self, step: int) -> np.ndarray:
        epoch, index = divmod(step, self.per_epoch)
        order = np.random.default_rng([SEED, epoch]).permutation(len(self.y))
        return order[index * self.batch : (index + 1) * self.batch]

    def __call__(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        rows = self.rows(step)
        return self.x[rows], self.y[rows]


def load_weights(path: Path | None) -> dict[str, np.ndarray] | None:
    if path is None:
        return None
    with np.load(path) as arrays:
        return {name: arrays[name] for name in arrays.files}


def lm_weights(generated: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The generated LM's arrays under the hand-written names (PyTorch layout: Linear weights
    ``[out, in]``), query, key and value fused into one ``qkv`` projection as nanoGPT does."""
    named = {
        "token_embedding.weight": generated["embedding_0.weight"],
        "position_embedding.weight": generated["positional_embedding_0.weight"],
        "final_norm.weight": generated["layernorm_0.weight"],
        "final_norm.bias": generated["layernorm_0.bias"],
        "head.weight": generated["linear_0.weight"],
        "head.bias": generated["linear_0.bias"],
    }
    for layer in range(LM_LAYERS):
        block = f"repeat_0.{layer}.transformer_block_0."
        attention = block + "attention_0."
        for kind in ("weight", "bias"):
            named[f"blocks.{layer}.attention.qkv.{kind}"] = np.concatenate(
                [
                    generated[f"{attention}{part}.{kind}"]
                    for part in ("query", "key", "value")
                ]
            )
            named[f"blocks.{layer}.attention.out.{kind}"] = generated[
                f"{attention}out.{kind}"
            ]
            named[f"blocks.{layer}.attention_norm.{kind}"] = generated[
                f"{block}layernorm_0.{kind}"
            ]
            named[f"blocks.{layer}.mlp_norm.{kind}"] = generated[
                f"{block}layernorm_1.{kind}"
            ]
            named[f"blocks.{layer}.mlp.up.{kind}"] = generated[
                f"{block}feed_forward_0.linear_0.{kind}"
            ]
            named[f"blocks.{layer}.mlp.down.{kind}"] = generated[
                f"{block}feed_forward_0.linear_1.{kind}"
            ]
    return named


def conv_weights(
    generated: dict[str, np.ndarray], channels_first: bool
) -> dict[str, np.ndarray]:
    """The generated conv net's arrays (PyTorch layout: conv ``[out, in, kh, kw]``). The
    generated model flattens ``[B, 6, 6, 64]`` (channels last); a channels-first
    hand-written model flattens ``[B, 64, 6, 6]``, so its head's columns are reordered."""
    head = generated["linear_0.weight"]
    if channels_first:
        head = (
            head.reshape(CONV_CLASSES, 6, 6, 64)
            .transpose(0, 3, 1, 2)
            .reshape(CONV_CLASSES, -1)
        )
    return {
        "conv_0.weight": generated["conv2d_0.weight"],
        "conv_0.bias": generated["conv2d_0.bias"],
        "conv_1.weight": generated["conv2d_1.weight"],
        "conv_1.bias": generated["conv2d_1.bias"],
        "head.weight": np.ascontiguousarray(head),
        "head.bias": generated["linear_0.bias"],
    }
