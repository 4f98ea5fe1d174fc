"""Training helpers for generated PyTorch Lightning scripts.

- ``make_optimizer``: adam, adamw, sgd, lion with COMPONENTS.md semantics (every value
  passed explicitly; ``Lion`` is written here, torch has none);
- ``lightning_precision``: the spec's precision as a Trainer ``precision``; fp16 on CPU is
  refused (Lightning would silently switch to bf16);
- ``MetricsLogger``: a Lightning ``Logger`` writing the run's ``metrics.csv``;
- ``SpeccCheckpointIO``: a Lightning ``CheckpointIO`` writing specc checkpoint directories
  (``model.safetensors`` in canonical names, ``optimizer.safetensors``, ``manifest.json``,
  atomic ``last``), and ``SpeccModelCheckpoint``, Lightning's ``ModelCheckpoint`` naming
  them ``step-000123`` and saving at the end of the run;
- ``RunningSums``: on-device sums of per-step values for the means of each log row;
- ``NumpyDataModule``: a ``LightningDataModule`` over ``specc.runtime.data.Loader`` whose
  training ``DataLoader`` is stateful (exact resume mid-epoch).
"""

from __future__ import annotations

import math
import os
import shutil
import warnings
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.fabric.plugins import CheckpointIO
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.loggers import Logger
from lightning.pytorch.utilities.rank_zero import rank_zero_only

from specc.runtime import checks, training
from specc.runtime.training import checkpoints
from specc.runtime.training.tree import under_prefix

# ----------------------------------------------------------------------------- optimizers


class Lion(torch.optim.Optimizer):
    """Lion (Chen et al. 2023) with decoupled weight decay, as optax's ``lion``:

    ``c = b1 * m + (1 - b1) * g``; ``p <- p - lr * (sign(c) + wd * p)``;
    ``m <- b2 * m + (1 - b2) * g``.
    """

    def __init__(self, params, lr, betas=(0.9, 0.99), weight_decay=0.0):
        checks.check_positive("lion", "lr", lr)
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            first, second = group["betas"]
            for parameter in group["params"]:
                if parameter.grad is None:
                    continue
                state = self.state[parameter]
                if not state:
                    state["exp_avg"] = torch.zeros_like(parameter)
                average = state["exp_avg"]
                direction = (average * first + parameter.grad * (1 - first)).sign_()
                if group["weight_decay"] != 0:
                    direction.add_(parameter, alpha=group["weight_decay"])
                parameter.add_(direction, alpha=-group["lr"])
                average.mul_(second).add_(parameter.grad, alpha=1 - second)
        return loss


