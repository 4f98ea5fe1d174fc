"""Analysis: pure functions over a checked ``ir.Program`` that describe what it will cost
and what it looks like, before anything is trained.

- ``costs.py``: per-layer forward FLOPs and saved activations (the formulas, stated once);
- ``summary.py``: ``summarize(program)`` -> per-model layer tables, exact parameter counts
  (what every backend instantiates), FLOPs per training step, activation memory per
  example, parameter + gradient + optimizer-state memory at the spec's precision, and
  ``largest_batch`` for a memory budget; ``report.py`` formats it as text (``specc summary``);
- ``graph.py``: the model graph (nodes with parameter counts, edges with inferred shapes)
  as DOT and Mermaid text, and a layered layout for drawing without Graphviz;
- ``curves.py``: training and validation series from ``metrics.csv`` text.

Nothing here touches the filesystem: ``specc.compiler.cli`` reads files, renders images and
prints. The stage comes after ``emit`` because it asks the emitter's views what the training
scripts add to a model (the learned null condition of classifier-free guidance) and which
inputs a language model sees shifted by one token.
"""
