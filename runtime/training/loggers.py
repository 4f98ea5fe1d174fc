"""Optional loggers beside metrics.csv; each framework import happens lazily.

Every logger has ``write_many(step, epoch, split, values)`` (one row per split, keys
``split/name``) and ``close()``. ``make_loggers(kinds, run_dir)`` builds them at script
start; a logger whose package is missing stops the script there with one line naming the
package to install (``SystemExit``, no traceback).

| kind | package | where |
|---|---|---|
| ``tensorboard`` | tensorboard, torch | ``<run>/tensorboard`` event files |
| ``mlflow`` | mlflow-skinny (or mlflow) | file store ``<run>/mlflow`` (a ``file://`` tracking URI) |
| ``wandb`` | wandb | offline run under ``<run>/wandb`` (``wandb sync`` uploads it later) |

A resumed run continues the same MLflow / W&B run: its id is kept in ``<run>/mlflow/run_id``
/ ``<run>/wandb/run_id``.

MLflow 3 refuses file stores unless ``MLFLOW_ALLOW_FILE_STORE=true``; the mlflow logger
sets it for this process (a user's own value wins).
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

from specc.runtime.training.distributed import is_main_process


def _require(module: str, kind: str, install: str):
    """``import module`` or stop the script with the pip command that installs it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise SystemExit(
            f"the {kind} logger needs `{install}` installed (pip install {install}, or pip install 'specc[loggers]'); "
            f"remove {kind} from train.loggers to run without it"
        ) from error


