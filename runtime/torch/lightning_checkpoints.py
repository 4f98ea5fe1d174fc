"""Checkpointing of the generated PyTorch Lightning scripts:

- ``SpeccCheckpointIO``: a Lightning ``CheckpointIO`` writing specc checkpoint directories
  (``model.safetensors`` in canonical names, ``optimizer.safetensors``, ``manifest.json``,
  atomic ``last``);
- ``SpeccModelCheckpoint``: Lightning's ``ModelCheckpoint`` naming them ``step-000123`` and
  saving at the end of the run;
- ``ExactResume``: what else a resumed run needs to continue exactly (torch's generator,
  Lightning's logging step).

Metrics: a step that is evaluated (the evaluation interval, the run's last step) is saved at
the end of its evaluation, so its manifest carries that evaluation's metrics and top-k ranks
it by them, as on every backend; any other every-N-steps save carries the latest
evaluation's (none before the first: it ranks last); of checkpoints tied for the worst score
the newest goes first (ties keep the older), as ``checkpoints.retained``.

Durability: a step that is not evaluated is saved in the callbacks' ``on_train_batch_end``,
before that step's train rows reach ``metrics.csv``. Such a save is
written at once but ``last`` moves to it only at the next hook after the rows are logged
(the next batch, the end of the evaluation, the end of the epoch or run, a SIGTERM), after every logger
flushed (``metrics.csv`` fsynced): a kill in between leaves ``last`` on the previous
checkpoint, whose rows are all on disk. Paths under the checkpoints folder are stored
relative to it (``{"__path__": "step-000004"}``), so the files do not depend on where the
run lives and a moved run directory resumes its top-k state.
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
from specc.runtime.training.failures import CheckpointMismatch, storage_failure


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
    mode ``max``); ties keep the older (Lightning compares strictly; :meth:`_break_ties`);
    ``keep = "all"`` keeps every one (Lightning's ``save_top_k=-1``). An every-N-steps save
    of an evaluated step waits for the evaluation's end. ``epoch_steps``: the steps between
    end-of-epoch checkpoints (``every_n_epochs`` times the epoch's steps), saved besides
    every ``every`` steps (one checkpoint when both fall on a step).
    """

    FILE_EXTENSION = ""
    CHECKPOINT_NAME_LAST = "last"

    def __init__(
        self,
        dirpath,
        every: int | None,
        keep: int | str,
        monitor: str | None,
        mode: str,
        epoch_steps: int | None = None,
        last: bool = True,
    ):
        """A save in ``on_train_batch_end`` (every N steps, no evaluation at that step) comes
        before that step's rows are logged: ``SpeccCheckpointIO`` writes it but holds ``last``
        back until :meth:`promote` (the next batch, the evaluation's end, the end of the epoch
        or run, a SIGTERM). ``last`` False (``checkpoint.last = false``): Lightning's
        ``save_last=False``, the top-k checkpoints alone."""
        super().__init__(
            dirpath=dirpath,
            filename="step-{step:06d}",
            monitor=monitor or "step",
            mode=mode if monitor else "max",
            save_top_k=-1 if keep == checkpoints.KEEP_ALL else keep,
            save_last=last,
            every_n_train_steps=every or 0,
            auto_insert_metric_name=False,
            enable_version_counter=False,
            save_on_train_epoch_end=False,
        )
        self.resumed_scores: dict = {}  # the evaluation metrics of the checkpoint resumed
        self.deferring = False  # inside on_train_batch_end: SpeccCheckpointIO holds ``last`` back
        self.save_after_evaluation = False  # this step's save waits for its evaluation's end
        self.intervals = tuple(steps for steps in (every, epoch_steps) if steps)  # a save at a multiple of any
        self._key = super().state_key  # its settings are fixed from here on

    @property
    def state_key(self) -> str:
        """Lightning's key, built once: it is read at every hook Lightning calls (2 us a time)."""
        return self._key

    def _save_checkpoint(self, trainer, filepath) -> None:
        # the evaluation metrics of the step saved, for the checkpoint's manifest
        self.scores = {name: float(value) for name, value in trainer.callback_metrics.items() if name.startswith("val/")}
        self._break_ties()
        super()._save_checkpoint(trainer, filepath)

    def state_dict(self) -> dict:
        return {**super().state_dict(), "specc_scores": dict(getattr(self, "scores", {}))}

    def load_state_dict(self, state_dict: dict) -> None:
        super().load_state_dict(state_dict)
        self.resumed_scores = dict(state_dict.get("specc_scores") or {})
        if state_dict.get("dirpath") == self.dirpath:  # what Lightning does not restore itself
            self.current_score = state_dict.get("current_score")
            if self.save_last:  # the state was saved by the top-k save, before that step's save to ``last``
                self.last_model_path = os.path.join(self.dirpath, self.CHECKPOINT_NAME_LAST)

    def on_train_start(self, trainer, pl_module) -> None:
        """A resumed run sees the evaluation metrics the straight run still holds at this
        step (Lightning forgets them on restart), so top-k ranks the next saves the same."""
        super().on_train_start(trainer, pl_module)
        for name, value in self.resumed_scores.items():
            trainer.callback_metrics.setdefault(name, torch.tensor(value))
        self.resumed_scores = {}

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        """The every-N-steps save. When the step's evaluation runs right after this batch it
        waits for the evaluation's end (:meth:`on_validation_end`), so the checkpoint carries
        that evaluation's metrics and top-k ranks it by them, as on every backend; otherwise
        it is saved now, with the latest evaluation's metrics (none before the first: it ranks
        last). Unlike Lightning, a save never waits for a later evaluation's step."""
        if not self._due(trainer):
            return
        if _evaluation_follows(trainer):
            self.save_after_evaluation = True
            return
        self.deferring = True
        try:
            self._save_step(trainer)
        finally:
            self.deferring = False

    def _due(self, trainer) -> bool:
        """An every-N-steps save falls on this step and it was not saved yet."""
        step = trainer.global_step
        return any(step % steps == 0 for steps in self.intervals) and not self._should_skip_saving_checkpoint(trainer)

    def _save_step(self, trainer) -> None:
        candidates = self._monitor_candidates(trainer)
        self._save_topk_checkpoint(trainer, candidates)
        self._save_last_checkpoint(trainer, candidates)

    def _monitor_candidates(self, trainer) -> dict:
        """Before the first evaluation the monitored metric is NaN: the checkpoint is saved
        and ranks last (Lightning would wait for the next evaluation's step)."""
        candidates = super()._monitor_candidates(trainer)
        candidates.setdefault(self.monitor, torch.tensor(float("nan")))
        return candidates

    def _break_ties(self) -> None:
        """Of several top-k checkpoints tied for the worst score the newest goes first
        (Lightning picks the first in its dictionary), so ties keep the older, as
        ``checkpoints.retained`` on every backend. Called before every save, so the state
        a checkpoint stores already names the right one and a resumed run keeps the same."""
        if not 0 < self.save_top_k == len(self.best_k_models):
            return
        tied = [path for path, score in self.best_k_models.items() if bool(score == self.kth_value)]
        if tied:
            self.kth_best_model_path = max(tied, key=lambda path: int(Path(path).name[len("step-"):]))

    def promote(self, trainer) -> None:
        """Point ``last`` at a checkpoint held back in ``on_train_batch_end``, once every
        logger has flushed the rows up to its step."""
        checkpoint_io = trainer.strategy.checkpoint_io
        if getattr(checkpoint_io, "pending", None) is None:
            return
        for logger in trainer.loggers:
            logger.save()
        checkpoint_io.promote()

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.promote(trainer)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.promote(trainer)
        super().on_train_epoch_end(trainer, pl_module)

    def on_validation_end(self, trainer, pl_module) -> None:
        self.promote(trainer)  # after the evaluation's rows of the step saved
        if self.save_after_evaluation and not self._should_skip_saving_checkpoint(trainer):
            self._save_step(trainer)  # the every-N-steps save of this step, with its evaluation's metrics
        self.save_after_evaluation = False
        super().on_validation_end(trainer, pl_module)
        if trainer.should_stop and trainer.state.fn == "fit":
            self._save_final(trainer)

    def on_train_end(self, trainer, pl_module) -> None:
        self.promote(trainer)
        self._save_final(trainer)

    def _save_final(self, trainer) -> None:
        """The end-of-run checkpoint, saved after the final evaluation while the loop is still
        inside its epoch (a checkpoint saved after the loop ended would resume one epoch on)."""
        if self._last_global_step_saved == trainer.global_step or trainer.sanity_checking:
            return
        self._save_step(trainer)

    def on_exception(self, trainer, pl_module, exception) -> None:
        """On SIGTERM / Ctrl-C: save what was reached (never after a non-finite loss). A
        SIGTERM stops after the step's rows are logged: a held-back ``last`` moves; a
        Ctrl-C can land before them, so it does not."""
        if type(exception).__name__ == "SIGTERMException":
            self.promote(trainer)
        if isinstance(exception, (KeyboardInterrupt,)) or type(exception).__name__ == "SIGTERMException":
            if self._last_global_step_saved != trainer.global_step and trainer.global_step > 0:
                if self.save_last:
                    self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))
                else:  # no `last`: the step saved as a top-k candidate
                    self._save_topk_checkpoint(trainer, self._monitor_candidates(trainer))


