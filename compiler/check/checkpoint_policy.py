"""The checkpoint policy of ``train { checkpoint { ... } }`` (docs/checkpoints.md, "Policy"):
the keys that would have no effect, and the folder checkpoints go to.

- E0543, a checkpoint key without effect: any other key beside ``enable = false`` (the run
  writes no checkpoint), ``monitor`` beside ``keep = all`` (nothing is ranked: every
  checkpoint is kept);
- E0519, ``dirpath`` as a path the script opens (not empty, no control character, short
  enough; ``external_names.check_input_path``), and a folder of its own: not the run
  directory itself (``.``), not a folder above it (``..``, ``/``), and not inside
  ``checkpoints``, the run directory's link to it.

``every`` and ``every_n_epochs`` together are a checkpoint at both (no longer E0515).
"""

from __future__ import annotations

import posixpath
from typing import TYPE_CHECKING

from specc.compiler.check.external_names import check_input_path, printable

if TYPE_CHECKING:  # cross_field imports this module for its RULES
    from specc.compiler.check.cross_field import Facts

DEFAULT_FOLDER = "checkpoints"  # the registry's dirpath default: the run directory's link to a dirpath


def written_keys(facts: Facts) -> list[str]:
    """The keys written in ``train.checkpoint`` (or given with ``--set``), in order."""
    section = facts.section("train")
    if section is None or "checkpoint" not in section.section.children:
        return []
    return [loc[1] for loc in section.spans if len(loc) == 2 and loc[0] == "checkpoint"]


def rule_checkpoint_policy(facts: Facts) -> None:
    checkpoint = facts.value("train", "checkpoint")
    if not isinstance(checkpoint, dict):
        return
    written = written_keys(facts)
    if checkpoint.get("enable") is False:
        for key in written:
            if key != "enable":
                facts.error(
                    "E0543",
                    f"checkpoint `{key}` has no effect: `enable = false` writes no checkpoint",
                    facts.span("train", "checkpoint", key),
                    f"remove `{key}`, or `enable = false` to write checkpoints",
                )
        return
    if checkpoint.get("keep") == "all" and "monitor" in written and checkpoint.get("monitor") is not None:
        facts.error(
            "E0543",
            "checkpoint `monitor` has no effect: `keep = all` keeps every checkpoint, so none is ranked",
            facts.span("train", "checkpoint", "monitor"),
            "remove `monitor`, or keep a number of the best (`keep = 3`)",
        )
    if "dirpath" in written and isinstance(checkpoint.get("dirpath"), str):
        check_dirpath(facts, checkpoint["dirpath"])


def check_dirpath(facts: Facts, path: str) -> None:
    """E0519: a path the script can open, naming a folder of the checkpoints' own."""
    span = facts.span("train", "checkpoint", "dirpath")
    before = len(facts.diagnostics)
    check_input_path(facts, "dirpath", path, span)
    if len(facts.diagnostics) > before:
        return
    normal = posixpath.normpath(path)
    parts = normal.split("/")
    if normal == ".":
        problem = "names the run directory itself: checkpoints need a folder of their own"
    elif normal == "/" or all(part in ("", "..") for part in parts):
        problem = "names a folder above the run directory, which holds more than this run's checkpoints"
    elif parts[0] == DEFAULT_FOLDER and len(parts) > 1:
        problem = f"is inside `{DEFAULT_FOLDER}`, which the run directory links to the checkpoint folder"
    else:
        return
    facts.error("E0519", f"`dirpath` {printable(path)} {problem}", span, 'e.g. dirpath = "/scratch/run_a" or "ckpt"')


RULES = (rule_checkpoint_policy,)
