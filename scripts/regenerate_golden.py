"""Regenerate tests/golden/<spec>.<backend>.py: every example spec (specs/*.mf with a
``spec`` line) rendered for every backend whose template exists.

Run from anywhere: ``python scripts/regenerate_golden.py``. ``--check`` exits 1 when a
golden file is stale or missing instead of writing.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
GOLDEN = REPOSITORY / "tests" / "golden"


def example_specs() -> list[str]:
    """Relative paths (``specs/x.mf``) of the example specs, sorted."""
    found = []
    for path in sorted((REPOSITORY / "specs").glob("*.mf")):
        text = path.read_text(encoding="utf-8")
        if any(line.strip().startswith("spec ") for line in text.splitlines()):
            found.append(f"specs/{path.name}")
    return found


def golden_backends() -> list[str]:
    from specc.compiler.emit import render as emit
    from specc.compiler.backends import available_backends, get_backend

    return [name for name in available_backends() if (emit.template_root() / get_backend(name).template).is_file()]


def compile_example(spec: str):
    """The program of one example spec; SystemExit naming the diagnostics when it fails."""
    from specc.compiler import pipeline

    result = pipeline.check(spec, lambda name: (REPOSITORY / name).read_bytes() if not os.path.isabs(name) else Path(name).read_bytes())
    if result.program is None:
        messages = "; ".join(diagnostic.message for diagnostic in result.diagnostics[:3])
        raise SystemExit(f"{spec} does not compile: {messages}")
    return result.program


def expected_files(unsupported: list | None = None, backends=None) -> dict[Path, str]:
    """Golden path -> rendered text, for every example spec x backend. Pairs the backend
    refuses (``NotImplementedByBackend``) are appended to ``unsupported`` as (spec, backend,
    message) and get no golden file."""
    from specc.compiler.emit import render as emit

    files = {}
    for spec in example_specs():
        program = compile_example(spec)
        for backend in backends or golden_backends():
            try:
                files[GOLDEN / f"{program.spec_name}.{backend}.py"] = emit.render(program, backend)
            except emit.NotImplementedByBackend as error:
                if unsupported is not None:
                    unsupported.append((spec, backend, str(error)))
    return files


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail on stale or missing golden files")
    parser.add_argument("--backend", action="append", help="only this backend's files (repeatable)")
    arguments = parser.parse_args(argv)
    unsupported: list = []
    files = expected_files(unsupported, arguments.backend)
    for spec, backend, message in unsupported:
        print(f"no golden file for {spec} on {backend}: {message}", file=sys.stderr)
    owned = [f".{backend}.py" for backend in arguments.backend or golden_backends()]
    for path in sorted(GOLDEN.glob("*.py")):
        if path not in files and path.name.endswith(tuple(owned)) and not arguments.check:
            path.unlink()
            print(f"removed {path.relative_to(REPOSITORY)}")
    stale = [path for path, text in files.items() if not path.is_file() or path.read_text(encoding="utf-8") != text]
    if arguments.check:
        for path in stale:
            print(f"stale: {path.relative_to(REPOSITORY)}", file=sys.stderr)
        return 1 if stale else 0
    GOLDEN.mkdir(parents=True, exist_ok=True)
    for path in stale:
        path.write_text(files[path], encoding="utf-8")
        print(f"wrote {path.relative_to(REPOSITORY)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
