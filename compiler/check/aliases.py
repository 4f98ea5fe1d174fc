"""Old names of keys that specs written for a seed's earlier version still use: each is
accepted with a warning (E0542) and read as the key it became, before validation, so every
later stage (validation, lowering, provenance, the script) sees only the current name.

Seed 003's ``AdversarialLossCalculator`` still takes ``adversarial_warmup_steps`` with a
``DeprecationWarning``; specc reads it as ``objective adversarial { adversarial_warmup }``.
Writing both names is an error (E0542): which one would win is not obvious.
"""

from __future__ import annotations

from specc.dsl.diagnostics import Diagnostic

# (section kind, component) -> {old key: current key}
ALIASES = {("objective", "adversarial"): {"adversarial_warmup_steps": "adversarial_warmup"}}


def apply_aliases(resolution, diagnostics: list) -> None:
    """Rename every old key of the resolved sections to its current name (module docstring)."""
    for section in resolution.sections.values():
        for old, new in ALIASES.get((section.kind, section.component), {}).items():
            if old not in section.entries:
                continue
            span = section.key_spans.get(old, section.entries[old].span)
            if new in section.entries:
                diagnostics.append(
                    Diagnostic(
                        "E0542",
                        f"`{old}` and `{new}` are the same key (`{old}` is its old name): write it once",
                        span,
                        help=f"remove `{old}`",
                    )
                )
                del section.entries[old]
                continue
            diagnostics.append(
                Diagnostic(
                    "E0542",
                    f"`{old}` is the old name of `{new}`; it is read as `{new}`",
                    span,
                    help=f"write `{new} = ...` (the old name may go in a later version)",
                    severity="warning",
                )
            )
            section.entries[new] = section.entries.pop(old)
            section.key_spans[new] = section.key_spans.pop(old, span)
