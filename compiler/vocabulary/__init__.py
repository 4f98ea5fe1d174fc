"""The vocabulary: everything a spec may name, declared once, as data.

``registry.py`` (sections and the lookup functions), ``components.py`` (data sources,
optimizers, schedules, metrics, loggers, transforms, callbacks, precisions, penalties),
``objectives.py`` (objectives, losses, paths, time samplers, samplers),
``types.py`` (parameter and component types), ``layers.py`` (what a model graph can call)
with its shape rules (``shape_rules*.py``) over symbolic ``dimensions.py``, and
``json_schema.py`` (``specc schema``). Imports nothing else of the compiler.
"""
