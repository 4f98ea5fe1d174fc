"""The vocabulary: everything a spec may name, declared once, as data.

``registry.py`` (sections and the lookup functions), ``components.py`` (data sources,
objectives, losses, optimizers, schedules, samplers, metrics, loggers, callbacks),
``types.py`` (parameter and component types), ``layers.py`` (what a model graph can call)
with its shape rules (``shape_rules*.py``) over symbolic ``dimensions.py``, and
``json_schema.py`` (``specc schema``). Imports nothing else of the compiler.
"""