def _adam(parameters, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
    """torch's Adam: ``weight_decay`` is coupled L2 (``g <- g + wd * p``)."""
    return torch.optim.Adam(parameters, lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay)


def _adamw(parameters, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
    return torch.optim.AdamW(parameters, lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay)


def _sgd(parameters, lr, momentum=0.0, nesterov=False, weight_decay=0.0):
    return torch.optim.SGD(
        parameters, lr=lr, momentum=momentum, dampening=0.0, nesterov=nesterov, weight_decay=weight_decay
    )


def _lion(parameters, lr, betas=(0.9, 0.99), weight_decay=0.0):
    return Lion(parameters, lr=lr, betas=betas, weight_decay=weight_decay)


OPTIMIZERS = {"adam": _adam, "adamw": _adamw, "sgd": _sgd, "lion": _lion}


def make_optimizer(kind: str, parameters, arguments: dict) -> torch.optim.Optimizer:
    """A torch optimizer with specc's semantics; ``arguments`` are the spec's (``lr`` required)."""
    checks.check_choice("make_optimizer", "kind", kind, tuple(OPTIMIZERS))
    return OPTIMIZERS[kind](parameters, **arguments)


# ----------------------------------------------------------------------------- precision

PRECISIONS = {"fp32": "32-true", "bf16": "bf16-mixed", "fp16": "16-mixed"}


def lightning_precision(precision: str, accelerator: str) -> str:
    """The Trainer's ``precision`` for the spec's; ``ValueError`` when the device cannot do it.

    On CPU Lightning turns ``16-mixed`` into bf16 without asking: specc refuses instead.
    """
    checks.check_choice("precision", "precision", precision, tuple(PRECISIONS))
    if precision == "fp16" and accelerator == "cpu":
        raise ValueError(
            "precision fp16 needs a GPU: this run is on the CPU, where Lightning would silently "
            "switch to bf16; set precision = bf16 or fp32 in the spec, or pass --device cuda"
        )
    return PRECISIONS[precision]


def accelerator_for(device: str | None) -> str:
    """``--device`` (``cpu``, ``cuda``, ``gpu``, ``mps``; default cpu) as a Lightning accelerator."""
    name = (device or "cpu").split(":")[0]
    checks.check_choice("--device", "device", name, ("cpu", "cuda", "gpu", "mps"))
    return "gpu" if name == "cuda" else name


# ----------------------------------------------------------------------------- logging


class RunningSums:
    """Sums of per-step values kept as detached tensors (no host sync per step).

    ``add(values)`` adds one value per name (names may be added at different rates: the loss
    once per micro-batch, the gradient norm once per update); ``means()`` returns the mean of
    each name since the last call, as tensors, and resets. ``steps`` counts the steps of the
    window (the script increments it).
    """

    def __init__(self):
        self.totals: dict[str, torch.Tensor] = {}
        self.counts: dict[str, int] = {}
        self.steps = 0

    def add(self, values: dict) -> None:
        for name, value in values.items():
            value = value.detach().float()
            self.totals[name] = self.totals[name] + value if name in self.totals else value
            self.counts[name] = self.counts.get(name, 0) + 1

    def means(self) -> dict[str, torch.Tensor]:
        means = {name: value / self.counts[name] for name, value in self.totals.items()}
        self.totals, self.counts = {}, {}
        return means


def gradient_norm(parameters) -> torch.Tensor:
    """``sqrt(sum ||g||^2)`` over the parameters that have a gradient (0 when none has)."""
    norms = [torch.linalg.vector_norm(p.grad.detach().float()) for p in parameters if p.grad is not None]
    return torch.linalg.vector_norm(torch.stack(norms)) if norms else torch.zeros(())


def note_non_finite(bad_step: torch.Tensor, loss: torch.Tensor, step: int) -> torch.Tensor:
    """``bad_step`` (0-d, -1 while every loss was finite) set to ``step`` at the first loss that
    is not finite; computed on the loss's device, so the step never waits for the host."""
    step = torch.full((), step, device=loss.device)
    bad = bad_step.to(loss.device)
    return torch.where((bad < 0) & ~torch.isfinite(loss.detach()), step, bad)


def check_finite(bad_step: torch.Tensor, run_dir) -> None:
    """``NonFiniteLoss`` naming the first bad step and the last good checkpoint of ``run_dir``
    (read at log steps and before every checkpoint: never save weights after a bad loss)."""
    bad = training.first_bad_step(int(bad_step))
    if bad is not None:
        raise training.NonFiniteLoss(bad, training.latest_checkpoint(run_dir))


SPLITS = ("train", "val", "test")


class MetricsLogger(Logger):
    """Lightning ``Logger`` writing specc's ``metrics.csv`` through a ``MetricsLog``.

    Keys are ``split/name`` (``train/loss``, ``val/accuracy``); other keys (``epoch``, the
    ``lr`` of Lightning's LearningRateMonitor, which TensorBoard shows) are not rows. During ``fit`` Lightning passes the 0-indexed step of the current batch
    (``_batches_that_stepped`` before it is incremented); specc's step counts completed
    steps, so rows get ``step + step_offset``; ``fixed_step`` (``--eval-only``: the
    checkpoint's step) overrides it, ``fixed_epoch`` the epoch. ``epoch_source()`` gives
    the data's epoch (the loader epoch of the next batch, as on every backend) instead of
    Lightning's epoch counter; ``evaluated`` (a checkpoint read by ``read_checkpoint``) sets
    ``fixed_step`` and ``fixed_epoch`` from it. A value logged twice for the same step is
    written once.
    """

    def __init__(
        self,
        metrics_log,
        step_offset: int = 1,
        fixed_step: int | None = None,
        fixed_epoch: int | None = None,
        epoch_source=None,
        evaluated=None,
    ):
        super().__init__()
        if evaluated is not None:  # --eval-only: every row at the evaluated checkpoint's step and epoch
            fixed_step, fixed_epoch = evaluated.step, evaluated.manifest.get("epoch")
        self.metrics_log = metrics_log
        self.epoch_source = epoch_source
        self.step_offset = step_offset
        self.fixed_step = fixed_step
        self.fixed_epoch = fixed_epoch
        self.epoch = 0 if fixed_epoch is None else fixed_epoch
        self._written: set[tuple[int, str]] = set()
        self._written_step = None

    @property
    def name(self) -> str:
        return "specc"

    @property
    def version(self) -> str:
        return "0"

    @rank_zero_only
    def log_hyperparams(self, params, *args, **kwargs) -> None:
        """Hyperparameters live in spec.resolved.mf, not in metrics.csv."""

    @rank_zero_only
    def log_metrics(self, metrics: dict, step: int | None = None) -> None:
        if self.fixed_epoch is None and self.epoch_source is not None:
            self.epoch = int(self.epoch_source())
        elif "epoch" in metrics and self.fixed_epoch is None:
            self.epoch = int(metrics["epoch"])
        row_step = self.fixed_step if self.fixed_step is not None else int(step or 0) + self.step_offset
        if row_step != self._written_step:
            self._written, self._written_step = set(), row_step
        rows: dict[str, dict] = {}
        for key, value in metrics.items():
            split, _, name = key.partition("/")
            if split not in SPLITS or not name or (split, name) in self._written:
                continue
            self._written.add((split, name))
            rows.setdefault(split, {})[name] = float(value)
        for split in SPLITS:
            if split in rows:
                self.metrics_log.write_many(row_step, self.epoch, split, rows[split])

    @rank_zero_only
    def save(self) -> None:
        self.metrics_log.flush()

    @rank_zero_only
    def finalize(self, status: str) -> None:
        self.metrics_log.flush()


# ----------------------------------------------------------------------------- checkpoints


class ExactResume(Callback):
    """What a resumed run needs to continue exactly as the straight run would, beyond the
    weights, optimizer and data position Lightning checkpoints itself:

    - torch's global generator (dropout masks) is saved with every checkpoint and restored;
    - after a resume Lightning's logging step (``_batches_that_stepped``) can be off
      ``global_step`` by one either way (a checkpoint saved at validation end or at a train
      batch end): it is realigned before the first batch logs.
    """

    def __init__(self):
        self.realign = False

    def state_dict(self) -> dict:
        return {"torch_random_state": torch.get_rng_state()}

    def load_state_dict(self, state_dict: dict) -> None:
        torch.set_rng_state(torch.as_tensor(state_dict["torch_random_state"]).to(torch.uint8).cpu())

    def on_train_start(self, trainer, pl_module) -> None:
        self.realign = True

    def on_train_batch_start(self, trainer, pl_module, batch, batch_index) -> None:
        if self.realign:
            trainer.fit_loop.epoch_loop._batches_that_stepped = trainer.global_step
            self.realign = False


class SpeccModelCheckpoint(ModelCheckpoint):
    """Lightning's ``ModelCheckpoint`` with specc's names: ``checkpoints/step-000123`` (a
    directory written by ``SpeccCheckpointIO``), ``last`` as a pointer, and one more save at
    the end of the run when the last step was not saved yet.

    Without a monitored metric the newest ``keep`` checkpoints are kept (monitor ``step``,
    mode ``max``); ties keep the older (Lightning compares strictly).
    """

    FILE_EXTENSION = ""
    CHECKPOINT_NAME_LAST = "last"

    def __init__(self, dirpath, every: int | None, keep: int, monitor: str | None, mode: str):
        super().__init__(
            dirpath=dirpath,
            filename="step-{step:06d}",
            monitor=monitor or "step",
            mode=mode if monitor else "max",
            save_top_k=keep,
            save_last=True,
            every_n_train_steps=every or 0,
            auto_insert_metric_name=False,
            enable_version_counter=False,
            save_on_train_epoch_end=False,
        )

    def _save_checkpoint(self, trainer, filepath) -> None:
        # the evaluation metrics of the step saved, for the checkpoint's manifest
        self.scores = {name: float(value) for name, value in trainer.callback_metrics.items() if name.startswith("val/")}
        super()._save_checkpoint(trainer, filepath)

    def on_validation_end(self, trainer, pl_module) -> None:
        super().on_validation_end(trainer, pl_module)
        if trainer.should_stop and trainer.state.fn == "fit":
            self._save_final(trainer)

    def on_train_end(self, trainer, pl_module) -> None:
        self._save_final(trainer)

    def _save_final(self, trainer) -> None:
        """The end-of-run checkpoint, saved after the final evaluation while the loop is still
        inside its epoch (a checkpoint saved after the loop ended would resume one epoch on)."""
        if self._last_global_step_saved == trainer.global_step or trainer.sanity_checking:
            return
        candidates = self._monitor_candidates(trainer)
        if self.monitor in candidates:
            self._save_topk_checkpoint(trainer, candidates)
        self._save_last_checkpoint(trainer, candidates)

    def on_exception(self, trainer, pl_module, exception) -> None:
        """On SIGTERM / Ctrl-C: save what was reached (never after a non-finite loss)."""
        if isinstance(exception, (KeyboardInterrupt,)) or type(exception).__name__ == "SIGTERMException":
            if self._last_global_step_saved != trainer.global_step and trainer.global_step > 0:
                self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))


