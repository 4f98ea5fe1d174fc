"""What stops a generated script with one line instead of a traceback.

- ``RunError``: a failure the user can act on (a damaged checkpoint, a checkpoint that does
  not fit the model, a full disk); ``run_main(main)`` (the scripts' ``__main__``) prints its
  message and exits with status 1;
- ``DamagedCheckpoint`` / ``CheckpointMismatch``: also ``ValueError``, so code that catches
  ``ValueError`` around a load keeps working;
- ``storage_failure(error, action)``: the ``RunError`` for an ``OSError`` while writing the
  run directory (disk full, read-only, permission denied).
"""

from __future__ import annotations

import errno
import sys


class RunError(Exception):
    """A failure of a run that ends it with this one line (``run_main``)."""


class DamagedCheckpoint(RunError, ValueError):
    """A checkpoint directory that cannot be read back as written (checksum, truncation,
    missing file, unreadable manifest)."""


class CheckpointMismatch(RunError, ValueError):
    """A readable checkpoint whose arrays do not fit the script's model or optimizer."""


DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
READ_ONLY = (errno.EROFS, errno.EACCES, errno.EPERM)


class NamedArrays(dict):
    """A checkpoint's arrays (``{name: array}``) that remember the checkpoint they came
    from (``source``), so a load that does not fit can name it."""

    def __init__(self, arrays=(), source: str | None = None):
        super().__init__(arrays)
        self.source = source


def mismatch(arrays, error: Exception) -> CheckpointMismatch:
    """``CheckpointMismatch`` for ``error`` raised while loading ``arrays`` into a model,
    naming the checkpoint when ``arrays`` remembers it (:class:`NamedArrays`)."""
    source = getattr(arrays, "source", None)
    if source is None:
        return CheckpointMismatch(str(error))
    return CheckpointMismatch(
        f"checkpoint {source!r} does not fit this script's model (a checkpoint of another model?): {error}"
    )


def storage_failure(error: OSError, action: str, kept: str = "") -> RunError:
    """``RunError`` for ``error`` raised while ``action`` (``"writing checkpoint 'x'"``);
    ``kept`` says what is left intact (``"the last checkpoint is ..."``)."""
    if error.errno in DISK_FULL:
        cause = "the disk is full"
    elif error.errno in READ_ONLY:
        cause = "the run directory is not writable (read-only or permission denied)"
    else:
        cause = error.strerror or type(error).__name__
    where = f" ({error.filename})" if getattr(error, "filename", None) else ""
    tail = f"; {kept}" if kept else ""
    return RunError(f"stopping the run: {cause} while {action}{where}{tail}")


def run_main(main, argv=None) -> None:
    """Call ``main(argv)``; a ``RunError`` ends the process with its message and status 1.
    Whatever ends the run early (a message, Ctrl-C, a traceback) starts on a line of its own,
    below the progress bar."""
    from specc.runtime.training.progress import finish

    try:
        main(argv)
    except RunError as error:
        finish()
        sys.stdout.flush()
        sys.exit(f"{error}")
    except BaseException:
        finish()
        raise
