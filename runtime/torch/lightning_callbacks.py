"""The callbacks of a generated Lightning script: ``ProgressDisplay``, the progress bar the JAX
and MLX scripts draw, and ``UserCallbackHooks``, a Lightning
``Callback`` that drives a ``specc.runtime.training.user_callbacks.UserCallbacks`` as the
JAX and MLX loops do, so that the user's hooks fire at the same steps with the same values
on every backend.

The train and val rows reach the user's hooks through the run's log (the script puts the
``UserCallbacks`` beside ``metrics.csv``): Lightning logs a step's rows after every
``on_train_batch_end`` hook, so that is where a ``"stop"`` is known; it sets
``trainer.should_stop`` then, and Lightning evaluates, saves the end-of-run checkpoint
(``SpeccModelCheckpoint``) and leaves the loop after that step, as it does at
``max_steps``. Checkpoints are announced when ``SpeccCheckpointIO`` points ``last`` at them
(after the rows of their step are logged, as on the other backends).
"""

from __future__ import annotations

from lightning.pytorch.callbacks import Callback

from specc.runtime.training.progress import ProgressBar


class UserCallbackHooks(Callback):
    """Lightning's events as the user's hooks: ``on_train_start`` / ``on_train_end`` with
    the run's ``seed``, ``max_steps`` (the step the run stops at) and ``run_dir``; a stop
    request sets ``trainer.should_stop``; each checkpoint saved calls
    ``on_checkpoint_saved``."""

    def __init__(self, callbacks, seed: int, max_steps: int, run_dir):
        self.callbacks = callbacks
        self.seed, self.max_steps, self.run_dir = seed, max_steps, run_dir

    def setup(self, trainer, pl_module, stage: str) -> None:
        self.callbacks.on_stop = lambda: setattr(trainer, "should_stop", True)
        # rank 0's stop decision on every rank (DDP), where every rank logs the same row
        self.callbacks.share_stop = lambda decision: bool(trainer.strategy.broadcast(bool(decision), src=0))
        checkpoint_io = trainer.strategy.checkpoint_io
        listeners = getattr(checkpoint_io, "listeners", None)
        if listeners is not None and self.callbacks.checkpoint_saved not in listeners:
            listeners.append(self.callbacks.checkpoint_saved)

    def on_train_start(self, trainer, pl_module) -> None:
        self.callbacks.train_start(trainer.global_step, self.max_steps, self.seed, self.run_dir)

    def on_train_end(self, trainer, pl_module) -> None:
        self.callbacks.train_end(trainer.global_step)


class ProgressDisplay(Callback):
    """The progress bar of every backend (``specc.runtime.training.ProgressBar``: ``step
    120/1000 [===>   ] 12% 85.3 it/s 0:01<0:10 loss 0.41`` on stderr, drawn on a terminal only),
    redrawn every ``refresh_rate`` steps and at the trainer's ``max_steps``, with the loss of
    the last train row the run's ``MetricsLogger`` wrote. Drawn by the main process only. It
    replaces Lightning's ``TQDMProgressBar``, whose per-step bookkeeping cost the digits MLP
    about 7% of its CPU time a step (docs/performance.md), and shows the same line as the JAX and MLX
    scripts."""

    def __init__(self, refresh_rate: int):
        self.refresh_rate = refresh_rate
        self.bar, self.rows, self.total = None, None, None

    def on_train_start(self, trainer, pl_module) -> None:
        if trainer.is_global_zero:
            self.total = trainer.max_steps if trainer.max_steps > 0 else None
            self.rows = next((logger for logger in trainer.loggers if hasattr(logger, "last_train")), None)
            self.bar = ProgressBar(self.total)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_index) -> None:
        step = trainer.global_step
        if self.bar is not None and (step % self.refresh_rate == 0 or step == self.total):
            loss = None if self.rows is None else self.rows.last_train.get("loss")
            self.bar.update(step, {} if loss is None else {"loss": loss})

    def on_train_end(self, trainer, pl_module) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
