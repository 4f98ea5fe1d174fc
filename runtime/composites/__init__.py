"""Runtime composites written once (Keras 3 ``ops`` style).

The flows, losses, metrics, objectives and schedules of the jax, torch and mlx runtimes are
written once here as functions whose first argument is an array-operation table: ``ops``
(``specc.runtime.<backend>.ops``, a module of primitives with the same names and signatures
on every backend) or, for the schedules, a ``ScheduleMath``. A backend module binds each
composite to its table::

    from specc.runtime.composites import binder, losses as composite
    from specc.runtime.jax import ops

    _bind = binder(ops, __name__)
    weighted_l2 = _bind(composite.weighted_l2)  # weighted_l2(pred, target, p=1.0, ...)

so ``specc.runtime.jax.losses.weighted_l2`` has the composite's docstring and its signature
without ``ops``. What differs between frameworks lives in the ``ops`` modules only (forward-
mode AD, stop-gradient, index dtypes, torch's reductions over ``dim=()``).

The numpy reference (``specc.runtime.reference``) does not use these composites: it is an
independent float64 implementation that the parity tests compare the backends against.
``specc.runtime.reference.ops`` (numpy) exists so the tests can also evaluate the composites
in float64 and compare them with the reference at a tight tolerance.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable


def bind(composite: Callable, table, module: str) -> Callable:
    """``composite(table, *args, **kwargs)`` as a function of ``(*args, **kwargs)``.

    The bound function keeps the composite's name and docstring, reports the composite's
    signature without its first parameter, and belongs to ``module`` (the backend module
    that exports it).
    """

    @functools.wraps(composite)
    def bound(*args, **kwargs):
        return composite(table, *args, **kwargs)

    signature = inspect.signature(composite)
    bound.__signature__ = signature.replace(parameters=tuple(signature.parameters.values())[1:])
    bound.__module__ = module
    del bound.__wrapped__
    return bound


def binder(table, module: str) -> Callable[[Callable], Callable]:
    """``bind`` with the table and the exporting module fixed: ``_bind = binder(ops, __name__)``."""
    return functools.partial(_bind_to, table, module)


def _bind_to(table, module: str, composite: Callable) -> Callable:
    return bind(composite, table, module)
