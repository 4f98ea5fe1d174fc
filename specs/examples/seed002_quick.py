"""Seed 002's quick example (mlx_audio's ``TrainModule.compute_loss``), written for specc:
the loss and an accuracy logged beside it.

Named by specs/examples/seed002_quick.mf with ``loss = python("seed002_quick.py",
"compute_loss")``. ``ops`` is the array operations of the backend the script runs on, so the
same function trains on JAX, PyTorch and MLX; specc's own losses are written over the same
table and can be called with it (``losses.cross_entropy(ops, logits, labels)``).
"""

from specc.runtime.composites import losses


def compute_loss(ops, logits, labels):
    """Mean cross-entropy, and the fraction of argmax predictions equal to the labels."""
    loss = losses.cross_entropy(ops, logits, labels)
    accuracy = ops.mean(ops.cast(ops.argmax(logits, axis=-1) == labels, "float32"))
    return loss, {"accuracy": accuracy}