def _encode(value, path: str, arrays: dict):
    """Lightning's checkpoint (minus the model) as JSON data; every tensor or numpy array
    goes to ``arrays`` under its dotted path and is referenced by ``{"__array__": path}``."""
    if isinstance(value, torch.Tensor):
        tensor = value.detach().cpu()
        dtype = str(tensor.dtype)
        if tensor.dtype == torch.bfloat16:
            tensor = tensor.float()
        arrays[path] = tensor.numpy()
        return {"__array__": path, "torch": dtype}
    if isinstance(value, np.ndarray):
        arrays[path] = value
        return {"__array__": path}
    if isinstance(value, dict):
        if all(isinstance(key, str) for key in value):
            return {"__dict__": {key: _encode(item, f"{path}.{key}", arrays) for key, item in value.items()}}
        return {"__pairs__": [[key, _encode(item, f"{path}.{key}", arrays)] for key, item in value.items()]}
    if isinstance(value, (list, tuple)):
        items = [_encode(item, f"{path}.{index}", arrays) for index, item in enumerate(value)]
        return {"__tuple__": items} if isinstance(value, tuple) else items
    if isinstance(value, float) and not math.isfinite(value):
        return {"__float__": repr(value)}
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"SpeccCheckpointIO: cannot store a {type(value).__name__} at {path!r}")


