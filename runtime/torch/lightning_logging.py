"""Lightning's ``Logger`` of the generated PyTorch Lightning scripts: ``MetricsLogger``
writes the run's ``metrics.csv`` through a ``specc.runtime.training.MetricsLog``."""

from __future__ import annotations

from lightning.pytorch.loggers import Logger
from lightning.pytorch.utilities.rank_zero import rank_zero_only

from specc.runtime.training.metrics_log import SPLITS  # train, val, test, train_eval (eval.on_train)


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

    ``log_metrics`` runs on every rank of a DDP run (the values are reduced over the ranks,
    ``sync_dist``): the ``MetricsLog`` and the other loggers write on the main process only,
    and the user's callbacks, which run there too, share their stop with every rank at the
    same row (``UserCallbacks.share_stop``).
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
        self.last_train: dict[str, float] = {}  # the last train row's values (the progress bar's loss)

    @property
    def name(self) -> str:
        return "specc"

    @property
    def version(self) -> str:
        return "0"

    @rank_zero_only
    def log_hyperparams(self, params, *args, **kwargs) -> None:
        """Hyperparameters live in spec.resolved.mf, not in metrics.csv."""

    def log_metrics(self, metrics: dict, step: int | None = None) -> None:  # every rank: see the class
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
        self.last_train = rows.get("train", self.last_train)
        for split in SPLITS:
            if split in rows:
                self.metrics_log.write_many(row_step, self.epoch, split, rows[split])

    @rank_zero_only
    def save(self) -> None:
        self.metrics_log.flush()

    @rank_zero_only
    def finalize(self, status: str) -> None:
        self.metrics_log.flush()
