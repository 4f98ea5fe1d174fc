"""The user's callbacks in a generated Lightning script: ``UserCallbackHooks``, a Lightning
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
