"""The vocabulary of a ``token_stream`` data source, checked at lint (E0526).

``meta`` names a JSON file ``{"vocab_size": N}`` (nanoGPT writes ``meta.pkl``; a pickle is
refused wherever it is: loading one runs code from the file). When the file can be read at
lint, its size is held against the source's ``vocab_size`` and against the logits of the
language model (``[B, T, V]`` with a concrete V); a file that is absent is not an error here
(the data may be made on the training machine) and the script reads it at load. Without
``meta``, a written ``vocab_size`` is held against the logits the same way.

The spec states its sizes (``let vocab_size = 65``): the file confirms them, it never
changes what the spec means.
"""

from __future__ import annotations

import json

from specc.compiler.check.cross_field import Facts
from specc.dsl.source import Unreadable

PICKLE_EXTENSIONS = (".pkl", ".pickle")
CODE = "E0526"
JSON_HELP = 'write the vocabulary size as JSON: {"vocab_size": N}'


def check_token_stream(facts: Facts, graphs: dict, read) -> None:
    """E0526 on the ``meta`` / ``vocab_size`` of a ``token_stream`` source (module docstring)."""
    if facts.value("data", "component") != "token_stream":
        return
    meta = facts.value("data", "meta")
    stated = facts.value("data", "vocab_size")
    where = ("meta",) if meta is not None else ("vocab_size",)
    if meta is not None:
        found = metadata_size(facts, meta, read)
        if found is None:
            return
        if stated is not None and stated != found:
            facts.error(
                CODE,
                f"data.vocab_size is {stated} but `{meta}` gives vocab_size = {found}",
                facts.span("data", "vocab_size"),
            )
            return
        stated = found
    if stated is not None:
        check_logits(facts, graphs, stated, where, meta)


def metadata_size(facts: Facts, meta: str, read) -> int | None:
    """The ``vocab_size`` of the metadata file, or None (absent file, or after a diagnostic)."""
    span = facts.span("data", "meta")
    if meta.endswith(PICKLE_EXTENSIONS):
        facts.error(CODE, f"`{meta}` is a pickle, which specc does not read (loading one runs code from the file)",
                    span, JSON_HELP)
        return None
    try:
        text = read(meta)
    except (OSError, ValueError, Unreadable):  # absent or unreadable here: the script reads it at load
        return None
    try:
        contents = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        facts.error(CODE, f"`{meta}` is not JSON: {error}", span, JSON_HELP)
        return None
    size = contents.get("vocab_size") if isinstance(contents, dict) else None
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        facts.error(CODE, f'`{meta}` has no "vocab_size" (a positive integer)', span, JSON_HELP)
        return None
    return size


def check_logits(facts: Facts, graphs: dict, size: int, where: tuple, meta) -> None:
    """The language model's logits ``[B, T, V]`` have ``V = size``."""
    if facts.value("objective", "component") != "language_model":
        return
    name = facts.value("objective", "model") or (next(iter(graphs)) if len(graphs) == 1 else None)
    graph = graphs.get(name)
    if graph is None or not graph.outputs or len(graph.outputs[0].shape) != 3:
        return
    logits = graph.outputs[0].shape[-1]
    if isinstance(logits, int) and logits != size:
        given = f"`{meta}` gives vocab_size = {size}" if meta is not None else f"data.vocab_size is {size}"
        facts.error(
            CODE,
            f"{given}, but model `{name}` returns {logits} logits per token",
            facts.span("data", *where),
            f"the model's last axis is the vocabulary: {size}",
        )