def _decode(data, arrays: dict):
    if isinstance(data, list):
        return [_decode(item, arrays) for item in data]
    if not isinstance(data, dict):
        return data
    if "__array__" in data:
        array = np.array(arrays[data["__array__"]])
        if "torch" not in data:
            return array
        return torch.from_numpy(array).to(getattr(torch, data["torch"].split(".")[-1]))
    if "__dict__" in data:
        return {key: _decode(item, arrays) for key, item in data["__dict__"].items()}
    if "__pairs__" in data:
        return {key: _decode(item, arrays) for key, item in data["__pairs__"]}
    if "__tuple__" in data:
        return tuple(_decode(item, arrays) for item in data["__tuple__"])
    if "__float__" in data:
        return float(data["__float__"])
    raise ValueError(f"SpeccCheckpointIO: unreadable manifest entry {data!r}")


class SpeccCheckpointIO(CheckpointIO):
    """Lightning ``CheckpointIO`` that writes specc checkpoint directories.

    ``save_checkpoint(checkpoint, .../checkpoints/step-000123)`` writes the directory with
    ``specc.runtime.training.checkpoints.write_checkpoint`` (temporary directory renamed into
    place, ``last`` re-pointed atomically): the LightningModule's ``<prefix>*`` entries
    (the model, canonical dotted names, PyTorch layout) go to ``model.safetensors``; every
    other tensor of Lightning's checkpoint (optimizer moments, loop and callback state) goes
    to ``optimizer.safetensors``; the rest to ``manifest.json`` under ``"lightning"``, beside
    specc's fields (step, epoch, ``data`` position, monitored metric, and whatever the
    ``manifest()`` callable returns: seed, latest metrics, resolved spec; or the ``manifest``
    dict of the run's fields, completed with ``backend`` and the ``val/`` metrics the keeper
    saw when it saved).

    With ``ema_prefix`` (EMA of weights on), ``model.safetensors`` holds the averaged weights
    (what evaluation and export use, as on every backend) and the raw weights go to
    ``optimizer.safetensors``.

    A save to ``.../last`` (Lightning's ``save_last``) points ``last`` at this step's
    directory, writing it when top-k did not. The directory ``last`` points at is never
    deleted by top-k pruning; it is removed when ``last`` moves on, unless Lightning's
    ``keeper`` (the ``ModelCheckpoint``) still keeps it.

    With a checkpoint ``filename`` pattern the folders are named by
    ``checkpoints.checkpoint_name`` (as on every backend) while Lightning keeps calling them
    ``step-000123``: :meth:`folder` maps Lightning's path to the folder of that step.
    """

    def __init__(
        self,
        model_prefix: str = "model.",
        manifest=None,
        keeper=None,
        ema_prefix: str | None = None,
        filename: str | None = None,
    ):
        self.model_prefix = model_prefix
        self.manifest = manifest
        self.keeper = keeper
        self.ema_prefix = ema_prefix
        self.filename = filename

    def folder(self, path) -> Path:
        """The folder holding Lightning's ``.../step-000123`` (itself without a pattern)."""
        path = Path(path)
        if self.filename is None or not path.name.startswith("step-"):
            return path
        found = checkpoints.checkpoint_at_step(path.parent.parent, int(path.name[len("step-"):]))
        return found if found is not None else path

    def save_checkpoint(self, checkpoint: dict, path, storage_options=None) -> None:
        path = Path(path)
        root = path.parent
        step = int(checkpoint["global_step"])
        if path.name == checkpoints.LAST:
            self._save_last(checkpoint, root, step)
            return
        previous = checkpoints.latest_checkpoint(root.parent)
        self._write(checkpoint, root, step)
        self._forget(previous, root)

    def _save_last(self, checkpoint: dict, root: Path, step: int) -> None:
        name = self.folder(root / checkpoints.step_directory_name(step)).name
        previous = checkpoints.latest_checkpoint(root.parent)
        if (root / name / checkpoints.MANIFEST).is_file():
            checkpoints.point_last(root, name)
        else:
            self._write(checkpoint, root, step)
        self._forget(previous, root)

    def _write(self, checkpoint: dict, root: Path, step: int) -> None:
        model, rest = {}, {}
        exported = self.ema_prefix or self.model_prefix
        for key, value in checkpoint["state_dict"].items():
            if key.startswith(exported):
                model[key[len(exported):]] = value.detach().cpu().float().numpy()
            else:
                rest[key] = value
        arrays: dict = {}
        others = {key: value for key, value in checkpoint.items() if key != "state_dict"}
        others["state_dict"] = rest
        position = _data_position(checkpoint)
        manifest = {"metrics": _monitored(checkpoint)}
        if callable(self.manifest):
            manifest.update(self.manifest())
        elif self.manifest is not None:  # the run's fields, with the keeper's evaluation metrics
            manifest.update({"backend": "lightning", **self.manifest}, metrics=dict(getattr(self.keeper, "scores", {})))
        manifest.update(
            epoch=int(position["epoch"] if position else checkpoint.get("epoch", 0)),
            data=position,
            lightning=_encode(others, "lightning", arrays),
        )
        checkpoints.write_checkpoint(root.parent, step, model, arrays, manifest, self.filename)

    def _forget(self, previous, root: Path) -> None:
        """Delete the old ``last`` target once ``last`` has moved, unless top-k keeps it."""
        current = checkpoints.latest_checkpoint(root.parent)
        if previous is None or current is None or Path(previous) == Path(current):
            return
        if not self._kept(previous) and Path(previous).is_dir():
            shutil.rmtree(previous)

    def _kept(self, directory) -> bool:
        kept = getattr(self.keeper, "best_k_models", {}) if self.keeper is not None else {}
        return any(os.path.realpath(self.folder(key)) == os.path.realpath(directory) for key in kept)

    def load_checkpoint(self, path, map_location=None, weights_only=None) -> dict:
        loaded = checkpoints.read_checkpoint(path)
        checkpoint = _decode(loaded.manifest["lightning"], loaded.optimizer)
        exported = self.ema_prefix or self.model_prefix
        state = {exported + name: torch.from_numpy(np.array(value)) for name, value in loaded.model.items()}
        state.update(checkpoint.get("state_dict", {}))
        checkpoint["state_dict"] = state
        return checkpoint

    def remove_checkpoint(self, path) -> None:
        """Top-k pruning: keep the directory ``last`` points at (it goes when ``last`` moves)."""
        path = self.folder(path)
        current = checkpoints.latest_checkpoint(path.parent.parent)
        if current is not None and os.path.realpath(path) == os.path.realpath(current):
            return
        if path.is_dir():
            shutil.rmtree(path)


