"""Signals for the metrics on signals (``log_spectral_distance``): the code rendering the
generated parameters, and the target signals they are compared with.

A ``ksin`` source renders with its own ``signal_length`` and ``break_symmetry``
(``specc_data.ksin_signal``) and stores the target signal (``batch["signal"]``). A source
with ``render = ...`` renders with ``specc_data.render_signals(params, {...})`` (the mapping
as the spec wrote it, without ``signal_field``); its target signals are the field named by
``signal_field``, or else the target parameters rendered the same way. Each backend passes
how it turns its arrays into numpy and back (``to_numpy``, ``from_numpy``).
"""

from __future__ import annotations

from collections.abc import Callable

from specc.compiler.emit.configuration import plain
from specc.compiler.emit.filters import literal


def render_value(program) -> dict | None:
    """The data section's ``render`` mapping, or None (a ``ksin`` source renders itself)."""
    value = (plain(program.data.source.arguments) or {}).get("render")
    return dict(value) if isinstance(value, dict) else None


def renderer_literal(program) -> str:
    """The mapping ``render_signals`` receives: the renderer's kind and arguments."""
    value = render_value(program) or {}
    shown = {key: item for key, item in value.items() if key != "signal_field"}
    return literal(shown)


def render_call(program, params: str, ksin_arguments: str | None = None) -> str:
    """The numpy signals of ``params`` (a numpy expression). A ``ksin`` source without
    ``render`` calls ``ksin_signal`` with ``ksin_arguments`` (the backend's code of its
    length and symmetry) or its literal values."""
    if render_value(program) is None:
        if ksin_arguments is None:
            source = plain(program.data.source.arguments) or {}
            length, symmetry = source.get("signal_length", 1024), bool(source.get("break_symmetry", False))
            ksin_arguments = f"{literal(length)}, {literal(symmetry)}"
        return f"specc_data.ksin_signal({params}, {ksin_arguments})"
    return f"specc_data.render_signals({params}, {renderer_literal(program)})"


def target_signals(program, to_numpy: Callable[[str], str], from_numpy: Callable[[str], str]) -> str:
    """The code of the target signals of ``batch``: the stored field, or the rendered target."""
    value = render_value(program)
    if value is None:
        return 'batch["signal"]'
    if value.get("signal_field"):
        return f"batch[{literal(value['signal_field'])}]"
    return from_numpy(render_call(program, to_numpy(f"batch[{literal(program.objective.target)}]")))
