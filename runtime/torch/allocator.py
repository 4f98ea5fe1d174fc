"""How glibc's ``malloc`` keeps the memory torch frees, decided by the generated Lightning script.

torch's CPU tensors come from ``malloc``. glibc serves a large request (above a threshold that
starts at 128 KiB and moves with what is freed) with its own ``mmap`` and returns it to the
system when it is freed, and it gives the top of its heap back once more than ``trim``
bytes are free there. A training step allocates and frees the same activations and
gradients every step, so with those defaults many steps map fresh pages and fault every one
of them in again: on the conv net of docs/performance.md that was about 10% of the step.

:func:`keep_freed_memory` raises both thresholds (``mallopt(M_MMAP_THRESHOLD, 64 MiB)``,
``mallopt(M_TRIM_THRESHOLD, 256 MiB)``), so blocks below 64 MiB are reused from the heap and
up to 256 MiB of freed memory stay with the process. It is what ``MALLOC_MMAP_THRESHOLD_``
and ``MALLOC_TRIM_THRESHOLD_`` set at start-up, and a user who sets either variable keeps
their own values; on a C library other than glibc (macOS, musl) nothing changes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

M_TRIM_THRESHOLD = -1  # glibc's <malloc.h>
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 64 * 2**20  # blocks below this come from the heap (glibc's ceiling is 32 MiB on 32-bit)
TRIM_THRESHOLD = 256 * 2**20  # freed memory kept at the top of the heap before it is returned
VARIABLES = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")


def keep_freed_memory(environment=None, library=None) -> bool:
    """Raise glibc's mmap and trim thresholds (module docstring) unless the environment sets
    either; returns whether they were set. ``library``: the C library (tests pass a stand-in)."""
    environment = os.environ if environment is None else environment
    if any(environment.get(name) for name in VARIABLES) or not sys.platform.startswith("linux"):
        return False
    if library is None:
        try:
            library = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        except OSError:
            return False
    mallopt = getattr(library, "mallopt", None)
    if mallopt is None or not hasattr(library, "gnu_get_libc_version"):  # glibc only
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
