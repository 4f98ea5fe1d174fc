"""Checkpointing of the generated PyTorch Lightning scripts:

- ``SpeccCheckpointIO``: a Lightning ``CheckpointIO`` writing specc checkpoint directories
  (``model.safetensors`` in canonical names, ``optimizer.safetensors``, ``manifest.json``,
  atomic ``last``);
- ``SpeccModelCheckpoint``: Lightning's ``ModelCheckpoint`` naming them ``step-000123`` and
  saving at the end of the run;
- ``ExactResume``: what else a resumed run needs to continue exactly (torch's generator,
  Lightning's logging step).
"""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path

import numpy as np
import torch
from lightning.fabric.plugins import CheckpointIO
from lightning.pytorch.callbacks import Callback, ModelCheckpoint

from specc.runtime.training import checkpoints


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
