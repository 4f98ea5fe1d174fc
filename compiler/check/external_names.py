"""Strings of a spec that become file names, paths or names outside the script, checked at
lint time with positions (issue 13), so that none fails at the first checkpoint or inside a
logger library:

- E0516, the checkpoint ``filename`` pattern (:func:`check_filename`): one folder name, from
  ``{step}``, ``{epoch}`` and logged metrics, whose longest rendering fits a file name;
- E0519, paths the script reads (:data:`INPUT_PATHS`: a data source's ``path``,
  ``codebooks``, ``meta`` and ``predict``, ``train.warm_start``, a loss term's ``codebook`` and ``centers``);
- E0520, names handed to a logger library (:data:`LOGGER_NAMES`: MLflow's ``experiment``,
  Weights & Biases' ``project``);
- E0521, the names of the models of a multi-model objective (adversarial): each is the
  attribute holding that model in PyTorch (``Models.vae``) and the prefix of its parameters in
  every checkpoint, so it cannot be a name ``torch.nn.Module`` already has (``training``).

Every other string key of the vocabulary is checked against the spec itself (metric names,
parameter prefixes, field names) or is an enum; ``tests/checker/test_external_names.py`` holds
the list and fails when the vocabulary gains a string key nobody placed.
"""

from __future__ import annotations

import re
from string import Formatter
from typing import TYPE_CHECKING

from specc.dsl.diagnostics import did_you_mean

if TYPE_CHECKING:
    from specc.compiler.check.cross_field import Facts

# (section or component, key) of the strings the script opens as files or folders
INPUT_PATHS = frozenset(
    {
        ("data", "path"),
        ("data", "codebooks"),
        ("data", "meta"),
        ("data", "predict"),
        ("train", "warm_start"),
        ("expected_codebook", "codebook"),
        ("expected_scalar", "centers"),
        ("python", "file"),
        ("normalize", "statistics"),
        ("tensorboard", "log_dir"),  # a folder the script writes, relative to where it runs
    }
)
# (logger, key) of the names a logger library receives
LOGGER_NAMES = frozenset(
    {("mlflow", "experiment"), ("mlflow", "run_name"), ("wandb", "project"), ("wandb", "name"), ("tensorboard", "name")}
)

PATH_BYTES = 4096  # PATH_MAX of Linux
NAME_BYTES = 255  # NAME_MAX: one file or folder name
LOGGER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}\Z")
FORMAT_NUMBER = 64  # the largest width or precision a filename field may ask for
# the longest value each field can format: a step and an epoch below 10**12, a metric of any
# float32 value (the largest finite, negative)
WORST_VALUES = {"step": 10**12 - 1, "epoch": 10**12 - 1}
WORST_METRIC = -3.4028234663852886e38

# attributes of torch.nn.Module (public ones; every name starting with `_` is refused too)
TORCH_MODULE_ATTRIBUTES = frozenset(
    """T_destination add_module apply bfloat16 buffers call_super_init children compile cpu cuda
    double dump_patches eval extra_repr float forward get_buffer get_extra_state get_parameter
    get_submodule half ipu load_state_dict modules mtia named_buffers named_children named_modules
    named_parameters parameters register_backward_hook register_buffer register_forward_hook
    register_forward_pre_hook register_full_backward_hook register_full_backward_pre_hook
    register_load_state_dict_post_hook register_load_state_dict_pre_hook register_module
    register_parameter register_state_dict_post_hook register_state_dict_pre_hook requires_grad_
    set_extra_state set_submodule share_memory state_dict to to_empty train training type xpu
    zero_grad""".split()
)


def unprintable(text: str) -> str | None:
    """The first character of ``text`` that cannot be in a name (a control character, a
    lone surrogate), written ``U+XXXX``; None when there is none."""
    for character in text:
        if not character.isprintable() or 0xD800 <= ord(character) <= 0xDFFF:
            return f"U+{ord(character):04X}"
    return None


