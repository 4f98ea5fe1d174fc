"""Hand-written conv net in PyTorch Lightning (benchmarks/specs/conv.mf's model: conv 3x3 (32)
+ ReLU + max pool 2, conv 3x3 (64) + ReLU + max pool 2, linear to 10 classes), channels-first
as PyTorch convolutions are written; a plain LightningModule and Trainer (clipping by the
Trainer, AdamW + LambdaLR) over a DataLoader that indexes in-memory tensors a batch at a time,
logging, checkpointing and the progress bar off.

    python benchmarks/handwritten/conv_lightning.py --data conv.npz --steps 600 [--weights W.npz]
"""

from __future__ import annotations

import time

import lightning.pytorch as pl
import torch
import workloads as w
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, Sampler, TensorDataset


class ConvNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv_0 = nn.Conv2d(1, w.CONV_CHANNELS[0], 3)
        self.conv_1 = nn.Conv2d(w.CONV_CHANNELS[0], w.CONV_CHANNELS[1], 3)
        self.head = nn.Linear(w.CONV_FLAT, w.CONV_CLASSES)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv_0(x)), 2)
        x = F.max_pool2d(F.relu(self.conv_1(x)), 2)
        return self.head(x.flatten(1))


class Classifier(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.model = ConvNet()

    def training_step(self, batch, batch_index):
        x, y = batch
        return F.cross_entropy(self.model(x), y)

    def configure_optimizers(self):
        optimizer = torch.optim.AdamW(
            self.parameters(),
            lr=w.CONV_LR,
            betas=w.BETAS,
            eps=w.EPSILON,
            weight_decay=w.CONV_DECAY,
        )
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: w.conv_learning_rate(step) / w.CONV_LR
        )
        return [optimizer], [{"scheduler": schedule, "interval": "step"}]


class SameOrder(Sampler):
    """The row indices of each step's batch (one batch per item: DataLoader(batch_size=None))."""

    def __init__(self, batches: w.ImageBatches, steps: int):
        self.batches, self.steps = batches, steps

    def __len__(self):
        return self.steps

    def __iter__(self):
        return (torch.from_numpy(self.batches.rows(step)) for step in range(self.steps))


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
    arguments = w.parse_arguments(__doc__.splitlines()[0])
    torch.manual_seed(w.SEED)
    batches = w.ImageBatches(arguments.data)
    module = Classifier()
    weights = w.load_weights(arguments.weights)
    if weights is not None:
        arrays = w.conv_weights(weights, channels_first=True)
        module.model.load_state_dict(
            {k: torch.from_numpy(v) for k, v in arrays.items()}
        )
    images = (
        torch.from_numpy(batches.x).permute(0, 3, 1, 2).contiguous()
    )  # NHWC -> NCHW once
    dataset = TensorDataset(images, torch.from_numpy(batches.y))
    loader = DataLoader(
        dataset, sampler=SameOrder(batches, arguments.steps), batch_size=None
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
    trainer.fit(module, train_dataloaders=loader)


if __name__ == "__main__":
    main()
