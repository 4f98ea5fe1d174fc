"""The data of the generated PyTorch Lightning scripts: ``NumpyData``, the dataloaders over
``specc.runtime.data.Loader`` (the training one stateful: exact resume mid-epoch) and the
callback that keeps their position."""

from __future__ import annotations

import warnings

import lightning.pytorch as pl
import torch

# The streams below have a length and run in the main process (num_workers = 0), which is
# what Lightning's generic warning about IterableDatasets with __len__ worries about.
warnings.filterwarnings("ignore", message="Your `IterableDataset` has `__len__` defined")


class EpochStream(torch.utils.data.IterableDataset):
    """The training batches of a ``specc.runtime.data.Loader`` in the order every backend
    draws them (``Loader.forever()``: loader epochs back to back), cut into Lightning
    epochs of ``(batches_per_epoch // accumulate) * accumulate`` batches, so an accumulation
    window never straddles a Lightning epoch (Lightning would step on a partial window).

    ``(epoch, batch_index)`` is the loader position of the next batch *training consumes*:
    Lightning prefetches one batch ahead, so the position advances in ``consume()`` (called
    from ``NumpyData.on_train_batch_start``), not when a batch is produced.
    ``served`` counts the batches consumed in the current Lightning epoch.

    ``windows``: each item is the list of the ``accumulate`` micro-batches of one update (the
    generator loop's manual optimization, where Lightning cannot accumulate): the same
    micro-batches in the same order, ``len`` and ``served`` counted in windows.
    """

    def __init__(self, loader, accumulate: int = 1, windows: bool = False):
        super().__init__()
        self.loader = loader
        self.window = int(accumulate) if windows else 1
        self.length = max(1, loader.batches_per_epoch // accumulate) * accumulate // self.window
        self.epoch, self.index, self.served = 0, 0, 0

    def __len__(self) -> int:
        return self.length

    def __iter__(self):
        if self.served >= self.length:
            self.served = 0
        remaining, epoch, index = (self.length - self.served) * self.window, self.epoch, self.index
        window = []
        while remaining > 0:
            for batch in self.loader.epoch_batches(epoch, index):
                if self.window == 1:
                    yield batch
                else:
                    window.append(batch)
                    if len(window) == self.window:
                        yield window
                        window = []
                remaining -= 1
                if remaining == 0:
                    return
            epoch, index = epoch + 1, 0

    def consume(self) -> None:
        for _ in range(self.window):
            self.index += 1
            if self.index >= self.loader.batches_per_epoch:
                self.epoch, self.index = self.epoch + 1, 0
        self.served += 1

    def state_dict(self) -> dict:
        return {"epoch": int(self.epoch), "batch_index": int(self.index), "served": int(self.served)}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.index = int(state["epoch"]), int(state["batch_index"])
        self.served = int(state.get("served", 0))


def pinned(loader, cuda_available=None) -> bool:
    """Whether the DataLoader pins its batches: the loader's ``pin_memory`` (the spec's, on by
    default) and a CUDA GPU present. Lightning then copies each pinned batch to the GPU with
    ``non_blocking=True``, so the copy overlaps the step before it; on the CPU nothing is pinned."""
    found = torch.cuda.is_available() if cuda_available is None else cuda_available
    return bool(loader.pin_memory) and found


class ResumableDataLoader(torch.utils.data.DataLoader):
    """A ``DataLoader`` over an ``EpochStream`` (numpy -> tensors by ``default_convert``)
    with ``state_dict`` / ``load_state_dict``, so Lightning stores its position."""

    def __init__(self, stream: EpochStream):
        # its own generator: making an iterator draws a seed, which must not consume torch's
        # global generator (dropout's), or a resumed run would draw other dropout masks
        super().__init__(
            stream, batch_size=None, num_workers=0, generator=torch.Generator(), pin_memory=pinned(stream.loader)
        )
        self.stream = stream

    def state_dict(self) -> dict:
        return self.stream.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.stream.load_state_dict(state)


class FixedPass(torch.utils.data.IterableDataset):
    """Every batch of epoch 0 of an evaluation ``Loader``: the same batches at every evaluation."""

    def __init__(self, loader):
        super().__init__()
        self.loader = loader

    def __len__(self) -> int:
        return self.loader.batches_per_epoch

    def __iter__(self):
        yield from self.loader.epoch_batches(0)


class NumpyData(pl.Callback):
    """The run's data: specc's numpy loaders (``{"train", "val", "test"}`` -> ``Loader``) as
    the dataloaders ``Trainer.fit`` / ``validate`` / ``test`` are given, and a callback that
    keeps the training position (exact resume mid-epoch) and shards the loaders in a
    data-parallel run. A callback, not a ``LightningDataModule``: with a data module Lightning
    asks 8 ``is_overridden`` questions a step to route its three batch hooks (about 30 us of
    the MLP's step under cProfile), where a hand-written script passes its dataloaders to ``fit``.

    With a ``train_eval`` loader (``eval { on_train = true }``: the training examples,
    evaluated) the validation loop has two dataloaders, ``val`` (``dataloader_idx`` 0) and
    ``train_eval`` (1): ``VALIDATION``."""

    VALIDATION = ("val", "train_eval")  # the validation loop's splits, by dataloader_idx

    def __init__(self, loaders: dict, accumulate: int = 1, windows: bool = False):
        super().__init__()
        self.loaders = loaders
        self.train_stream = EpochStream(loaders["train"], accumulate, windows)
        self.train_loader = ResumableDataLoader(self.train_stream)

    def epoch(self) -> int:
        """The loader epoch of the next training batch (the rows' ``epoch``)."""
        return self.train_stream.epoch

    def fixed_dataloader(self, split: str):
        """The same batches of ``split`` at every evaluation (its own generator: see above)."""
        loader = self.loaders[split]
        return torch.utils.data.DataLoader(
            FixedPass(loader), batch_size=None, num_workers=0, generator=torch.Generator(), pin_memory=pinned(loader)
        )

    def val_loader(self):
        """The validation loop's dataloader: ``val``, or ``val`` and ``train_eval`` (a list)."""
        if "train_eval" not in self.loaders:
            return self.fixed_dataloader("val")
        return [self.fixed_dataloader(split) for split in self.VALIDATION]

    def test_loader(self):
        return self.fixed_dataloader("test")

    def setup(self, trainer, pl_module, stage: str) -> None:
        """In a data-parallel run (``ddp``), each rank hands out its rows of every global batch
        (``Loader.shard``): the ranks' rows of step s are the single-process batch of step s.
        Lightning calls it before it asks a dataloader for its length or first batch."""
        if trainer.world_size == 1:
            return
        try:
            for loader in self.loaders.values():
                loader.shard(trainer.global_rank, trainer.world_size)
        except ValueError as error:
            raise SystemExit(str(error)) from None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_index) -> None:
        """Training takes a batch: the position advances (Lightning has fetched one ahead)."""
        self.train_stream.consume()
