"""Pieces of the language-model objective written once over an ``ops`` table.

An expected-value ("meaningful") term reads the softmax over one or several id ranges of
the vocabulary: with one first id ``lo`` it is ``expected_codebook`` (codebook ``[V, D]``) or
``expected_scalar`` (bin centres ``[V]``); several first ids sharing one codebook (grouped
spectra) make ``expected_codebook_grouped``.
"""

from __future__ import annotations

from specc.runtime import checks
from specc.runtime.composites import losses

EXPECTED_VALUE_FUNCTIONS = ("expected_codebook", "expected_scalar")


def expected_value_term(ops, function, logits, labels, array, starts, mask=None):
    """One expected-value term of the language-model objective.

    ``function`` is ``"expected_codebook"`` (``array`` a codebook ``[V, D]``) or
    ``"expected_scalar"`` (bin centres ``[V]``); ``starts`` the first ids of the term's
    ranges. One range: ``losses.<function>(logits, labels, array, lo, mask)``; several
    (``expected_codebook`` only): ``losses.expected_codebook_grouped(logits, labels, array,
    starts, mask)``, the mean over the ranges that have positions.
    """
    checks.check_choice("expected_value_term", "function", function, EXPECTED_VALUE_FUNCTIONS)
    starts = tuple(int(start) for start in starts)
    checks.check_not_empty("expected_value_term", "starts", list(starts))
    if len(starts) == 1:
        return getattr(losses, function)(ops, logits, labels, array, starts[0], mask)
    if function != "expected_codebook":
        raise ValueError(
            f"expected_value_term: {function} takes one vocabulary range; got {len(starts)} starts {starts}"
        )
    return losses.expected_codebook_grouped(ops, logits, labels, array, starts, mask)
