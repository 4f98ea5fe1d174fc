"""``data { render = ... }``: how a data source renders parameters to signals for the metrics
on signals (``log_spectral_distance``), checked at lint (E0563-E0565):

- E0563, ``render`` with no metric on signals in ``eval.metrics``: it would have no effect;
- E0564, ``signal_field`` (the stored target signals) that names no float field of the data,
  or, with ``ksin(signal_length = L)``, a field whose examples are not ``f32[L]``;
- E0565, ``ksin(...)`` rendering a target that is not ``[f_1..f_k, a_1..a_k]``: a float field
  whose examples are one axis of even size.

The user's ``python("synth.py", "render")`` is read (never run) by ``check.extensions``
(E0530-E0533, the renderer role: ``render(params, **arguments)``). Which metrics need
signals, and which sources render them without ``render`` (``ksin``), is the vocabulary's
(``needs = ("signals", ...)``, ``provides = ("signals",)``; E0518 in ``cross_field``).
"""

from __future__ import annotations

from specc.compiler.check.cross_field import Facts
from specc.compiler.vocabulary import registry
from specc.dsl.diagnostics import printable
from specc.runtime.checks import format_shape


def check_render(facts: Facts, fields: dict | None, target: str | None) -> None:
    """E0563-E0565 on the data section's ``render`` (module docstring)."""
    render = facts.value("data", "render")
    if not isinstance(render, dict):
        return
    if not _signal_metrics(facts):
        facts.error(
            "E0563",
            "`render` has no effect: no metric in `eval.metrics` compares signals",
            facts.span("data", "render"),
            "add log_spectral_distance to `eval.metrics`, or remove `render`",
        )
        return
    if fields is None:
        return
    _check_signal_field(facts, render, fields)
    if render.get("kind") == "ksin" and target in fields:
        _check_ksin_target(facts, fields, target)


def _signal_metrics(facts: Facts) -> list[str]:
    found = []
    for metric in facts.value("eval", "metrics") or ():
        component = registry.lookup("metric", metric.get("kind")) if isinstance(metric, dict) else None
        if component is not None and "signals" in component.needs:
            found.append(component.name)
    return found


def _check_signal_field(facts: Facts, render: dict, fields: dict) -> None:
    name = render.get("signal_field")
    if name is None:
        return
    span = facts.span("data", "render", render.get("kind"), "signal_field")
    field = fields.get(name)
    if field is None or field.dtype != "f32":
        floats = ", ".join(item for item in fields if fields[item].dtype == "f32") or "none"
        facts.error(
            "E0564",
            f"`signal_field` names `{printable(name)}`, which is no float field of the data",
            span,
            f"float fields: {floats}",
        )
        return
    length = render.get("signal_length")
    if render.get("kind") == "ksin" and tuple(field.shape) != (length,):
        facts.error(
            "E0564",
            f"field `{name}` is f32{format_shape(tuple(field.shape))} per example, but "
            f"ksin(signal_length = {length}) renders f32{format_shape((length,))}: the signals would not compare",
            span,
            f"set signal_length = {field.shape[-1] if field.shape else 1}, the length of the stored signals",
        )


def _check_ksin_target(facts: Facts, fields: dict, target: str) -> None:
    shape = tuple(fields[target].shape)
    if fields[target].dtype == "f32" and len(shape) == 1 and isinstance(shape[0], int) and shape[0] % 2 == 0:
        return
    facts.error(
        "E0565",
        f"ksin(...) renders parameters [f_1..f_k, a_1..a_k], but the target `{target}` is "
        f"{fields[target].dtype}{format_shape(shape)} per example",
        facts.span("data", "render"),
        "the target must be f32[2 * k]; render other parameters with python(\"synth.py\", \"render\")",
    )
