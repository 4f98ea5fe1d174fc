"""The vocabulary of a ``token_stream`` data source, checked at lint (E0526).

``meta`` names a JSON file ``{"vocab_size": N}`` (nanoGPT writes ``meta.pkl``; a pickle is
refused wherever it is: loading one runs code from the file). When the file can be read at
lint, its size is held against the source's ``vocab_size`` and against the logits of the
language model (``[B, T, V]`` with a concrete V); a file that is absent is not an error here
(the data may be made on the training machine) and the script reads it at load. Without
``meta``, a written ``vocab_size`` is held against the logits the same way.

A spec either states its sizes (``let vocab_size = 65``), and the file confirms them, or
leaves the size to the file: with ``meta`` and no ``vocab_size``, the model graphs may name
``data.vocab_size``, which is the file's value when it can be read at compile time (the
script is then built for that vocabulary, and its loader checks the file again at load);
when it cannot, naming it is E0603 with the reason.
"""

from __future__ import annotations

import json

from specc.compiler.check.cross_field import Facts
from specc.compiler.graphs.values import Unavailable
from specc.dsl.source import Unreadable

PICKLE_EXTENSIONS = (".pkl", ".pickle")
CODE = "E0526"
JSON_HELP = 'write the vocabulary size as JSON: {"vocab_size": N}'


def metadata_constants(facts: Facts, constants: dict, read) -> None:
    """``constants["data.vocab_size"]`` from the ``meta`` file when the source leaves the
    vocabulary to it (module docstring); diagnostics about the file come from
    :func:`check_token_stream`."""
    if facts.value("data", "component") != "token_stream" or facts.value("data", "vocab_size") is not None:
        return
    meta = facts.value("data", "meta")
    if meta is None:
        constants["data.vocab_size"] = Unavailable("the token_stream source sets neither `vocab_size` nor `meta`")
        return
    size, _ = read_metadata(meta, read)  # what is wrong with the file is E0526 (check_token_stream)
    constants["data.vocab_size"] = size if size is not None else Unavailable(
        f'it is the "vocab_size" of `{meta}`, which cannot be read here (or has none)'
    )


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
    """The ``vocab_size`` of the metadata file, or None (absent file, or after an E0526)."""
    size, problem = read_metadata(meta, read)
    if problem is not None:
        facts.error(CODE, problem, facts.span("data", "meta"), JSON_HELP)
    return size


def read_metadata(meta: str, read) -> tuple[int | None, str | None]:
    """(the file's ``vocab_size``, None), (None, what is wrong with the file), or (None, None)
    for a file absent or unreadable here (the script reads it at load)."""
    if meta.endswith(PICKLE_EXTENSIONS):
        return None, f"`{meta}` is a pickle, which specc does not read (loading one runs code from the file)"
    try:
        text = read(meta)
    except (OSError, ValueError, Unreadable):
        return None, None
    try:
        contents = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        return None, f"`{meta}` is not JSON: {error}"
    size = contents.get("vocab_size") if isinstance(contents, dict) else None
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        return None, f'`{meta}` has no "vocab_size" (a positive integer)'
    return size, None


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

