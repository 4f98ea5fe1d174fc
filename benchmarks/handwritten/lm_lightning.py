"""Hand-written causal transformer LM in PyTorch Lightning (benchmarks/specs/lm.mf's model):
a nanoGPT-style GPT (fused qkv projection, ``F.scaled_dot_product_attention``), a plain
LightningModule and Trainer (clipping by the Trainer, AdamW + LambdaLR), token windows from a
DataLoader over an IterableDataset, logging, checkpointing and the progress bar off.

    python benchmarks/handwritten/lm_lightning.py --steps 600 [--weights W.npz]
"""

from __future__ import annotations

import time

import lightning.pytorch as pl
import torch
import workloads as w
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, IterableDataset


class CausalSelfAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.qkv = nn.Linear(w.LM_WIDTH, 3 * w.LM_WIDTH)
        self.out = nn.Linear(w.LM_WIDTH, w.LM_WIDTH)

    def forward(self, x):
        batch, length, width = x.shape
        q, k, v = (
            part.view(batch, length, w.LM_HEADS, width // w.LM_HEADS).transpose(1, 2)
            for part in self.qkv(x).split(width, dim=2)
        )
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.out(y.transpose(1, 2).reshape(batch, length, width))


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.up = nn.Linear(w.LM_WIDTH, w.LM_HIDDEN)
        self.down = nn.Linear(w.LM_HIDDEN, w.LM_WIDTH)

    def forward(self, x):
        return self.down(F.gelu(self.up(x)))


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.attention_norm = nn.LayerNorm(w.LM_WIDTH)
        self.attention = CausalSelfAttention()
        self.mlp_norm = nn.LayerNorm(w.LM_WIDTH)
        self.mlp = MLP()

    def forward(self, x):
        x = x + self.attention(self.attention_norm(x))
        return x + self.mlp(self.mlp_norm(x))


class GPT(nn.Module):
    def __init__(self, vocab_size: int):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab_size, w.LM_WIDTH)
        self.position_embedding = nn.Embedding(w.LM_BLOCK, w.LM_WIDTH)
        self.blocks = nn.ModuleList(Block() for _ in range(w.LM_LAYERS))
        self.final_norm = nn.LayerNorm(w.LM_WIDTH)
        self.head = nn.Linear(w.LM_WIDTH, vocab_size)

    def forward(self, tokens):
        positions = torch.arange(tokens.shape[1], device=tokens.device)
        x = self.token_embedding(tokens) + self.position_embedding(positions)
        for block in self.blocks:
            x = block(x)
        return self.head(self.final_norm(x))


class LanguageModel(pl.LightningModule):
    def __init__(self, vocab_size: int):
        super().__init__()
        self.model = GPT(vocab_size)

    def training_step(self, batch, batch_index):
        inputs, targets = batch
        logits = self.model(inputs)
        return F.cross_entropy(logits.flatten(0, 1), targets.flatten())

    def configure_optimizers(self):
        optimizer = torch.optim.AdamW(
            self.parameters(),
            lr=w.LM_LR,
            betas=w.BETAS,
            eps=w.EPSILON,
            weight_decay=w.LM_DECAY,
        )
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: w.lm_learning_rate(step) / w.LM_LR
        )
        return [optimizer], [{"scheduler": schedule, "interval": "step"}]


class Windows(IterableDataset):
    """The batches of steps 0, 1, 2, ... (each already a batch: DataLoader(batch_size=None))."""

    def __init__(self, windows: w.TokenWindows, steps: int):
        self.windows, self.steps = windows, steps

    def __iter__(self):
        for step in range(self.steps):
            inputs, targets = self.windows(step)
            yield torch.from_numpy(inputs), torch.from_numpy(targets)


class Timer(pl.Callback):
    """Wall time of the second half of the steps; the loss on the host at log steps."""

    def __init__(self, steps: int, print_losses: int):
        self.half, self.start, self.print_losses = steps // 2, None, print_losses
        self.losses, self.last = [], float("nan")

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_index):
        step = trainer.global_step
        if step <= self.print_losses:
            self.losses.append(outputs["loss"].item())
        if step % w.LOG_EVERY == 0:
            self.last = outputs[
                "loss"
            ].item()  # the loss reaches the host at log intervals only
        if step == self.half:
            self.start = time.perf_counter()

    def on_train_end(self, trainer, module):
        seconds = time.perf_counter() - self.start
        w.report(trainer.global_step - self.half, seconds, self.losses, self.last)


def main() -> None:
    arguments = w.parse_arguments(__doc__.splitlines()[0], w.LM_DATA)
    torch.manual_seed(w.SEED)
    windows = w.TokenWindows(arguments.data)
    module = LanguageModel(windows.vocab_size)
    weights = w.load_weights(arguments.weights)
    if weights is not None:
        module.model.load_state_dict(
            {k: torch.from_numpy(v) for k, v in w.lm_weights(weights).items()}
        )
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=1,
        max_steps=arguments.steps,
        gradient_clip_val=w.GRAD_CLIP,
        gradient_clip_algorithm="norm",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        callbacks=[Timer(arguments.steps, arguments.print_losses)],
    )
    loader = DataLoader(Windows(windows, arguments.steps), batch_size=None)
    trainer.fit(module, train_dataloaders=loader)


if __name__ == "__main__":
    main()
