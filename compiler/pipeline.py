"""The checker's front door: ``check(path, read, overrides, backend) -> CheckResult``.

parse + imports (dsl) -> resolve -> validate (pydantic) -> cross-field rules -> model graphs
(graphs helper) -> objective contracts -> backend capability -> IR. Every stage appends
diagnostics instead of raising; all of them come back together, sorted. ``program`` is
None when any error was found. Pure apart from ``read``.
"""

from __future__ import annotations

import dataclasses
import functools
import gc

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from specc.compiler import ir
from specc.dsl import ast
from specc.dsl.diagnostics import Diagnostic, Span, sort_diagnostics
from specc.compiler.check.values import plain

STD_NAME = "<std>"  # how standard-library files are named in spans, provenance and the IR


def std_root() -> str:
    """specs/std of the installed package (the folder ``import "std/..."`` reads from)."""
    import specc.specs

    return str(Path(specc.specs.__file__).parent / "std")


def _std_reader(read: Callable[[str], bytes], root: str) -> Callable[[str], bytes]:
    """``read`` that maps ``<std>/x.mf`` onto the package's std folder, so that library files
    are named ``<std>/x.mf`` everywhere (never an absolute, machine-dependent path). A
    library file that is a symbolic link out of the folder is refused (E0210), as the
    loader refuses a ``std/../x.mf`` path."""

    def read_with_std(path: str) -> bytes:
        if path.startswith(STD_NAME + "/"):
            actual = root + path[len(STD_NAME) :]
            if not _within(actual, root):
                from specc.dsl.source import Unreadable

                raise Unreadable(
                    "E0210",
                    "it leads out of the standard library folder",
                    "a `std/` import names a file of specc's standard library (specs/std)",
                )
            return read(actual)
        return read(path)

    return read_with_std


def _within(path: str, folder: str) -> bool:
    """``path`` is inside ``folder`` once every symbolic link is followed."""
    import os

    try:
        real, real_folder = os.path.realpath(path), os.path.realpath(folder)
    except (OSError, ValueError):
        return True  # the read itself reports what is wrong with the path
    return real.startswith(real_folder.rstrip(os.sep) + os.sep)


@dataclass
class CheckResult:
    program: ir.Program | None
    diagnostics: list[Diagnostic]
    sources: dict[str, str]
    resolution: object = None  # the Resolution, for ``specc explain``
    library: bool = False  # the file has no `spec` line: a library of blocks, checked as an import
    extras: dict = field(default_factory=dict)

    @property
    def errors(self) -> list[Diagnostic]:
        return [diagnostic for diagnostic in self.diagnostics if diagnostic.severity == "error"]


def frozen_list(value):
    """Lists become tuples: the graph language's compile-time lists are tuples."""
    if isinstance(value, list):
        return tuple(frozen_list(item) for item in value)
    return value


def graph_constants(resolution, checked) -> dict:
    """Resolved top-level lets and section values under dotted keys, for the model graphs."""
    constants = {name: frozen_list(plain(value)) for name, value in resolution.constants.items()}
    for key, section in resolution.sections.items():
        values = (
            checked.sections[key].values
            if key in checked.sections
            else {name: plain(value) for name, value in section.entries.items()}
        )
        for name, value in values.items():
            if isinstance(value, (int, float, str, bool, list)) and name != "component":
                constants[f"{key}.{name}"] = frozen_list(value)
    return constants


def _build_graphs(modules, constants, diagnostics) -> dict[str, ir.ModelGraph] | None:
    try:
        from specc.compiler.graphs.build import build_models
    except ImportError:
        return None
    return build_models(modules, constants, diagnostics)


def _without_collections(function):
    """Run ``function`` with the cyclic garbage collector paused: everything a check builds
    lives until it returns, so collections during it only re-scan live objects, and on a big
    spec they cost more each time (a third of the time of a 2 MB lint, and growing faster than
    the input; docs/performance.md). Cyclic garbage left by the check goes at the next
    collection after it."""

    @functools.wraps(function)
    def paused(*arguments, **keywords):
        collecting = gc.isenabled()
        gc.disable()
        try:
            return function(*arguments, **keywords)
        finally:
            if collecting:
                gc.enable()

    return paused


