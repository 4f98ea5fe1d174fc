"""Checking: every user error becomes a positioned diagnostic here, and nowhere later.

``resolve.py`` (lets, references, ``--set``, constant folding in ``fold.py``), ``validate.py``
(sections against the vocabulary through ``validators.py``, messages in
``validation_messages.py``), ``cross_field.py`` (rules between values, E05xx) and
``contracts.py`` (objectives against their models and data, backend capabilities and
refusals, E07xx-E08xx). ``specc.compiler.pipeline.check`` runs them in order.
"""
