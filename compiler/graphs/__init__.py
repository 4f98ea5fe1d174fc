"""Model graphs: ``build_models(modules, constants, diagnostics) -> {name: ir.ModelGraph}``.

Blocks are monomorphised into module definitions with inferred shapes and named parameters
(``build.py``); a scope lowers statements (``scope.py``), calls (``calls.py``) and tensor
arithmetic (``arithmetic.py``) over graph values (``values.py``); ``unused_blocks.py`` checks
library blocks no model instantiates.
"""

from specc.compiler.graphs.build import build_models

__all__ = ["build_models"]