@_without_collections
def check(
    path: str,
    read: Callable[[str], bytes],
    overrides: Sequence[str] = (),
    backend: str | None = None,
    library_ok: bool = False,
    backend_warnings: bool = False,
    base: str | None = None,
    exists: Callable[[str], bool] | None = None,
) -> CheckResult:
    """Check the spec at ``path``. With ``library_ok``, a file without a ``spec`` line is a
    library: only parsed with its imports (and its blocks checked where they are used).

    ``backend``: also run that backend's checks (its table: capabilities, refusals), exactly
    what ``specc compile --backend`` runs. Without one, ``backend_warnings`` (``specc lint``
    without ``--backend``) runs every backend's checks and reports what one backend refuses
    as a warning naming it, and what every backend refuses as errors.

    Relative data file paths are joined to the folder of the spec file writing them and to
    ``base`` (the CLI's current folder); ``exists`` (the CLI's ``os.path.exists``) warns about
    the missing ones (``check.data_paths``)."""
    from specc.compiler import lower as plan
    from specc.compiler.check import backend_capabilities, contracts, data_paths, extensions, externs, parameter_prefixes
    from specc.compiler.check import aliases, codebooks, data_options, graph_losses, token_streams
    from specc.compiler.check import predictions, renderers
    from specc.compiler.check import cross_field as rules
    from specc.compiler.check import buffers, remat
    from specc.compiler.check.resolve import make_expression_parser, resolve
    from specc.compiler.check.validate import validate_sections
    from specc.dsl.imports import load_program
    from specc.dsl.parser import parse

    root = STD_NAME
    loaded = load_program(path, _std_reader(read, std_root()), root)
    sources = dict(loaded.sources)
    diagnostics = list(loaded.diagnostics)
    if overrides:
        sources["--set"] = "\n".join(overrides)
    modules = loaded.modules
    if not modules or modules[-1].file != _normalized(path):
        return CheckResult(None, sort_diagnostics(diagnostics), sources)
    if library_ok and modules[-1].spec_name is None:
        return CheckResult(None, sort_diagnostics(diagnostics), sources, library=True)

    resolution = resolve(modules, overrides, make_expression_parser(parse), root)
    diagnostics += resolution.diagnostics
    aliases.apply_aliases(resolution, diagnostics)  # old key names read as the current ones (E0542)
    checked = validate_sections(resolution)
    diagnostics += checked.diagnostics
    facts = rules.Facts(resolution, checked)
    extensions.check_extensions(facts, read)  # reads (never runs) the user's Python files: first, monitors use it
    for rule in rules.RULES:
        rule(facts)
    constants = graph_constants(resolution, checked)
    meta_read = data_paths.spec_relative_reader(facts, read, "data", "meta")
    token_streams.metadata_constants(facts, constants, meta_read)  # data.vocab_size from the meta file
    graphs = _build_graphs(modules, constants, diagnostics)
    result = CheckResult(None, [], sources, resolution)
    if graphs is None:
        diagnostics.append(
            Diagnostic(
                "E0899",
                "internal: model graphs cannot be built (specc.compiler.graphs.build is not available)",
                Span.point(modules[-1].file),
                notes=("the spec was checked up to its model graphs",),
            )
        )
        graphs = {}
    externs.check_externs(facts, read, modules, graphs, base)  # the user's functions graphs call; their files made absolute
    result.extras["graphs"] = graphs  # the model graphs built so far, for the editor (shapes on hover)
    declared = sum(
        isinstance(item, (ast.Model, ast.ModelInstance)) for module in modules if module is not None for item in module.items
    )
    checker = contracts.ContractChecker(facts, graphs, declared)
    checker.check()
    loss_graphs = graph_losses.check_graph_losses(facts, modules, constants, graphs, checker)  # graph("block") losses
    loss_graphs.update(graph_losses.check_graph_metrics(facts, modules, constants, graphs, checker))  # and metrics
    parameter_prefixes.check_freeze(facts, graphs)
    parameter_prefixes.check_penalties(facts, graphs)
    remat.check_remat(facts, graphs)  # train.remat needs a repeat (E0585)
    buffers.check_buffers(facts, graphs)  # buffers under a jvp or a recomputed repeat (E0624, E0625)
    contracts.check_loss_terms(facts)
    token_streams.check_token_stream(facts, graphs, meta_read)  # reads the metadata file the spec names
    codebooks.check_codebook_files(facts)  # pickled codebooks only when trusted
    data_options.check_fake(facts)  # fake data replaces files only
    data_options.check_transforms(facts, checker.fields, read)  # transform fields, saved statistics (read at lint)
    renderers.check_render(facts, checker.fields, getattr(checker, "target_name", None))  # data { render = ... }
    predictions.check_predict(facts, read, checker.fields, checker.bindings, getattr(checker, "target_name", None))
    data_paths.resolve_data_paths(facts, base, exists)  # relative to the spec file, like imports
    if backend is not None:
        backend_capabilities.check_backend(facts, backend, graphs)
    elif backend_warnings:
        facts.diagnostics += every_backend(facts, graphs)
    diagnostics += facts.diagnostics
    result.diagnostics = sort_diagnostics(diagnostics)
    if result.errors:
        return result
    target = getattr(checker, "target_name", None)
    program = plan.lower(
        resolution, checked, graphs, checker.bindings, checker.fields or {}, target, path, sources, overrides, loss_graphs
    )
    listed = resolution.canonical_overrides  # one line each: the header must read back (issue 13)
    result.program = dataclasses.replace(program, resolved_source=resolved_source(modules, sources, listed))
    return result