def _evaluation_follows(trainer) -> bool:
    """Whether Lightning evaluates right after this training batch, at the same step: at the
    validation interval, or at the run's last step (the generated scripts set ``should_stop``
    there, in the LightningModule's ``on_train_batch_end``, which runs after the callbacks')."""
    fit_loop = trainer.fit_loop
    loop = fit_loop.epoch_loop
    if loop._should_accumulate() or not loop._should_check_val_epoch():
        return False
    stopping = trainer.should_stop or 0 < trainer.max_steps <= trainer.global_step
    if stopping and fit_loop._can_stop_early:
        return True
    return loop._should_check_val_fx(fit_loop._data_fetcher)


def _relative(text: str, root: str | None):
    """``text`` relative to ``root`` when it is ``root`` or a path under it, else None."""
    if root is None or not (text == root or text.startswith(root + os.sep)):
        return None
    return os.path.relpath(text, root)


def _encode(value, path: str, arrays: dict, root: str | None = None):
    """Lightning's checkpoint (minus the model) as JSON data; every tensor or numpy array
    goes to ``arrays`` under its dotted path and is referenced by ``{"__array__": path}``.
    Strings and keys naming a path under ``root`` (the checkpoints folder) are stored
    relative to it: ``{"__path__": "step-000004"}``, ``{"__paths__": {"step-000004": ...}}``."""
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
        if value and all(isinstance(key, str) and _relative(key, root) is not None for key in value):
            relative = {_relative(key, root): item for key, item in value.items()}
            return {"__paths__": {key: _encode(item, f"{path}.{key}", arrays, root) for key, item in relative.items()}}
        if all(isinstance(key, str) for key in value):
            return {"__dict__": {key: _encode(item, f"{path}.{key}", arrays, root) for key, item in value.items()}}
        return {"__pairs__": [[key, _encode(item, f"{path}.{key}", arrays, root)] for key, item in value.items()]}
    if isinstance(value, (list, tuple)):
        items = [_encode(item, f"{path}.{index}", arrays, root) for index, item in enumerate(value)]
        return {"__tuple__": items} if isinstance(value, tuple) else items
    if isinstance(value, float) and not math.isfinite(value):
        return {"__float__": repr(value)}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        value = str(value)
    if isinstance(value, str) and _relative(value, root) is not None:
        return {"__path__": _relative(value, root)}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"SpeccCheckpointIO: cannot store a value of type {type(value).__name__} at {path!r}")


