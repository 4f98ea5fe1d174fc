"""Hand-written digits MLP in PyTorch Lightning: a plain LightningModule and Trainer over a
DataLoader of tensors, with logging, checkpointing and the progress bar off.

    python benchmarks/handwritten/lightning_plain.py --steps 600
"""

from __future__ import annotations

import time

import lightning.pytorch as pl
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import common


class Classifier(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.model = nn.Sequential(
            nn.Linear(64, common.HIDDEN),
            nn.ReLU(),
            nn.Linear(common.HIDDEN, common.HIDDEN),
            nn.ReLU(),
            nn.Linear(common.HIDDEN, common.CLASSES),
        )

    def training_step(self, batch, batch_index):
        x, y = batch
        return nn.functional.cross_entropy(self.model(x), y)

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=common.LEARNING_RATE)


class HalfwayTimer(pl.Callback):
    """Wall time of the second half of the steps (the first half is warm-up)."""

    def __init__(self, steps: int):
        self.half, self.start = steps // 2, None

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_index):
        if trainer.global_step == self.half:
            self.start = time.perf_counter()

    def on_train_end(self, trainer, module):
        common.report(trainer.global_step - self.half, time.perf_counter() - self.start)


def main() -> None:
    steps = common.parse_steps(__doc__.splitlines()[0])
    torch.manual_seed(0)
    x, y = common.training_arrays()
    loader = DataLoader(
        TensorDataset(torch.from_numpy(x), torch.from_numpy(y)),
        batch_size=common.BATCH_SIZE,
        shuffle=True,
        drop_last=True,
    )
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=1,
        max_steps=steps,
        max_epochs=-1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        callbacks=[HalfwayTimer(steps)],
    )
    trainer.fit(Classifier(), train_dataloaders=loader)


if __name__ == "__main__":
    main()