def every_backend(facts, graphs) -> list[Diagnostic]:
    """Every backend's checks on an otherwise clean spec: what all backends refuse stays an
    error; what only some refuse becomes a warning (its message names the backend)."""
    import copy

    from specc.compiler.backends import BACKEND_NAMES
    from specc.compiler.check import backend_capabilities

    found = {}
    for name in BACKEND_NAMES:
        sink = copy.copy(facts)
        sink.diagnostics = []
        backend_capabilities.check_backend(sink, name, graphs)
        found[name] = sink.diagnostics
    refused_by = {}
    for name, diagnostics in found.items():
        for diagnostic in diagnostics:
            refused_by.setdefault((diagnostic.code, diagnostic.span), set()).add(name)
    reported = []
    for diagnostics in found.values():
        for diagnostic in diagnostics:
            everywhere = len(refused_by[(diagnostic.code, diagnostic.span)]) == len(found)
            reported.append(diagnostic if everywhere else dataclasses.replace(diagnostic, severity="warning"))
    return reported


def resolved_source(modules, sources: dict, overrides=()) -> str:
    """One standalone spec: the root file with every imported module inlined after it
    (their `import` and `language` lines commented out), and the `--set` overrides the
    program was checked with listed in the header. Written to the run directory as
    spec.resolved.mf; `specc compile spec.resolved.mf --set ...` with the listed overrides
    gives the same program."""
    root, libraries = modules[-1], modules[:-1]
    lines = [f"# resolved from {_one_line(root.file)}" + (" with imports inlined" if libraries else "")]
    lines += [f"# --set {_one_line(override)}" for override in overrides]
    lines += _module_lines(root, sources, keep_language=True)
    for module in libraries:
        lines += ["", f"# ---- inlined from {_one_line(module.file)} ----"]
        lines += _module_lines(module, sources, keep_language=False)
    return "\n".join(lines).rstrip("\n") + "\n"


def _one_line(text: str) -> str:
    """``text`` for a header comment: a line break (or any other unprintable character) in a
    file name or an override would end the comment, so each is written as ``\\u{...}``."""
    return "".join(character if character.isprintable() else f"\\u{{{ord(character):x}}}" for character in text)


def _module_lines(module, sources: dict, keep_language: bool) -> list[str]:
    """A module's text without its imports; a composed one (``extends``) printed whole."""
    if module.composed_from:
        from specc.dsl.compose import composed_text

        return composed_text(module, keep_language).rstrip("\n").split("\n")
    return _without_imports(sources[module.file], keep_language)


def _without_imports(text: str, keep_language: bool) -> list[str]:
    commented = ("import ",) if keep_language else ("import ", "language ")
    return [f"# {line}" if line.lstrip().startswith(commented) and not line.startswith(" ") else line
            for line in text.split("\n")]


def _normalized(path: str) -> str:
    import posixpath

    return posixpath.normpath(path)
