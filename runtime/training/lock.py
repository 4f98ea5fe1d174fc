"""One process per run directory: an OS lock (``fcntl.flock``) on ``<run>/.lock``, held for
the life of the process.

The kernel releases a ``flock`` when its holder dies, however it dies, so a lock can never
outlive its process; the holder's pid is written into the file for the messages. A second
process is refused with the holder's pid; a pid left in the file by a process that died
without releasing it (killed) is reported and the lock taken over. A clean exit empties the
file (it is never deleted: deleting a locked file lets two processes lock two files).
"""

from __future__ import annotations

import atexit
import os
import sys
from pathlib import Path

from specc.runtime.training.failures import storage_failure

LOCK_FILE = ".lock"

_held: dict[str, int] = {}  # run directory (real path) -> descriptor of its locked .lock


class RunDirectoryLocked(SystemExit):
    """Another live process holds the run directory."""


def lock_run_directory(run_dir) -> Path:
    """Create ``run_dir`` if needed and lock it for this process (again: no-op). Exit with a
    message naming the holder's pid when another process holds it; ``RunError`` when the
    directory cannot be written."""
    run_dir = Path(run_dir)
    path = run_dir / LOCK_FILE
    key = os.path.realpath(run_dir)
    if key in _held:
        return path
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        raise storage_failure(error, f"creating the run directory lock {str(path)!r}") from error
    if not _try_lock(descriptor):
        holder = _recorded_pid(descriptor)
        os.close(descriptor)
        who = f"process {holder}" if holder else "another process"
        raise RunDirectoryLocked(
            f"run directory {str(run_dir)!r} is in use by {who} (it holds {str(path)!r}); wait for it to "
            f"finish or stop it, or choose another --out-dir"
        )
    stale = _recorded_pid(descriptor)
    if stale and stale != os.getpid():
        print(
            f"specc: run directory {str(run_dir)!r} was locked by process {stale}, which ended without "
            f"releasing it (killed?); taking the lock over",
            file=sys.stderr,
        )
    try:
        _record_pid(descriptor, os.getpid())
    except OSError as error:
        os.close(descriptor)
        raise storage_failure(error, f"writing the run directory lock {str(path)!r}") from error
    _held[key] = descriptor
    return path


def release_run_directory(run_dir) -> None:
    """Empty the lock file and release it (at exit, or for tests running a script twice)."""
    descriptor = _held.pop(os.path.realpath(Path(run_dir)), None)
    if descriptor is None:
        return
    try:
        os.ftruncate(descriptor, 0)
    except OSError:
        pass  # a full or read-only disk: the next run reports a stale pid, nothing worse
    os.close(descriptor)  # closing the last descriptor releases the flock


def _release_all() -> None:
    for run_dir in list(_held):
        release_run_directory(run_dir)


atexit.register(_release_all)


def _try_lock(descriptor: int) -> bool:
    import fcntl

    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _recorded_pid(descriptor: int) -> int | None:
    try:
        text = os.pread(descriptor, 64, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _record_pid(descriptor: int, pid: int) -> None:
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, f"{pid}\n".encode("ascii"), 0)
    os.fsync(descriptor)
