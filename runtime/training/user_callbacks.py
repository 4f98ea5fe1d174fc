"""The user's callbacks (``train { callbacks = [python("my_callbacks.py", "PrintEvery")] }``),
called the same way by the JAX, MLX and Lightning scripts.

A callback is a class of the user's with any of these methods (docs/language.md "Extending
specc"); each receives plain Python values, never a framework's arrays:

- ``on_train_start(self, info)``: ``info`` is ``{"backend", "max_steps", "seed", "run_dir",
  "start_step"}`` (``start_step``: 0, or the step a resumed run starts from);
- ``on_step_end(self, step, values)``: at every step that writes a train row to
  ``metrics.csv`` (every ``train.log_every`` steps and the last), with that row's values
  as floats (``{"loss": 0.41, ...}``: means over the steps since the previous row; the
  timing ``steps_per_s`` left out, it differs between runs);
- ``on_evaluation_end(self, step, metrics)``: after each evaluation of the val split, with
  ``{"val/loss": ..., "val/<metric>": ...}``;
- ``on_checkpoint_saved(self, step, path)``: ``path`` the checkpoint's folder (a ``str``);
- ``on_train_end(self, info)``: ``info`` as at the start plus ``"step"`` (the last step) and
  ``"stopped"`` (why a callback stopped the run, or None).

``on_step_end`` and ``on_evaluation_end`` stop the run by returning ``"stop"``: the run
ends after that step as it does at ``max_steps`` (evaluated, a checkpoint at that step,
``on_train_end``), on every backend at the same step, and prints one line saying which
callback stopped it. Any other return value than None (or "stop" from another hook) is a
mistake and ends the run with one line naming the callback.

:class:`UserCallbacks` is also a logger (``write_many``): the scripts put it beside
``metrics.csv`` (``training.FanOut``), so the hooks see exactly the rows the run logs, and
no backend reads a value from its device for them that it does not read for the log. Hooks
fire between :meth:`train_start` and :meth:`train_end` only (``--eval-only`` calls none).
An exception in a hook ends the run with one line naming the user's file and line
(``UserCodeError``).

In a run of several processes the hooks run on the main process (rank 0) only, as the
loggers write there only; every process still sees every row, and at each train and val
row the main process's stop decision becomes every process's (``share_stop``, a collective
of the backend that all processes call at that row), so all stop after the same step.
"""

from __future__ import annotations

# extensions imports this package: its attributes are read at run time, not at import
from specc.runtime import extensions
from specc.runtime.training.distributed import is_main_process
from specc.runtime.training.progress import print_line

HOOKS = ("on_train_start", "on_step_end", "on_evaluation_end", "on_checkpoint_saved", "on_train_end")
STOPPING_HOOKS = ("on_step_end", "on_evaluation_end")
STOP = "stop"
TIMINGS = frozenset({"steps_per_s"})  # logged values that differ from run to run


