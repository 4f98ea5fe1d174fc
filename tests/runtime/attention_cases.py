"""The cases both fused-attention tests use (``test_torch_fused_attention.py``,
``test_mlx_fused_attention.py``): the heads, the key masks and the identity dropout that keeps
the written-out path."""

from __future__ import annotations

import numpy as np

HEADS = 2
# row 0 hides key 0 (with causal, query 0 has no key), row 1 hides every key
KEY_MASK = np.array([[False, True, True, False, True], [False, False, False, False, False]])
PARTIAL_MASK = np.array([[True, False, True, True, False], [False, True, True, False, True]])


def identity(weights):
    """A ``dropout`` callable that changes nothing: any callable keeps the written-out path."""
    return weights