def _stored_id(folder: Path, make) -> str:
    """The id kept in ``folder/run_id`` (written by ``make()`` the first time)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "run_id"
    if path.exists():
        return path.read_text().strip()
    identifier = make()
    path.write_text(identifier + "\n")
    return identifier


class TensorBoardLogger:
    """Scalars under ``log_dir/name`` (default ``<run>/tensorboard``) as ``split/name``
    (tensorboard's SummaryWriter); ``log_dir`` relative to the folder the script runs in."""

    def __init__(self, run_dir, log_dir: str | None = None, name: str = "tensorboard"):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as error:
            raise SystemExit(
                "the tensorboard logger needs `tensorboard` and `torch` installed (pip install tensorboard torch)"
            ) from error
        self.writer = SummaryWriter(log_dir=str(Path(log_dir or run_dir) / name))

    def write_many(self, step: int, epoch: int, split: str, values: dict) -> None:
        for name in sorted(values):
            self.writer.add_scalar(f"{split}/{name}", float(values[name]), int(step))

    def close(self) -> None:
        self.writer.flush()
        self.writer.close()


class MlflowLogger:
    """Metrics ``split/name`` at ``step`` in a local MLflow file store ``<run>/mlflow``
    (experiment ``experiment``, run name ``run_name`` or the run directory's name), through
    ``MlflowClient`` (no global MLflow state). A resumed run continues the same MLflow run."""

    def __init__(self, run_dir, experiment: str = "specc", run_name: str | None = None):
        _require("mlflow", "mlflow", "mlflow-skinny")
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        from mlflow.entities import Metric
        from mlflow.tracking import MlflowClient

        self.metric = Metric
        store = Path(run_dir).resolve() / "mlflow"
        store.mkdir(parents=True, exist_ok=True)
        self.client = MlflowClient(tracking_uri=store.as_uri())
        found = self.client.get_experiment_by_name(experiment)
        experiment_id = found.experiment_id if found is not None else self.client.create_experiment(experiment)
        name = run_name or Path(run_dir).name
        self.run_id = _stored_id(store, lambda: self.client.create_run(experiment_id, run_name=name).info.run_id)
        self.client.update_run(self.run_id, status="RUNNING")

    def write_many(self, step: int, epoch: int, split: str, values: dict) -> None:
        stamp = int(time.time() * 1000)
        metrics = [self.metric(f"{split}/{name}", float(values[name]), stamp, int(step)) for name in sorted(values)]
        metrics.append(self.metric("epoch", float(epoch), stamp, int(step)))
        self.client.log_batch(self.run_id, metrics=metrics)

    def close(self) -> None:
        self.client.set_terminated(self.run_id)


class WandbLogger:
    """Metrics ``split/name`` at ``step`` in a Weights & Biases run under ``<run>/wandb``
    (project ``project``, run name ``name`` or the run directory's name, ``config`` recorded
    as the run's config), offline unless ``mode = "online"``; console capture and system
    statistics are off so the script's own output is untouched."""

    def __init__(self, run_dir, project: str = "specc", name: str | None = None, config=(), mode: str = "offline"):
        wandb = _require("wandb", "wandb", "wandb")
        self.wandb = wandb
        folder = Path(run_dir).resolve() / "wandb"
        identifier = _stored_id(folder, lambda: uuid.uuid4().hex[:8])
        settings = wandb.Settings(console="off", silent=True, x_disable_stats=True)
        self.run = wandb.init(
            project=project,
            name=name or Path(run_dir).name,
            config=dict(config or {}),
            dir=str(folder),
            mode=mode,
            id=identifier,
            resume="allow",
            settings=settings,
        )
        self.pending: dict = {}
        self.pending_step: int | None = None

    def write_many(self, step: int, epoch: int, split: str, values: dict) -> None:
        """Rows of one step are gathered and sent together (W&B wants increasing steps)."""
        if self.pending_step is not None and int(step) != self.pending_step:
            self.flush()
        self.pending_step = int(step)
        self.pending.update({f"{split}/{name}": float(values[name]) for name in sorted(values)})
        self.pending["epoch"] = int(epoch)

    def flush(self) -> None:
        if self.pending:
            self.run.log(self.pending, step=self.pending_step)
        self.pending, self.pending_step = {}, None

    def close(self) -> None:
        """Finish the run and stop W&B's service: ``finish()`` alone returns before the
        service has written the offline run file; ``teardown()`` waits for it."""
        self.flush()
        self.run.finish()
        self.wandb.teardown()


LOGGERS = {"tensorboard": TensorBoardLogger, "mlflow": MlflowLogger, "wandb": WandbLogger}


def _kind_and_arguments(item) -> tuple[str, dict]:
    """``"wandb"``, ``("wandb", {"project": "p"})`` or ``{"kind": "wandb", "project": "p"}``."""
    if isinstance(item, str):
        return item, {}
    if isinstance(item, dict):
        arguments = item.get("arguments", {k: v for k, v in item.items() if k != "kind"})
        return item["kind"], {key: value for key, value in (arguments or {}).items() if value is not None}
    kind, arguments = item
    return kind, {key: value for key, value in (arguments or {}).items() if value is not None}


def make_loggers(kinds, run_dir, arguments_by_kind=None) -> list:
    """Loggers other than csv (which is always on); unknown kinds are a ValueError; a kind
    whose package is missing is a SystemExit naming it. ``arguments_by_kind`` maps a kind to
    its keyword arguments (the spec's ``wandb(project = "x")``). In a data-parallel run only
    the main process (rank 0) makes them: elsewhere the list is empty."""
    made, main = [], is_main_process()
    for item in kinds:
        kind, arguments = _kind_and_arguments(item)
        arguments = {**(arguments_by_kind or {}).get(kind, {}), **arguments}
        if kind == "csv":
            continue
        if kind not in LOGGERS:
            raise ValueError(f"logger {kind!r} is not available in this runtime; available: csv, {', '.join(LOGGERS)}")
        if main:
            made.append(LOGGERS[kind](run_dir, **arguments))
    return made


class FanOut:
    """A ``MetricsLog`` that also writes every row to ``loggers`` (for a backend whose loop
    writes through one log object, such as Lightning's ``MetricsLogger``); ``close()``
    closes them all. Other attributes are the log's."""

    def __init__(self, log, loggers):
        self.log, self.loggers = log, list(loggers)

    def write_many(self, step: int, epoch: int, split: str, values: dict) -> None:
        self.log.write_many(step, epoch, split, values)
        for logger in self.loggers:
            logger.write_many(step, epoch, split, values)

    def close(self) -> None:
        self.log.close()
        for logger in self.loggers:
            logger.close()

    def __getattr__(self, name):
        return getattr(self.log, name)
