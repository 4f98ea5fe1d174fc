"""The codebook files of the expected-value loss terms (``expected_codebook(codebook = ...)``,
``expected_scalar(centers = ...)``): what the runtime will do with a file is decided here,
before anything runs.

- A pickle (``.joblib``, ``.pkl``, ``.pickle``: seed 001 saves its k-means codebooks with
  joblib) runs code stored in the file when it is loaded, so it is loaded only when the term
  says ``trusted = true`` (E0540 otherwise);
- ``key`` picks an array of an ``.npz`` (or of a pickled mapping or object) instead of the
  candidate names; with a ``.npy`` (one array) or no file it would change nothing, and
  ``trusted`` with anything but a pickle would neither (E0541).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from specc.dsl.diagnostics import printable

if TYPE_CHECKING:
    from specc.compiler.check.cross_field import Facts

PICKLES = (".joblib", ".pkl", ".pickle")  # as specc.runtime.data.tokens.PICKLES
ARRAY_FILES = {"expected_codebook": "codebook", "expected_scalar": "centers"}


def check_codebook_files(facts: Facts) -> None:
    """E0540 and E0541 on every expected-value term of the objective (module docstring)."""
    terms = facts.value("objective", "loss")
    if not isinstance(terms, list):
        return
    for index, item in enumerate(terms):
        term = item.get("term") if isinstance(item, dict) else None
        kind = term.get("kind") if isinstance(term, dict) else None
        if kind not in ARRAY_FILES:
            continue
        where = ("loss", index, "term", kind)
        file = term.get(ARRAY_FILES[kind])
        pickled = isinstance(file, str) and file.lower().endswith(PICKLES)
        if pickled and not term.get("trusted"):
            facts.error(
                "E0540",
                f"`{ARRAY_FILES[kind]}` names a pickle (`{printable(file)}`): loading it runs code stored in the file",
                facts.span("objective", *where, ARRAY_FILES[kind]),
                f"write `trusted = true` in `{kind}(...)` if you made the file or trust who did, or save the array "
                "as .npy / .npz",
            )
        if term.get("trusted") and not pickled:
            facts.error(
                "E0541",
                f"`trusted` has no effect: {_described(file)} is not a pickle",
                facts.span("objective", *where, "trusted"),
                "remove `trusted`: only .joblib / .pkl files run code when loaded",
            )
        if term.get("key") is not None and (not isinstance(file, str) or file.lower().endswith(".npy")):
            facts.error(
                "E0541",
                f"`key` has no effect: {_described(file)} holds one array",
                facts.span("objective", *where, "key"),
                "remove `key`: it names an array of an .npz, or of a pickled mapping or object",
            )


def _described(file) -> str:
    return f"`{printable(file)}`" if isinstance(file, str) else "the data source's codebook"