# ---------------------------------------------------------------------- string values


def string_entries(values: dict, owner: str, location: tuple = ()):
    """``(container, key, owner, location)`` of every string in a section's validated values:
    ``container`` is the dict holding it, ``owner`` the section kind at the top or the component
    kind inside a component of a list (``loggers = [mlflow(experiment = "x")]``, a loss term),
    and ``location`` is where the checker keeps the value's span
    (``("loggers", 1, "mlflow", "experiment")``)."""
    for key, value in values.items():
        if isinstance(value, str):
            yield values, key, owner, location + (key,)
        elif isinstance(value, dict):
            kind = value.get("kind")  # a component: its strings belong to it, spans under its name
            if isinstance(kind, str):
                yield from string_entries(value, kind, location + (key, kind))
            else:
                yield from string_entries(value, owner, location + (key,))
        elif isinstance(value, (list, tuple)):
            for index, item in enumerate(value):
                if not isinstance(item, dict):
                    continue
                component = item.get("term") if isinstance(item.get("term"), dict) else item
                kind = component.get("kind")
                if isinstance(kind, str):
                    yield from string_entries(component, kind, location + (key, index, kind))


def string_values(values: dict, owner: str):
    """``(owner, key, value, location)`` of every string in a section's validated values."""
    for container, key, found_owner, location in string_entries(values, owner):
        yield found_owner, key, container[key], location


def rule_external_names(facts: Facts) -> None:
    """E0519 (paths read) and E0520 (logger names) on every string of every section."""
    for key, checked in facts.checked.sections.items():
        resolved = facts.resolution.sections.get(key)
        kind = resolved.kind if resolved is not None else key
        top = {kind, checked.values.get("component")}
        for owner, name, value, location in string_values(checked.values, kind):
            owners = top if len(location) == 1 else {owner}
            span = facts.span(key, *location)
            if any((item, name) in INPUT_PATHS for item in owners):
                check_input_path(facts, name, value, span)
            elif any((item, name) in LOGGER_NAMES for item in owners):
                check_logger_name(facts, owner, name, value, span)


def check_input_path(facts: Facts, key: str, path: str, span) -> None:
    """A path the script opens: not empty, no control character, short enough to open."""
    bad = unprintable(path)
    if not path:
        problem = "is empty"
    elif bad is not None:
        problem = f"holds the character {bad}, which no path can hold"
    elif len(path.encode("utf-8")) > PATH_BYTES:
        problem = f"is longer than {PATH_BYTES} bytes"
    elif any(len(part.encode("utf-8")) > NAME_BYTES for part in path.split("/")):
        problem = f"has a file or folder name longer than {NAME_BYTES} bytes"
    else:
        return
    facts.error("E0519", f"`{key}` {problem}: the script could not open {printable(path)}", span)


def check_logger_name(facts: Facts, logger: str, key: str, name: str, span) -> None:
    """A name a logger library receives: 1 to 128 letters, digits, `_`, `.`, `-`."""
    if LOGGER_NAME.match(name):
        return
    facts.error(
        "E0520",
        f"{logger} `{key}` {printable(name)} is not a name every logger library accepts",
        span,
        "use 1 to 128 letters, digits, `_`, `.` or `-`, starting with a letter or digit",
    )


def printable(text: str, limit: int = 60) -> str:
    """``text`` quoted for a message: unprintable characters escaped, long text cut."""
    shown = "".join(character if character.isprintable() else f"\\u{{{ord(character):x}}}" for character in text)
    return '"' + (shown if len(shown) <= limit else shown[: limit - 3] + "...") + '"'


# ---------------------------------------------------------------------- checkpoint filename


