"""The user's own code in a generated script: each ``python("file.py", "Name", arguments =
{...})`` component becomes one line of the configuration block's last group, a
``specc.runtime.extensions.Reference`` held in a global named after its role::

    PATH = extensions.Reference("/abs/seed000_extensions.py", "ExponentialPath").create()
    TIME_SAMPLER = extensions.Reference("/abs/seed000_extensions.py", "BetaTime", {"concentration": 0.5})

The file is the absolute path lowering decided (relative to the spec file); the script
passes the global where the built-in component's name would be (``path=PATH``).
"""

from __future__ import annotations

from specc.compiler.emit import graph_losses
from specc.compiler.emit.configuration import ConfigurationBlock, plain, plain_arguments
from specc.compiler.emit.filters import literal

# role -> (the script's global, what the line makes of the reference)
ROLES = {
    "path": ("PATH", ".create()"),  # an instance: interpolate / target
    "time": ("TIME_SAMPLER", ""),  # the reference itself: the data pipeline creates it (workers too)
    "loss": ("LOSS", ".loss()"),  # values(ops, prediction, target) -> {"loss": ..., **extra}
}


def python_value(value) -> dict | None:
    """A ``python`` component's values (``file``, ``name``, ``arguments``), else None."""
    data = plain(value)
    return data if isinstance(data, dict) and data.get("kind") == "python" else None


def reference_code(value: dict) -> str:
    """``extensions.Reference(file, name[, arguments])``, the arguments in sorted order."""
    parts = [literal(value["file"]), literal(value["name"])]
    if value.get("arguments"):
        parts.append(literal(dict(sorted(value["arguments"].items()))))
    return f"extensions.Reference({', '.join(parts)})"


def user_code(block: ConfigurationBlock, role: str, value: dict, origin: str = "") -> str:
    """The global holding the user's code of ``role`` (its line added to ``block``)."""
    name, suffix = ROLES[role]
    return block.add_code(name, reference_code(value) + suffix, origin)


def uses_user_code(block: ConfigurationBlock) -> bool:
    """Whether the script holds user code (and imports ``specc.runtime.extensions``)."""
    return any(item.get("user") for entries in block.groups.values() for item in entries)


def flow_code(block: ConfigurationBlock, objective: dict, role: str) -> str:
    """The code of a flow objective's ``path`` or ``time`` argument: the built-in's name as a
    literal (``"linear"``), the global holding the user's (``PATH``), or the function of a
    path written in the spec (``exponential``)."""
    user = objective.get(f"{role}_user")
    if user and user.get("kind") == "graph":
        return user["code"]
    return user_code(block, role, user) if user else literal(objective[role])


def path_value(plan) -> dict | None:
    """``{"kind": "graph", "code": <its function>}`` for a path written in the spec, else None."""
    name = graph_losses.path_name(plan)
    return None if name is None else {"kind": "graph", "code": name}


def time_value(plan) -> dict | None:
    """``{"kind": "graph", "code": <its function>}`` for a time sampler written in the spec,
    else None."""
    name = graph_losses.time_name(plan)
    return None if name is None else {"kind": "graph", "code": name}


def loss_values(block: ConfigurationBlock, plan, output: str, target: str) -> str | None:
    """``LOSS(ops, <output>, <target>)`` (the values dict) when the objective's loss is the
    user's (``loss = python(...)``), ``smooth_l1(<output>, <target>)`` for a loss written in
    the spec (``loss = graph(...)``, emit/graph_losses.py), else None."""
    written = graph_losses.values_code(plan, output, target)
    if written is not None:
        return written
    value = user_loss(plan)
    return None if value is None else f"{user_code(block, 'loss', value)}(ops, {output}, {target})"


def user_loss(plan) -> dict | None:
    """The values of the objective's ``python(...)`` loss term (``file``, ``name``,
    ``arguments``, ``logs``), ``{"kind": "graph", "code": ...}`` for a ``graph(...)`` one (the
    flows' ``loss=``), or None."""
    code = graph_losses.flow_code(plan)
    if code is not None:
        return {"kind": "graph", "code": code}
    user = next((term.loss for term in plan.terms if term.loss.kind == "python"), None)
    return None if user is None else {"kind": "python", **plain_arguments(user)}


def replaces_loss(plan) -> bool:
    """Whether a classification or regression loss is the user's (``python(...)`` or
    ``graph(...)``): the script then calls no loss of ``specc.runtime.<backend>.losses``."""
    return plan.kind in ("classification", "regression") and any(term.loss.kind in ("python", "graph") for term in plan.terms)


def takes_ops(plan) -> bool:
    """Whether the script calls the user's Python loss with ``ops`` (classification,
    regression: the flows' runtime losses pass it themselves)."""
    return plan.kind in ("classification", "regression") and any(term.loss.kind == "python" for term in plan.terms)


def flow_loss_keywords(block: ConfigurationBlock, objective: dict) -> dict[str, str]:
    """``{"loss": "LOSS"}`` when a flow objective's loss is the user's (the lambda calling the
    spec's function for a ``graph(...)`` loss), else empty."""
    user = objective.get("loss_user")
    if user and user.get("kind") == "graph":
        return {"loss": user["code"]}
    return {"loss": user_code(block, "loss", user)} if user else {}
