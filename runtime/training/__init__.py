"""Backend-neutral helpers of the generated training scripts (numpy and stdlib only).

- ``parse_arguments(spec_name, argv=None)``: the command line;
- ``check_runtime(generated_with, ir_version)``, ``package_versions(names)``;
- ``start_run(arguments, spec_name, spec_hash, checkpoint_folder="checkpoints") -> RunStart``
  (locks the run directory, links its ``checkpoints`` to a ``train.checkpoint.dirpath``; None:
  the run writes no checkpoint; then
  ``resolve_start(out_dir, resume, eval_only, spec, allow_different_spec)``: the verified
  checkpoint to start from); ``prepare_run_directory(...)``;
- ``run_main(main)``: a ``RunError`` (damaged or mismatched checkpoint, full disk) ends the
  script with one line; ``lock_run_directory(run_dir)`` / ``release_run_directory(run_dir)``;
- ``MetricsLog(path, resume_step=None)``, ``read_metrics(path)``;
- ``write_checkpoint(run_dir, step, model, optimizer, manifest)``, ``read_checkpoint(path)``,
  ``latest_checkpoint(run_dir)`` (the ``last`` link), ``newest_checkpoint(run_dir)`` (it, or
  without one the newest by step), ``prune_checkpoints(run_dir, keep, monitor, mode)`` (``keep``
  ``"all"``: nothing pruned);
- ``checkpoint_name(pattern, step, epoch, metrics)``: a checkpoint folder's name;
- ``fraction_steps(fraction, steps_per_epoch)``, ``due_in_epoch(step, every, steps_per_epoch)``;
- ``EarlyStopping(monitor, patience, mode, min_delta, verbose)``; ``StopRequest()``;
  ``ProgressBar(total)``; ``make_loggers(kinds, run_dir)``;
- ``flatten(tree)`` / ``subtree(flat, prefix)`` for optimizer state;
- ``MeanTracker``, ``NonFiniteLoss``, ``first_bad_step(flag)`` (loop guards);
- ``UserCallbacks(references, backend)``: the user's callbacks (``train.callbacks``).
"""

from specc.runtime.training.arguments import build_parser, evaluated_splits, parse_arguments
from specc.runtime.training.checkpoints import (
    Checkpoint,
    checkpoint_name,
    latest_checkpoint,
    list_checkpoints,
    newest_checkpoint,
    prune_checkpoints,
    read_checkpoint,
    write_checkpoint,
)
from specc.runtime.training.early_stopping import EarlyStopping
from specc.runtime.training.failures import CheckpointMismatch, DamagedCheckpoint, RunError, run_main
from specc.runtime.training.lock import lock_run_directory, release_run_directory
from specc.runtime.training.intervals import due_in_epoch, fraction_steps
from specc.runtime.training.guards import MeanTracker, NonFiniteLoss, first_bad_step
from specc.runtime.training.loggers import FanOut, make_loggers
from specc.runtime.training.metrics_log import MetricsLog, read_metrics
from specc.runtime.training.progress import ProgressBar
from specc.runtime.training.rundir import RunStart, prepare_run_directory, resolve_start, start_run
from specc.runtime.training.signals import StopRequest
from specc.runtime.training.tree import flatten, subtree
from specc.runtime.training.user_callbacks import UserCallbacks
from specc.runtime.training.version import check_runtime, package_versions

__all__ = [
    "build_parser", "evaluated_splits", "parse_arguments", "Checkpoint", "latest_checkpoint", "list_checkpoints",
    "newest_checkpoint", "prune_checkpoints", "read_checkpoint", "write_checkpoint", "EarlyStopping", "MeanTracker",
    "NonFiniteLoss", "first_bad_step", "FanOut", "make_loggers", "MetricsLog",
    "read_metrics", "ProgressBar", "RunStart", "prepare_run_directory", "resolve_start",
    "StopRequest", "flatten", "subtree", "check_runtime", "package_versions", "checkpoint_name",
    "due_in_epoch", "fraction_steps", "start_run", "run_main", "RunError", "DamagedCheckpoint",
    "CheckpointMismatch", "lock_run_directory", "release_run_directory", "UserCallbacks",
]
