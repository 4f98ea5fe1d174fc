"""A watchdog that ends a data-parallel rank whose peers have stopped.

MLX's ring backend has no timeout: when one rank dies (killed, out of memory, a crashed
node), the others wait in their next ``all_sum`` forever, holding the GIL, so no thread of
theirs can notice. :class:`PeerWatchdog` starts a small watcher *process* beside the rank;
the rank beats (one byte on a pipe) every time its loader hands out a batch. When no beat
has come for ``timeout`` seconds the watcher prints one line and SIGKILLs the rank (SIGTERM
does not end a process blocked in the ring's receive), so the job ends and can be resumed
(``--resume auto``: the last checkpoint is complete, see docs/distributed.md). When the rank
ends by itself, the pipe closes and the watcher leaves quietly.

``SPECC_PEER_TIMEOUT`` (seconds, default 1800, as NCCL's default) sets the timeout; ``0``
turns the watchdog off. A beat is a batch, training or evaluation, so the timeout bounds the
time of one step (or one evaluation batch, sampling included), not of a run.
"""

from __future__ import annotations

import os
import subprocess
import sys

DEFAULT_TIMEOUT = 1800.0
VARIABLE = "SPECC_PEER_TIMEOUT"

# The watcher: reads beats from stdin; on silence, one line on stderr and SIGKILL of the rank.
WATCHER = """
import os, select, signal, sys
rank, pid, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
while True:
    ready, _, _ = select.select([0], [], [], timeout)
    if not ready:
        sys.stderr.write(
            f"rank {rank}: no batch for {timeout:g} s: another rank has stopped (a data-parallel "
            f"run cannot go on without it); ending this rank. Resume with --resume auto "
            f"({VARIABLE} sets the timeout)\\n"
        )
        sys.stderr.flush()
        os.kill(pid, signal.SIGKILL)
        break
    if not os.read(0, 4096):  # the rank ended: its end of the pipe closed
        break
""".replace("{VARIABLE}", VARIABLE)


def peer_timeout(environ=None) -> float:
    """The watchdog's timeout in seconds (``SPECC_PEER_TIMEOUT``; 0: off)."""
    text = (os.environ if environ is None else environ).get(VARIABLE, "").strip()
    if not text:
        return DEFAULT_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        raise SystemExit(f"{VARIABLE}={text!r}: give the timeout in seconds (0 turns the watchdog off)") from None
    if value < 0:
        raise SystemExit(f"{VARIABLE}={text!r}: give the timeout in seconds (0 turns the watchdog off)")
    return value


class PeerWatchdog:
    """The watcher process of this rank (module docstring); :meth:`beat` after each batch."""

    def __init__(self, rank: int, timeout: float):
        self.process = subprocess.Popen(
            [sys.executable, "-c", WATCHER, str(rank), str(os.getpid()), repr(float(timeout))],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, close_fds=True,
        )
        self.pipe = self.process.stdin

    def beat(self) -> None:
        """This rank made progress (one byte to the watcher; never blocks the rank for long:
        the watcher reads continuously)."""
        try:
            self.pipe.write(b".")
            self.pipe.flush()
        except (BrokenPipeError, OSError, ValueError):  # the watcher is gone: nothing to tell
            pass


def start_peer_watchdog(rank: int, environ=None) -> PeerWatchdog | None:
    """A watchdog for ``rank`` unless ``SPECC_PEER_TIMEOUT=0``."""
    timeout = peer_timeout(environ)
    return PeerWatchdog(rank, timeout) if timeout > 0 else None
