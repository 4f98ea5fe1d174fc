"""Emit: ``render(program, backend)`` -> the script text. Prints what lowering decided.

``render.py`` builds the template context every backend shares and renders the jinja2
template the backend table names; ``jax.py``, ``lightning.py`` and ``mlx.py`` add each
backend's own fields and configuration block (their ``config(program, context)`` hook),
from what they share: ``calls.py`` (direct-call text), ``configuration.py`` (the block and
the IR values it reads), ``imports.py`` (each script's import lines), ``trainer.py`` (the
train surface) and ``objectives.py`` (language-model and GAN views); ``models.py`` views a
model graph as classes; ``standalone.py`` renders the model classes alone for the
checkpoint loader; ``filters.py`` is the only way a spec value reaches code.
"""
