"""Shared fixtures of the runtime parity suite.

``backend`` is parametrised over jax, torch and mlx. A backend that cannot be imported is
skipped with a visible reason (``pytest -ra`` prints it); CI installs all three so nothing
is skipped there (``SPECC_REQUIRE_ALL_BACKENDS=1`` turns a missing backend into a failure).
"""

from __future__ import annotations

import importlib
import os

import numpy as np
import pytest

BACKENDS = ("jax", "torch", "mlx")


class Backend:
    """Moves numpy arrays in and out of one framework and imports its runtime modules."""

    def __init__(self, name: str):
        self.name = name
        self.framework = importlib.import_module({"jax": "jax.numpy", "torch": "torch", "mlx": "mlx.core"}[name])
        if name == "jax":
            import jax

            jax.config.update("jax_enable_x64", False)

    def module(self, module_name: str):
        """``backend.module("losses")`` -> ``specc.runtime.<backend>.losses``."""
        return importlib.import_module(f"specc.runtime.{self.name}.{module_name}")

    def array(self, values, dtype=None):
        values = np.asarray(values)
        if dtype is None:
            dtype = np.float32 if values.dtype.kind == "f" else values.dtype
        values = values.astype(dtype)
        if self.name == "torch":
            return self.framework.from_numpy(np.ascontiguousarray(values))
        return self.framework.array(values)

    def numpy(self, value) -> np.ndarray:
        if self.name == "torch":
            return value.detach().cpu().numpy()
        if self.name == "mlx":
            return np.array(value)
        return np.asarray(value)


def _load(name: str) -> Backend:
    try:
        return Backend(name)
    except ImportError as error:  # pragma: no cover - depends on the machine
        if os.environ.get("SPECC_REQUIRE_ALL_BACKENDS"):
            raise
        pytest.skip(f"backend {name} cannot be imported: {error}")


@pytest.fixture(params=BACKENDS)
def backend(request) -> Backend:
    return _load(request.param)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