def _decode(data, arrays: dict, root: str | None = None):
    if isinstance(data, list):
        return [_decode(item, arrays, root) for item in data]
    if not isinstance(data, dict):
        return data
    if "__array__" in data:
        array = np.array(arrays[data["__array__"]])
        if "torch" not in data:
            return array
        return torch.from_numpy(array).to(getattr(torch, data["torch"].split(".")[-1]))
    if "__path__" in data:
        return os.path.normpath(os.path.join(root or "", data["__path__"]))
    if "__paths__" in data:
        return {
            os.path.normpath(os.path.join(root or "", key)): _decode(item, arrays, root)
            for key, item in data["__paths__"].items()
        }
    if "__dict__" in data:
        return {key: _decode(item, arrays, root) for key, item in data["__dict__"].items()}
    if "__pairs__" in data:
        return {key: _decode(item, arrays, root) for key, item in data["__pairs__"]}
    if "__tuple__" in data:
        return tuple(_decode(item, arrays, root) for item in data["__tuple__"])
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
        last: bool = True,
    ):
        self.model_prefix = model_prefix
        self.last = last  # False (checkpoint.last = false): no `last` link, folders written only
        self.manifest = manifest
        self.keeper = keeper
        self.ema_prefix = ema_prefix
        self.filename = filename
        self.pending: tuple[Path, str] | None = None  # written, ``last`` held back (on_train_batch_end)
        self.written: tuple[str, int] | None = None  # (folder, step) this process wrote last
        self.listeners: list = []  # listener(step, folder) once ``last`` points at a new checkpoint (user callbacks)
        self.announced: tuple[str, int] | None = None

    def folder(self, path) -> Path:
        """The folder holding Lightning's ``.../step-000123`` (itself without a pattern)."""
        path = Path(path)
        if self.filename is None or not path.name.startswith("step-"):
            return path
        root = path.parent
        found = checkpoints.checkpoint_at_step(root.parent, int(path.name[len("step-"):]), root.name)
        return found if found is not None else path

    def save_checkpoint(self, checkpoint: dict, path, storage_options=None) -> None:
        path = Path(path)
        root = path.parent
        step = int(checkpoint["global_step"])
        name = self.folder(root / checkpoints.step_directory_name(step)).name
        if path.name != checkpoints.LAST or self.written != (name, step):  # a folder of an earlier life is rewritten
            name = self._write(checkpoint, root, step)
            self.written = (name, step)
        if not self.last:  # no `last` to move: the folder is announced as written
            for listener in self.listeners:
                listener(step, root / name)
            return
        if self.keeper is not None and getattr(self.keeper, "deferring", False):
            self.pending = (root, name)  # the keeper's promote() moves ``last`` once the rows are on disk
        else:
            self._move_last(root, name)

    def promote(self) -> None:
        """Point ``last`` at the checkpoint held back, if any (its rows are on disk now)."""
        pending, self.pending = self.pending, None
        if pending is not None and (pending[0] / pending[1] / checkpoints.MANIFEST).is_file():
            self._move_last(*pending)

    def _move_last(self, root: Path, name: str) -> None:
        previous = checkpoints.latest_checkpoint(root.parent, root.name)
        try:
            checkpoints.point_last(root, name)
        except OSError as error:
            kept = f"the last complete checkpoint is {str(previous)!r}" if previous else "no checkpoint was written"
            raise storage_failure(error, f"pointing {str(root / checkpoints.LAST)!r} at {name!r}", kept) from error
        self._forget(previous, root)
        if self.written is not None and self.written[0] == name and self.announced != self.written:
            self.announced = self.written
            for listener in self.listeners:
                listener(self.written[1], root / name)

    def _write(self, checkpoint: dict, root: Path, step: int) -> str:
        """Write the checkpoint folder of ``step`` (``last`` not moved); return its name."""
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
            lightning=_encode(others, "lightning", arrays, os.path.realpath(root)),
        )
        written = checkpoints.write_checkpoint(
            root.parent, step, model, arrays, manifest, self.filename, last=False, folder=root.name
        )
        return written.name

    def _forget(self, previous, root: Path) -> None:
        """Delete the old ``last`` target once ``last`` has moved, unless top-k keeps it."""
        current = checkpoints.latest_checkpoint(root.parent, root.name)
        if previous is None or current is None or Path(previous) == Path(current):
            return
        if not self._kept(previous) and Path(previous).is_dir():
            shutil.rmtree(previous)

    def _kept(self, directory) -> bool:
        kept = getattr(self.keeper, "best_k_models", {}) if self.keeper is not None else {}
        return any(os.path.realpath(self.folder(key)) == os.path.realpath(directory) for key in kept)

    def load_checkpoint(self, path, map_location=None, weights_only=None) -> dict:
        loaded = checkpoints.read_checkpoint(path)
        if "lightning" not in loaded.manifest:
            written_by = loaded.manifest.get("backend", "another")
            raise CheckpointMismatch(
                f"checkpoint {str(path)!r} was written by the {written_by} backend: a Lightning run resumes only "
                f"from its own checkpoints (other backends' weights load with --eval-only or warm_start)"
            )
        checkpoint = _decode(loaded.manifest["lightning"], loaded.optimizer, str(loaded.path.parent))
        exported = self.ema_prefix or self.model_prefix
        state = {exported + name: torch.from_numpy(np.array(value)) for name, value in loaded.model.items()}
        state.update(checkpoint.get("state_dict", {}))
        checkpoint["state_dict"] = state
        return checkpoint

    def remove_checkpoint(self, path) -> None:
        """Top-k pruning: keep the directory ``last`` points at (it goes when ``last`` moves)."""
        path = self.folder(path)
        current = checkpoints.latest_checkpoint(path.parent.parent, path.parent.name)
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