def _data_position(checkpoint: dict):
    loop = (checkpoint.get("loops") or {}).get("fit_loop") or {}
    states = (loop.get("state_dict") or {}).get("combined_loader") or []
    return states[0] if states else None


def _monitored(checkpoint: dict) -> dict:
    metrics = {}
    for key, state in (checkpoint.get("callbacks") or {}).items():
        if key.startswith("SpeccModelCheckpoint") or key.startswith("ModelCheckpoint"):
            score, monitor = state.get("current_score"), state.get("monitor")
            if monitor and monitor != "step" and score is not None:
                metrics[monitor] = float(score)
    return metrics


# ----------------------------------------------------------------------------- data


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
    from the data module's ``on_before_batch_transfer`` hook), not when a batch is produced.
    ``served`` counts the batches consumed in the current Lightning epoch.
    """

    def __init__(self, loader, accumulate: int = 1):
        super().__init__()
        self.loader = loader
        self.length = max(1, loader.batches_per_epoch // accumulate) * accumulate
        self.epoch, self.index, self.served = 0, 0, 0

    def __len__(self) -> int:
        return self.length

    def __iter__(self):
        if self.served >= self.length:
            self.served = 0
        remaining, epoch, index = self.length - self.served, self.epoch, self.index
        while remaining > 0:
            for batch in self.loader.epoch_batches(epoch, index):
                yield batch
                remaining -= 1
                if remaining == 0:
                    return
            epoch, index = epoch + 1, 0

    def consume(self) -> None:
        self.index += 1
        self.served += 1
        if self.index >= self.loader.batches_per_epoch:
            self.epoch, self.index = self.epoch + 1, 0

    def state_dict(self) -> dict:
        return {"epoch": int(self.epoch), "batch_index": int(self.index), "served": int(self.served)}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.index = int(state["epoch"]), int(state["batch_index"])
        self.served = int(state.get("served", 0))


class ResumableDataLoader(torch.utils.data.DataLoader):
    """A ``DataLoader`` over an ``EpochStream`` (numpy -> tensors by ``default_convert``)
    with ``state_dict`` / ``load_state_dict``, so Lightning stores its position."""

    def __init__(self, stream: EpochStream):
        # its own generator: making an iterator draws a seed, which must not consume torch's
        # global generator (dropout's), or a resumed run would draw other dropout masks
        super().__init__(stream, batch_size=None, num_workers=0, generator=torch.Generator())
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


class NumpyDataModule(pl.LightningDataModule):
    """``LightningDataModule`` over specc's numpy loaders (``{"train", "val", "test"}`` ->
    ``Loader``); the training loader resumes exactly mid-epoch."""

    def __init__(self, loaders: dict, accumulate: int = 1):
        super().__init__()
        self.loaders = loaders
        self.train_stream = EpochStream(loaders["train"], accumulate)
        self.train_loader = ResumableDataLoader(self.train_stream)

    def train_dataloader(self):
        return self.train_loader

    def val_dataloader(self):
        return torch.utils.data.DataLoader(
            FixedPass(self.loaders["val"]), batch_size=None, num_workers=0, generator=torch.Generator()
        )

    def test_dataloader(self):
        return torch.utils.data.DataLoader(
            FixedPass(self.loaders["test"]), batch_size=None, num_workers=0, generator=torch.Generator()
        )

    def on_before_batch_transfer(self, batch, dataloader_idx: int):
        if self.trainer is not None and self.trainer.training:
            self.train_stream.consume()
        return batch


# ----------------------------------------------------------------------------- schedules

def make_schedule(kind: str, arguments: dict, lr: float, total_steps: int | None):
    """``schedules.<kind>`` (a callable ``k -> lr``) with ``lr`` / ``peak`` / ``initial``
    defaulting to the optimizer's lr and ``total`` to the run's total number of steps."""
    from specc.runtime.composites.schedules import from_plan
    from specc.runtime.torch import schedules

    return from_plan(schedules, kind, arguments, lr, total_steps)


# ----------------------------------------------------------------------------- freezing and EMA


def freeze_parameters(model: torch.nn.Module, prefixes) -> None:
    """Stop training the parameters whose dotted name is a prefix or starts with
    ``prefix + "."`` (``encoder`` freezes ``encoder.x``, not ``encoder2.x``); ``ValueError``
    when a prefix matches no parameter. Frozen parameters get no gradient, so the optimizer
    leaves them (and their weight decay) alone."""
    names = [name for name, _ in model.named_parameters()]
    for prefix in prefixes:
        if not any(under_prefix(name, prefix) for name in names):
            raise ValueError(f"freeze: no parameter name starts with {prefix!r}")
    for name, parameter in model.named_parameters():
        if any(under_prefix(name, prefix) for prefix in prefixes):
            parameter.requires_grad_(False)


@torch.no_grad()
def ema_update(average: torch.nn.Module, current: torch.nn.Module, decay: float) -> None:
    """``e <- d * e + (1 - d) * p`` for every parameter, in place (after each step):
    ``average`` holds the EMA ``e``, ``current`` the trained model's parameters ``p``."""
    for averaged, parameter in zip(average.parameters(), current.parameters()):
        averaged.mul_(decay).add_(parameter.detach(), alpha=1.0 - decay)


# ----------------------------------------------------------------------------- penalties


def parameter_penalty(model: torch.nn.Module, penalties) -> torch.Tensor:
    """``sum_k weight_k * sum_{theta under prefix_k} theta^2`` (float32 scalar) over the
    model's dotted parameter names (``pe`` covers ``pe.weight``, not ``pe2``);
    ``penalties``: ``((prefix, weight), ...)``."""
    named = dict(model.named_parameters())
    total = torch.zeros((), dtype=torch.float32, device=next(iter(named.values())).device)
    for prefix, weight in penalties:
        for name in sorted(named):
            if under_prefix(name, prefix):
                total = total + float(weight) * named[name].float().square().sum()
    return total
