"""``train { metrics = [accuracy] }``: metrics computed with the loss on every training batch
(seed 002's ``compute_loss`` returning the accuracy beside the loss), logged as
``train/<name>`` in the training rows and, computed the same way on each evaluation batch,
as ``val/<name>`` (docs/language.md "Training metrics").

They are the metrics of the model's output against the target, so only ``classification``
and ``regression`` objectives take them, each metric one its objective can compute (the
metric's ``needs``). E0550 refuses, at the entry: another objective; a metric of generated
samples or rendered signals (those are evaluation metrics: ``eval.metrics``); a metric
written in the spec (``graph("...")``, evaluation only); a metric another objective kind
needs; the same name twice, or a name the user's loss already returns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from specc.compiler.vocabulary import registry
from specc.compiler.vocabulary.words import with_article

if TYPE_CHECKING:  # cross_field imports this module for its RULES
    from specc.compiler.check.cross_field import Facts

OBJECTIVES = ("classification", "regression")


def rule_train_metrics(facts: Facts) -> None:
    """E0550 on each ``train.metrics`` entry that cannot be computed on a training batch."""
    if not facts.known("train", "metrics"):
        return
    kind = facts.objective_kind()
    returned = set(_user_loss_names(facts))
    seen: set[str] = set()
    for index, metric in enumerate(facts.value("train", "metrics") or ()):
        name = metric.get("kind") if isinstance(metric, dict) else None
        problem = _problem(kind, name, seen, returned)
        if problem is not None:
            message, hint = problem
            facts.error("E0550", message, facts.span("train", "metrics", index), hint)
        seen.add(name)


def _problem(kind: str | None, name: str | None, seen: set, returned: set) -> tuple[str, str] | None:
    """(message, help) of what keeps ``name`` from being a training metric, else None."""
    if name == "graph":
        return (f"`train.metrics` takes the built-in metrics; a metric written in the spec is an evaluation metric",
                'write it in `eval { metrics = [graph("...")] }`')
    component = registry.lookup("metric", name) if isinstance(name, str) else None
    if component is None:
        return None  # misspelt: the validator's diagnostic
    if kind not in OBJECTIVES:
        return (f"training metrics are computed from the model's output and the target, which objective `{kind}` "
                "does not have", "`train.metrics` applies to classification and regression objectives")
    if "sampler" in component.needs or "signals" in component.needs:
        return (f"metric `{name}` compares generated samples: it is an evaluation metric, not a training batch's",
                "write it in `eval { metrics = [...] }`")
    if not _computes(component, kind):
        wanted = with_article(" or ".join(component.needs)) + " objective" if component.needs else "a regression objective"
        return (f"metric `{name}` needs {wanted}, not `{kind}`",
                f"training metrics of {with_article(kind)} objective: {', '.join(_metrics_of(kind))}")
    if name in seen:
        return f"metric `{name}` is listed twice", "list each metric once"
    if name in returned:
        return (f"the objective's loss already returns `{name}`, logged in the training rows",
                f"remove `{name}` from `train.metrics`")
    return None


def _computes(component, kind: str) -> bool:
    """Whether a training batch of objective ``kind`` computes metric ``component``: a
    classification's metrics name it in their ``needs`` (accuracy); a regression's need
    nothing (mse, mae: of the prediction against the target)."""
    return kind in component.needs if kind == "classification" else not component.needs


def _metrics_of(kind: str) -> list[str]:
    """The built-in metrics a training batch of objective ``kind`` can compute."""
    return [name for name, component in registry.components("metric").items()
            if name != "graph" and _computes(component, kind)]


def _user_loss_names(facts: Facts) -> list[str]:
    """The names a ``python(...)`` loss returns beside the loss (check.extensions)."""
    names = []
    for item in facts.value("objective", "loss") or ():
        term = item.get("term") if isinstance(item, dict) else None
        names += list((term or {}).get("logs", ()))
    return names


RULES = (rule_train_metrics,)
