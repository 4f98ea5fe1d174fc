"""Signals rendered from parameters, for the metrics on signals (``log_spectral_distance``):
seed 004's ``LogSpectralDistance.update(predicted_params, target_signal, synth_fn)``.

A ``ksin`` source renders its own parameters (``ksin_signal``). Any other source says how
with ``data { render = ... }``, a mapping the generated script passes as written:

- ``{"kind": "ksin", "signal_length": L, "break_symmetry": b}``: ``ksin_signal(params, L, b)``;
- ``{"kind": "python", "file": F, "name": N, "arguments": {...}}``: the user's function
  ``N(params, **arguments)`` of file ``F`` (imported once per process by
  ``specc.runtime.extensions``), given the parameters as a float32 numpy array ``[B, P]``
  and returning the signals, a float numpy array ``[B, ...]`` with one row per parameter row.

Rendering runs on the host in numpy, so every backend compares the same signals. What the
user's function returns is checked on every call: anything else is a ``UserCodeError``
naming the file and the function (one line, no traceback).
"""

from __future__ import annotations

import numpy as np

from specc.runtime import checks
from specc.runtime.data.ksin import ksin_signal
from specc.runtime.extensions import Reference

RENDERERS = ("ksin", "python")


def render_signals(params, renderer: dict) -> np.ndarray:
    """The signals of ``params`` (``[B, P]``, any array numpy takes) as ``renderer`` (module
    docstring) makes them: float32 ``[B, ...]``."""
    renderer = dict(renderer)
    kind = renderer.get("kind")
    checks.check_choice("render_signals", "kind", kind, RENDERERS)
    params = np.asarray(params, dtype=np.float32)
    if kind == "ksin":
        return ksin_signal(params, int(renderer.get("signal_length", 1024)), bool(renderer.get("break_symmetry", False)))
    reference = Reference(renderer["file"], renderer["name"], dict(renderer.get("arguments") or {}))
    signals = reference.call(reference.load(), "rendering signals", params, **reference.arguments)
    return checked_signals(reference, signals, len(params))


def checked_signals(reference: Reference, signals, rows: int) -> np.ndarray:
    """The user's ``signals`` as float32 when they are a float array of ``rows`` rows."""
    if not isinstance(signals, np.ndarray):
        raise reference.error(f"returned {type(signals).__name__}; a renderer returns a numpy array of signals")
    if signals.ndim < 1 or len(signals) != rows or np.dtype(signals.dtype).kind != "f":
        raise reference.error(
            f"returned an array of shape {tuple(signals.shape)} and dtype {signals.dtype} for {rows} parameter rows; "
            f"a renderer returns float signals [{rows}, ...], one row per parameter row"
        )
    return signals.astype(np.float32, copy=False)
