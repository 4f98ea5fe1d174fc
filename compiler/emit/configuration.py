"""The configuration block every backend prints at the top of its script, and the IR
values it is built from.

Each backend decides which values the block shows (its ``config(program, context)`` hook);
what they share is here: IR values as plain Python (:func:`plain`), the spec origin of a
key (:func:`provenance_lookup`), one configuration line (:func:`entry`) and the block
itself, its groups in the order the scripts print them (:class:`ConfigurationBlock`).
"""

from __future__ import annotations

import inspect

from specc.compiler.emit.filters import identifier
from specc.runtime.data import SOURCES

# the configuration block's groups, in the order every script prints them
GROUPS = ("data", "objective", "optimization", "training", "checkpoints", "evaluation", "user code")
USER_CODE = GROUPS[-1]  # python(...) components: compiler/emit/extensions.py


def plain(value):
    """IR values as plain Python: tuples of (str, value) pairs become dicts."""
    if isinstance(value, tuple) and value and all(
        isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str) for item in value
    ):
        return {key: plain(item) for key, item in value}
    if isinstance(value, tuple):
        return tuple(plain(item) for item in value)
    return value


# schedule arguments a script leaves out at the runtime's default (so that specs that do
# not write them render as before)
SCHEDULE_DEFAULTS_LEFT_OUT = {"warmup_from": "one"}


def schedule_arguments(schedule) -> dict:
    """A schedule's arguments as a dict (empty for none), without the arguments at the
    runtime's default that scripts leave out (``SCHEDULE_DEFAULTS_LEFT_OUT``)."""
    arguments = (plain(schedule.arguments) or {}) if schedule is not None else {}
    return {name: value for name, value in arguments.items() if SCHEDULE_DEFAULTS_LEFT_OUT.get(name, ...) != value}


def plain_arguments(component) -> dict:
    """A component's arguments as a dict (empty when it has none)."""
    return plain(component.arguments) or {}


def source_default(kind: str, name: str):
    """The runtime data source's default for its argument ``name`` (``inspect.Parameter.empty``:
    none, or no such source)."""
    if kind not in SOURCES:
        return inspect.Parameter.empty
    parameter = inspect.signature(SOURCES[kind]).parameters.get(name)
    return inspect.Parameter.empty if parameter is None else parameter.default


def provenance_lookup(program):
    """``origin(*keys)``: the spec origin of the first key the provenance holds, else ""."""
    origins = {item.key: item.origin for item in program.provenance}

    def origin(*keys: str) -> str:
        for key in keys:
            if key in origins:
                return origins[key]
        return ""

    return origin


def entry(name: str, value, origin: str = "", lines=None) -> dict:
    """One configuration line ``name = value  # origin``; ``lines``: a dict value written one
    key per line (``{"key", "value", "origin"}`` each)."""
    return {"name": identifier(name), "value": value, "origin": origin, "lines": lines}


class ConfigurationBlock:
    """The block being built: its groups (in :data:`GROUPS` order) and the names taken."""

    def __init__(self):
        self.groups: dict[str, list[dict]] = {title: [] for title in GROUPS}
        self.names: set[str] = set()

    def add_code(self, name: str, code: str, origin: str = "") -> str:
        """A line ``name = code`` of the user-code group, ``code`` printed as it is (once per
        name); the name."""
        name = identifier(name)
        if name not in self.names:
            self.names.add(name)
            self.groups.setdefault(USER_CODE, []).append({"name": name, "code": code, "origin": origin, "user": True})
        return name

    def blocks(self) -> list[dict]:
        """``[{"title", "entries"}]`` of the groups holding a line."""
        return [{"title": title, "entries": entries} for title, entries in self.groups.items() if entries]
