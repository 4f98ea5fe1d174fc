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

    def error(self, problem: str) -> UserCodeError:
        """``UserCodeError`` naming this code: ``<file>: <name>: <problem>``."""
        return UserCodeError(f"{self.file}: {self.name}: {problem}")

    def function(self, inputs=(), outputs=()):
        """The user's function as a model calls it (an ``extern`` of the spec):
        ``name(ops, *tensors, **hyperparameters)``; see :class:`UserFunction`."""
        return UserFunction(self, tuple(inputs), tuple(outputs))

    def loss(self):
        """The user's loss as the script calls it: ``values(ops, prediction, target)`` returns
        ``{"loss": scalar, **extra}`` from the function's scalar or ``(scalar, {name: scalar})``."""
        function = self.load()

        def values(ops, prediction, target):
            result = self.call(function, "computing the loss", ops, prediction, target, **self.arguments)
            loss, extra = result if isinstance(result, tuple) and len(result) == 2 else (result, {})
            if not isinstance(extra, dict) or "loss" in extra:
                raise self.error("returns a scalar or (scalar, {name: scalar}) whose names are not 'loss'")
            if tuple(getattr(loss, "shape", ())) != ():
                raise self.error(f"returned a loss of shape {tuple(loss.shape)}; it must be a scalar (reduce it)")
            return {"loss": loss, **extra}

        return values


@dataclass(frozen=True)
class UserFunction:
    """A user function a model calls (``extern``): loaded at the first call, an exception in
    it becomes :class:`UserCodeError` naming the user's line, and what it returns is held
    against the declared shapes. ``inputs`` / ``outputs``: the dimensions of each declared
    tensor as written (``"B"``, ``"64"``, ``"2 * D"``); a name takes its size from the
    inputs (or a hyperparameter of that name), a number is checked as is, any other
    expression is not checked (the compiler checked the call)."""

    reference: Reference
    inputs: tuple = ()
    outputs: tuple = ()

    def __call__(self, ops, *tensors, **keywords):
        function = self.reference.load()
        result = self.reference.call(function, "called by the model", ops, *tensors, **keywords)
        self.check(function, tensors, keywords, result)
        return result

    def check(self, function, tensors, keywords, result) -> None:
        sizes = {name: value for name, value in keywords.items() if isinstance(value, int) and not isinstance(value, bool)}
        for declared, tensor in zip(self.inputs, tensors):
            shape = tuple(getattr(tensor, "shape", ()))
            if len(shape) == len(declared):
                for dim, size in zip(declared, shape):
                    if dim.isidentifier():
                        sizes.setdefault(dim, size)
        values = result if isinstance(result, tuple) else (result,)
        if len(values) != len(self.outputs):
            raise self._error(function, f"returned {len(values)} value(s), but the spec declares {len(self.outputs)}")
        for declared, value in zip(self.outputs, values):
            shape = getattr(value, "shape", None)
            expected = tuple(sizes.get(dim) if dim.isidentifier() else int(dim) if dim.isdigit() else None for dim in declared)
            if shape is None or len(tuple(shape)) != len(declared) or any(
                size is not None and size != actual for size, actual in zip(expected, tuple(shape))
            ):
                got = type(value).__name__ if shape is None else f"shape {tuple(shape)}"
                wanted = ", ".join(dim if size is None else f"{dim}={size}" for dim, size in zip(declared, expected))
                raise self._error(function, f"returned {got}, but the spec declares [{wanted}]")

    def _error(self, function, problem: str) -> UserCodeError:
        line = getattr(getattr(function, "__code__", None), "co_firstlineno", None)
        where = f"{self.reference.file}:{line}" if line is not None else self.reference.file
        return UserCodeError(f"{where}: {self.reference.name}: {problem}")


def call_method(instance, method: str, *arguments):
    """``instance.method(*arguments)`` of an object the user's code made (a path): an exception
    becomes :class:`UserCodeError` naming the method's file and line."""
    function = getattr(instance, method)
    try:
        return function(*arguments)
    except RunError:
        raise
    except Exception as error:
        raise user_error(error, where_defined(function)[0], f"{type(instance).__name__}.{method}") from None


def where_defined(function) -> tuple[str, int]:
    """(file, first line) of a Python function or bound method."""
    code = getattr(function, "__code__", None) or function.__func__.__code__
    return code.co_filename, code.co_firstlineno


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
