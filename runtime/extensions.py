"""The user's own code a spec names: ``python("file.py", "Name", arguments = { ... })``.

A generated script holds a :class:`Reference` (the absolute file, the name, the arguments)
and calls :meth:`Reference.create` where it needs the object: the file is imported once per
process by its path (it need not be on ``sys.path``), under a module name derived from the
path, so a reference pickles as three plain values and a spawned data worker imports the
same file itself.

User code that raises stops the run with one line naming the user's file and line
(:class:`UserCodeError`, a ``RunError``), never specc's own frames.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import traceback
from dataclasses import dataclass, field

from specc.runtime.training.failures import RunError

_MODULES: dict[str, object] = {}
_OBJECTS: dict[tuple, object] = {}


class UserCodeError(RunError):
    """User code that raised or returned what its role cannot use: the message names its
    file and line."""


def module_name(file: str) -> str:
    """``specc_user_<stem>_<hash of the path>``: one module per file, stable across processes."""
    stem = "".join(character if character.isalnum() else "_" for character in os.path.basename(file)[:-3])
    digest = hashlib.sha256(os.path.abspath(file).encode("utf-8")).hexdigest()[:10]
    return f"specc_user_{stem}_{digest}"


def load_module(file: str):
    """The module of the Python file ``file``, imported once per process."""
    file = os.path.abspath(file)
    if file in _MODULES:
        return _MODULES[file]
    name = module_name(file)
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None or not os.path.isfile(file):
        raise UserCodeError(f"{file}: the Python file the spec names does not exist (it was there at compile time)")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # classes defined in it pickle by this name
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        del sys.modules[name]
        raise user_error(error, file, "importing it") from None
    _MODULES[file] = module
    return module


@dataclass(frozen=True)
class Reference:
    """A function or class of the user's, with the keyword arguments the spec gives it."""

    file: str
    name: str
    arguments: dict = field(default_factory=dict)

    def load(self):
        """The function or class itself."""
        module = load_module(self.file)
        if not hasattr(module, self.name):
            raise UserCodeError(f"{self.file}: defines no `{self.name}` (it did at compile time)")
        return getattr(module, self.name)

    def create(self):
        """``Name(**arguments)`` for a class, made once per process and reused."""
        key = (self.file, self.name, repr(sorted(self.arguments.items())))
        if key not in _OBJECTS:
            _OBJECTS[key] = self.call(self.load(), "creating it", **self.arguments)
        return _OBJECTS[key]

    def call(self, function, action: str, *arguments, **keywords):
        """``function(*arguments, **keywords)``, with an exception from the user's code turned
        into :class:`UserCodeError` naming the file and line (``action``: what was being done)."""
        try:
            return function(*arguments, **keywords)
        except RunError:
            raise
        except Exception as error:
            raise user_error(error, self.file, f"{self.name}: {action}") from None

    def bind(self, **keywords):
        """The function with ``arguments`` (and ``keywords``) given: ``function(*args)``."""
        function = self.load()
        given = {**self.arguments, **keywords}
        return lambda *arguments: function(*arguments, **given)


def user_error(error: BaseException, file: str, action: str) -> UserCodeError:
    """``<file>:<line>: <action>: <Error>: <message>``, the line of the innermost frame in
    ``file`` (the file alone when the error did not pass through it)."""
    line = None
    for frame in traceback.extract_tb(error.__traceback__):
        if os.path.abspath(frame.filename) == os.path.abspath(file):
            line = frame.lineno
    if isinstance(error, SyntaxError) and error.filename and os.path.abspath(error.filename) == os.path.abspath(file):
        line = error.lineno
    where = f"{file}:{line}" if line is not None else file
    return UserCodeError(f"{where}: {action}: {type(error).__name__}: {error}")
