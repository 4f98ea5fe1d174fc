"""specc's compiler: spec text in, one training script out.

The stages, each a subpackage (or module) with one public entry function, in pipeline order:

- ``specc.dsl``: ``parse`` text -> AST with spans; ``load_program`` follows imports;
- ``vocabulary/``: everything a spec may name (sections, components, layers, shape rules);
- ``check/``: ``check_spec`` resolves, validates and reports positioned diagnostics;
- ``graphs/``: ``build_models`` monomorphises model blocks with inferred shapes;
- ``lower.py``: ``lower`` checked spec -> ``ir.Program`` with every value decided;
- ``backends/``: one data table per backend (names, imports, capabilities, refusals);
- ``emit/``: ``render(program, backend)`` -> script text (prints, decides nothing);
- ``cli/``: ``main`` the ``specc`` command.

The front door is ``specc.compiler.pipeline.check(path, read, overrides, backend)``: parse,
check, build graphs and lower, returning the program with every diagnostic; the back door is
``specc.compiler.emit.render(program, backend)``. Imports point downstream only
(``tests/test_layering.py``).
"""