class UserCallbacks:
    """The hooks of the user's callback classes, one instance of each per run.

    ``references``: the :class:`~specc.runtime.extensions.Reference` of each class, in the
    spec's order; ``backend``: the script's backend (``info["backend"]``).
    ``stop_requested`` is read by the JAX and MLX loops; ``on_stop`` (Lightning's adapter
    sets it to one setting ``trainer.should_stop``) is called once when a hook asks to stop.
    ``share_stop(decision) -> decision``: the main process's decision on every process
    (``main_process_decision`` of the backend's training module; Lightning's adapter sets a
    broadcast); None in a run that never has several processes.
    """

    def __init__(self, references, backend: str, share_stop=None):
        self.references = list(references)
        self.backend = backend
        self.share_stop = share_stop
        self.main = is_main_process()  # the hooks run here only
        self.instances: list[tuple] | None = None  # None: not started (or ended)
        self.info: dict = {}
        self.stop_requested = False
        self.stop_reason: str | None = None
        self.on_stop = None

    # ------------------------------------------------------------------ the run's events

    def train_start(self, step: int, max_steps: int, seed: int, run_dir) -> None:
        """Make each callback (``Name(**arguments)``) and call ``on_train_start``."""
        self.instances = [(reference, _create(reference)) for reference in self.references] if self.main else []
        self.info = {"backend": self.backend, "max_steps": int(max_steps), "seed": int(seed), "run_dir": str(run_dir)}
        self.info["start_step"] = int(step)
        self._dispatch("on_train_start", None, dict(self.info))

    def write_many(self, step: int, epoch: int, split: str, values: dict) -> None:
        """A row of the run's log: a step's train row (the one with ``steps_per_s``; an
        epoch's learning-rate row is not one) calls ``on_step_end``, a val row
        ``on_evaluation_end``."""
        if self.instances is None:
            return
        if split == "train" and "steps_per_s" in values:
            floats = {name: float(value) for name, value in values.items() if name not in TIMINGS}
            self._dispatch("on_step_end", int(step), int(step), floats)
            self._agree(int(step))
        elif split == "val":
            self._dispatch("on_evaluation_end", int(step), int(step), {f"val/{name}": float(value) for name, value in values.items()})
            self._agree(int(step))

    def checkpoint_saved(self, step: int, path) -> None:
        """``on_checkpoint_saved(step, path)`` once the checkpoint of ``step`` is complete."""
        if self.instances is not None and path is not None:
            self._dispatch("on_checkpoint_saved", int(step), int(step), str(path))

    def train_end(self, step: int) -> None:
        """``on_train_end(info)``, once; no hook fires after it."""
        if self.instances is None:
            return
        self._dispatch("on_train_end", int(step), {**self.info, "step": int(step), "stopped": self.stop_reason})
        self.instances = None

    def flush(self) -> None:
        """A logger's: nothing is buffered."""

    def close(self) -> None:
        """A logger's: the callbacks end with :meth:`train_end`, not with the log."""

    # ------------------------------------------------------------------ calling the hooks

    def _dispatch(self, hook: str, step: int | None, *arguments) -> None:
        for reference, instance in self.instances or ():
            method = getattr(instance, hook, None)
            if method is None:
                continue
            action = f"{hook} at step {step}" if step is not None else hook
            result = reference.call(method, action, *arguments)
            if result is None:
                continue
            if isinstance(result, str) and result == STOP and hook in STOPPING_HOOKS:
                self._request_stop(f'{reference.name}.{hook} ({reference.file}) returned "stop"', step)
                continue
            raise extensions.UserCodeError(f"{reference.file}: {reference.name}.{hook} returned {_shown(result)}: " + _allowed(hook))

    def _agree(self, step: int) -> None:
        """Every process reaches this at the same rows: the main process's stop is theirs."""
        if self.share_stop is None or not self.share_stop(self.stop_requested) or self.stop_requested:
            return
        self.stop_requested, self.stop_reason = True, "the main process's callbacks asked to stop"
        if self.on_stop is not None:
            self.on_stop()

    def _request_stop(self, reason: str, step: int) -> None:
        """The first request wins; the run ends after ``step`` (the loops read
        ``stop_requested``, Lightning's adapter gets ``on_stop``)."""
        if self.stop_requested:
            return
        self.stop_requested, self.stop_reason = True, reason
        print_line(f"stopping after step {step}: {reason}")
        if self.on_stop is not None:
            self.on_stop()


def _create(reference):
    """A new instance for this run (``Reference.create`` would share one per process)."""
    return reference.call(reference.load(), "creating it", **reference.arguments)


def _allowed(hook: str) -> str:
    if hook in STOPPING_HOOKS:
        return 'a hook returns None to go on, or "stop" to end the run after this step'
    return f'{hook} returns None (only on_step_end and on_evaluation_end can stop the run, by returning "stop")'


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