def check_filename(facts: Facts, pattern: str) -> None:
    """A checkpoint ``filename`` names one folder from ``{step}``, ``{epoch}`` and logged
    metrics (``{val/loss:.3f}``, also spelt ``{val_loss}``); its longest rendering is a
    file name (at most 255 bytes, no `/`, no control character, not `.`, `..` or `last`)."""
    span = facts.span("train", "checkpoint", "filename")
    available = facts.monitorable() or []
    fields = ["step", "epoch"] + available + [name.replace("/", "_") for name in available]
    bad = unprintable(pattern)
    if bad is not None:
        facts.error("E0516", f"checkpoint filename {printable(pattern)} holds the character {bad}", span)
        return
    try:
        parsed = [(name, spec) for _, name, spec, _ in Formatter().parse(pattern) if name is not None]
        literal_text = "".join(text for text, _, _, _ in Formatter().parse(pattern))
    except ValueError as error:
        facts.error("E0516", f"checkpoint filename `{pattern}` is not a format pattern: {error}", span)
        return
    for name, spec in parsed:
        if name not in fields and facts.monitorable() is not None:
            facts.error(
                "E0516",
                f"checkpoint filename field `{{{name}}}` is neither step, epoch nor a logged metric",
                span,
                did_you_mean(name, fields) or f"fields: {', '.join(fields)}",
            )
            return
        if any(int(number) > FORMAT_NUMBER for number in re.findall(r"[0-9]+", spec or "")):
            facts.error(
                "E0516",
                f"checkpoint filename field `{{{name}:{spec}}}` asks for a width or precision above {FORMAT_NUMBER}",
                span,
            )
            return
        try:
            format(1 if name in ("step", "epoch") else 1.0, spec or "")
        except ValueError:
            facts.error("E0516", f"checkpoint filename field `{{{name}:{spec}}}` has an invalid format", span)
            return
    if "/" in literal_text or pattern.startswith(".") or pattern == "last":
        facts.error(
            "E0516",
            f"checkpoint filename `{pattern}` must name one folder: no `/`, no leading `.`, not `last`",
            span,
        )
        return
    longest = longest_rendering(pattern, parsed)
    shortest = pattern.format_map({name: 0 if name in WORST_VALUES else 0.0 for name, _ in parsed})
    # a metric may be nan or infinite: "nan" is short, so a fill character can lead (`{val/loss:.>8f}`)
    special = [pattern.format_map({name: 0 if name in WORST_VALUES else value for name, _ in parsed})
               for value in (float("nan"), float("-inf"))]
    for name in (shortest, longest, *special):
        if name.startswith(".") or name == "last":
            facts.error("E0516", f"checkpoint filename `{pattern}` can name the folder `{name}`, which cannot be used", span)
            return
    if len(longest.encode("utf-8")) > NAME_BYTES:
        facts.error(
            "E0516",
            f"checkpoint filename `{pattern}` can name a folder of {len(longest.encode('utf-8'))} bytes; "
            f"a file name holds at most {NAME_BYTES}",
            span,
        )


def longest_rendering(pattern: str, parsed) -> str:
    """``pattern`` formatted with the longest value of each field (:data:`WORST_VALUES`)."""
    values = {name: WORST_VALUES.get(name, WORST_METRIC) for name, _ in parsed}
    return pattern.format_map(values)


# ---------------------------------------------------------------------- model names


def rule_model_attribute_names(facts: Facts) -> None:
    """E0521: in an objective with several models, no model is named like an attribute of
    ``torch.nn.Module`` (or with a leading `_`)."""
    contract = facts.contract()
    if contract is None or len(contract.models) < 2:
        return
    for slot in contract.models:
        name = facts.value("objective", slot)
        if not isinstance(name, str) or not (name in TORCH_MODULE_ATTRIBUTES or name.startswith("_")):
            continue
        facts.error(
            "E0521",
            f"model name `{name}` is taken by `torch.nn.Module`: with several models, the name holds the model "
            "in PyTorch and prefixes its parameters",
            facts.span("objective", slot),
            f"rename the model (e.g. `{name.strip('_') or 'model'}_net`)",
        )


RULES = (rule_external_names, rule_model_attribute_names)
