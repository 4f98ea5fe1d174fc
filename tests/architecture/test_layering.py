"""The layering rules of docs/architecture.md: imports point downstream only.

Every ``import`` statement of the source tree is read with ``ast`` (imports inside functions
included), mapped to the stage it belongs to, and held against the order of the pipeline.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_FOLDERS = {"dsl": "specc.dsl", "compiler": "specc.compiler", "runtime": "specc.runtime", "specc": "specc"}

# Stages in pipeline order: a module may import its own stage and the stages before it.
# ``ir`` is the contract between checking and emitting (plain data, first); ``backends`` are
# the data tables of what each backend implements, which the vocabulary and checker read; ``pipeline`` runs the front half; ``specc.load`` (the
# checkpoint loader) uses the whole compiler; ``analysis`` (summary, graph, curves) reads the
# IR and asks the emitter what a script adds to a model; ``lsp`` (the language server) the checker; ``cli``
# uses everything.
STAGES = (
    "specc.runtime",
    "specc.dsl",
    "specc.compiler.ir",
    "specc.compiler.backends",
    "specc.compiler.vocabulary",
    "specc.compiler.graphs",
    "specc.compiler.check",
    "specc.compiler.lower",
    "specc.compiler.pipeline",
    "specc.compiler.emit",
    "specc.compiler.analysis",
    "specc.load",
    "specc.describe",
    "specc.sample",
    "specc.compiler.lsp",
    "specc.compiler.cli",
)
# the package roots (``specc``, ``specc.compiler``) hold only docs and version facts
NEUTRAL = ("specc", "specc.compiler", "specc.templates", "specc.specs")


def module_name(path: Path) -> str:
    relative = path.relative_to(ROOT).with_suffix("")
    parts = list(relative.parts)
    parts[0] = PACKAGE_FOLDERS[parts[0]]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files():
    for folder in PACKAGE_FOLDERS:
        yield from sorted((ROOT / folder).rglob("*.py"))


def imported_modules(path: Path):
    """(line, module) of every specc import in ``path``; ``from a import b`` counts as
    ``a.b`` so that importing a stage's submodule through its package is seen."""
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                yield node.lineno, f"{node.module}.{alias.name}"


def stage_of(module: str) -> int | None:
    found = [index for index, stage in enumerate(STAGES) if module == stage or module.startswith(stage + ".")]
    return max(found) if found else None


def upstream_imports():
    for path in source_files():
        importer = module_name(path)
        own = stage_of(importer)
        if own is None:
            continue
        for line, module in imported_modules(path):
            if not module.startswith("specc") or module in NEUTRAL:
                continue
            target = stage_of(module)
            if target is not None and target > own:
                yield f"{path.relative_to(ROOT)}:{line}: {importer} imports {module}"


def test_imports_point_downstream_only():
    assert list(upstream_imports()) == []


@pytest.mark.parametrize("folder", ["dsl", "runtime"])
def test_dsl_and_runtime_import_nothing_from_the_compiler(folder):
    found = [
        f"{path.relative_to(ROOT)}:{line}: {module}"
        for path in sorted((ROOT / folder).rglob("*.py"))
        for line, module in imported_modules(path)
        if module.startswith("specc.compiler")
    ]
    assert found == []


def test_runtime_imports_nothing_from_the_front_end():
    found = [
        f"{path.relative_to(ROOT)}:{line}: {module}"
        for path in sorted((ROOT / "runtime").rglob("*.py"))
        for line, module in imported_modules(path)
        if module.startswith("specc.dsl")
    ]
    assert found == []


def test_backend_tables_are_data_that_import_no_emitter():
    found = [
        f"{path.relative_to(ROOT)}:{line}: {module}"
        for path in sorted((ROOT / "compiler" / "backends").glob("*.py"))
        for line, module in imported_modules(path)
        if module.startswith("specc.compiler") and not module.startswith("specc.compiler.backends")
    ]
    assert found == []


def test_nothing_outside_a_package_imports_its_private_names():
    found = []
    for path in source_files():
        importer = module_name(path)
        for line, module in imported_modules(path):
            owner, _, name = module.rpartition(".")
            if name.startswith("_") and not name.startswith("__") and not importer.startswith(owner.rsplit(".", 1)[0]):
                found.append(f"{path.relative_to(ROOT)}:{line}: {module}")
    assert found == []


def test_compiler_is_laid_out_as_its_stages():
    """``ls compiler`` shows the stages: subpackages and the few contract modules, no
    prefix families of flat modules."""
    entries = sorted(path.name for path in (ROOT / "compiler").iterdir() if not path.name.startswith("__"))
    assert entries == [
        "analysis", "backends", "check", "cli", "emit", "graphs", "ir.py", "lower.py", "lsp", "pipeline.py", "vocabulary"
    ]
