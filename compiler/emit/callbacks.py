"""The user's callbacks in a generated script (``train { callbacks = [progress_bar,
python("my_callbacks.py", "PrintEvery", arguments = { every = 100 })] }``).

The ``python(...)`` items of ``train.callbacks`` become one line of the configuration
block's user-code group, in the spec's order::

    CALLBACKS = [extensions.Reference("/abs/my_callbacks.py", "PrintEvery", {"every": 100})]

and each backend's template drives them through ``training.UserCallbacks``
(``specc.runtime.training.user_callbacks``; Lightning through
``torch_training.UserCallbackHooks``). The built-in callbacks are rendered as before
(``trainer.callback_settings``); a spec without ``python`` callbacks renders unchanged.
"""

from __future__ import annotations

from specc.compiler import ir
from specc.compiler.emit.configuration import ConfigurationBlock, plain_arguments, provenance_lookup
from specc.compiler.emit.extensions import reference_code

GLOBAL = "CALLBACKS"  # the script's global holding the references


def user_callbacks(program: ir.Program, block: ConfigurationBlock) -> str | None:
    """The global holding the references of ``train.callbacks``' ``python`` items (its line
    added to ``block``, commented with where the spec sets them), None when it names none."""
    references = [
        reference_code({"kind": "python", **plain_arguments(item)}) for item in program.train.callbacks if item.kind == "python"
    ]
    if not references:
        return None
    origin = provenance_lookup(program)("train.callbacks")
    return block.add_code(GLOBAL, "[" + ", ".join(references) + "]", origin)
