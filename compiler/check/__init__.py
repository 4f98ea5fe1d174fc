"""Checking: every user error becomes a positioned diagnostic here, and nowhere later.

``resolve.py`` (lets, references, ``--set``, constant folding in ``fold.py``), ``validate.py``
(sections against the vocabulary through ``validators.py``, messages in
``validation_messages.py``), ``cross_field.py`` (rules between values, E05xx),
``parameter_prefixes.py`` (``freeze`` and penalty prefixes), ``contracts.py`` (objectives
against their models, data and loss terms, E07xx) and ``backend_capabilities.py`` (backend
capabilities and refusals, E08xx). ``specc.compiler.pipeline.check`` runs them in order.
"""
