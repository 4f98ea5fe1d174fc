"""Pieces of the generated MLX scripts for the objectives whose step is not one loss of one
model: ``language_model`` (expected-value terms) and ``adversarial`` (two models, two
optimizers, one compiled step).

Semantics (COMPONENTS.md, "Token losses" and "Adversarial training"):

- an expected-value term (``expected_value_term``: ``specc.runtime.composites.objectives``
  bound to ``specc.runtime.mlx.ops``) with one first id ``lo`` is ``expected_codebook`` (codebook
  ``[V, D]``) or ``expected_scalar`` (centres ``[V]``); several first ids sharing one codebook
  (grouped spectra) is ``expected_codebook_grouped``;
- one adversarial step: (1) the discriminator's gradient of ``loss_D`` with the generator's
  output held constant, clipped, applied when the adversarial terms are active; (2) the
  generator's gradient of ``loss_G`` through the updated discriminator, clipped, applied.
  Both gradients are averaged over the micro-batches (accumulation); ``grad_norm`` /
  ``discriminator_grad_norm`` are the global norms before clipping (0 for the
  discriminator during the warmup).
"""

from __future__ import annotations

from contextlib import contextmanager
from functools import partial

import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_map

from specc.runtime.composites import binder
from specc.runtime.composites import objectives as composite
from specc.runtime.mlx import ops, statistics
from specc.runtime.mlx.training import averaged_gradients, clip_gradients, freeze_parameters
from specc.runtime.training.tree import under_prefix

__all__ = [
    "EXPECTED_VALUE_FUNCTIONS",
    "computing_in",
    "expected_value_term",
    "freeze_models",
    "make_adversarial_step",
    "mixed_precision_models",
    "regroup",
]

_bind = binder(ops, __name__)

EXPECTED_VALUE_FUNCTIONS = composite.EXPECTED_VALUE_FUNCTIONS
expected_value_term = _bind(composite.expected_value_term)


# ----------------------------------------------------------------------------- several models


def regroup(outputs, structure):
    """A model's flat outputs grouped by its ``output_structure``: ``None`` takes one output,
    ``n`` a list of the next n (``(None, 2)``: ``(x, [mean, logvar])``). An empty structure
    returns ``outputs`` unchanged."""
    if not structure:
        return outputs
    outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
    sizes = [1 if size is None else int(size) for size in structure]
    if sum(sizes) != len(outputs):
        raise ValueError(f"regroup: output structure {tuple(structure)} needs {sum(sizes)} outputs, got {len(outputs)}")
    grouped, start = [], 0
    for size in structure:
        if size is None:
            grouped.append(outputs[start])
            start += 1
        else:
            grouped.append(list(outputs[start : start + size]))
            start += size
    return tuple(grouped)


def freeze_models(models: dict, prefixes) -> None:
    """Freeze parameters of several models. A prefix naming a model (``vae`` or
    ``vae.encoder``) applies to that model; any other prefix to every model that has a
    parameter under it. ``ValueError`` when a prefix matches no parameter."""
    for prefix in prefixes:
        head, _, rest = prefix.partition(".")
        if head in models:
            if rest:
                freeze_parameters(models[head], [rest])
            else:
                models[head].freeze()
            continue
        owners = [model for model in models.values() if _has_prefix(model, prefix)]
        if not owners:
            raise ValueError(f"freeze: no parameter name starts with {prefix!r}")
        for model in owners:
            freeze_parameters(model, [prefix])


def _has_prefix(model: nn.Module, prefix: str) -> bool:
    names = [name for name, _ in tree_flatten(model.parameters())]
    return any(under_prefix(name, prefix) for name in names)


@contextmanager
def computing_in(models, dtype):
    """Inside the block every model's parameters are cast to ``dtype`` (bf16 compute);
    the float32 master parameters are put back on exit, so the gradient of a loss computed
    inside flows back through the cast to them."""
    masters = [model.parameters() for model in models]
    if dtype != mx.float32:
        for model, master in zip(models, masters):
            model.update(tree_map(lambda value: value.astype(dtype), master))
    try:
        yield
    finally:
        if dtype != mx.float32:
            for model, master in zip(models, masters):
                model.update(statistics.with_current_buffers(master, model))  # buffers keep this step's update


def mixed_precision_models(loss_function, models, dtype):
    """``loss_function(batch, *extra) -> (loss, values)`` computed with every model of
    ``models`` in ``dtype`` and the batch's floating arrays cast to it; loss and values come
    back as float32. ``dtype = float32`` returns ``loss_function`` unchanged."""
    if dtype == mx.float32:
        return loss_function

    def cast_loss(batch, *extra):
        batch = {name: value.astype(dtype) if mx.issubdtype(value.dtype, mx.floating) else value for name, value in batch.items()}
        with computing_in(models, dtype):
            loss, values = loss_function(batch, *extra)
        return loss.astype(mx.float32), {name: value.astype(mx.float32) for name, value in values.items()}

    return cast_loss


def _averaged_values(loss_function, micro_batches):
    """The values of ``loss_function`` averaged over the micro-batches (no gradient)."""
    totals = None
    for batch in micro_batches:
        _, values = loss_function(batch)
        totals = dict(values) if totals is None else {name: totals[name] + values[name] for name in totals}
    return {name: value / len(micro_batches) for name, value in totals.items()}


def make_adversarial_step(
    generator: nn.Module,
    discriminator: nn.Module,
    generator_optimizer,
    discriminator_optimizer,
    discriminator_loss,
    generator_loss,
    clip=None,
    clip_mode: str = "norm",
):
    """A compiled ``step(micro_batches, active) -> values`` of adversarial training.

    - ``discriminator_loss(batch) -> (loss, values)``: the discriminator's loss with the
      generator's output under ``stop_gradient``; when ``active`` its gradient (w.r.t. the
      discriminator's trainable parameters) is averaged, clipped and applied; during the
      warmup only its values are computed and ``discriminator_grad_norm`` is 0 (the
      discriminator's optimizer count, and so its schedule, advances only on its updates);
    - ``generator_loss(batch, active) -> (loss, values)``: the generator's loss through the
      (updated) discriminator; its gradient is averaged, clipped and applied.

    ``active`` (a Python bool: one compiled graph per value) is False during
    ``adversarial_warmup``. ``values`` holds both losses' values, ``grad_norm`` (generator)
    and ``discriminator_grad_norm``, each the global norm before clipping.
    """
    state = [generator.state, discriminator.state, generator_optimizer.state, discriminator_optimizer.state, mx.random.state]
    discriminator_gradient = nn.value_and_grad(discriminator, discriminator_loss)
    names: dict[bool, list[str]] = {}

    def build(active: bool):
        generator_gradient = nn.value_and_grad(generator, lambda batch: generator_loss(batch, active))

        @partial(mx.compile, inputs=state, outputs=state)
        def compiled(micro_batches):
            if active:
                discriminator_values, gradients = averaged_gradients(discriminator_gradient, micro_batches)
                gradients, discriminator_norm = clip_gradients(gradients, clip, clip_mode)
                discriminator_optimizer.update(discriminator, gradients)
            else:  # warmup: the loss is logged, no gradient is taken or applied
                discriminator_values = _averaged_values(discriminator_loss, micro_batches)
                discriminator_norm = mx.zeros((), dtype=mx.float32)
            generator_values, gradients = averaged_gradients(generator_gradient, micro_batches)
            gradients, generator_norm = clip_gradients(gradients, clip, clip_mode)
            generator_optimizer.update(generator, gradients)
            values = {**discriminator_values, **generator_values}
            values.update(grad_norm=generator_norm, discriminator_grad_norm=discriminator_norm)
            names[active] = sorted(values)
            # one stacked output: MLX's compile fails when one array is returned twice
            return mx.stack([values[name].astype(mx.float32) for name in names[active]])

        return compiled

    steps = {True: build(True), False: build(False)}

    def step(micro_batches, active: bool):
        stacked = steps[bool(active)](micro_batches)
        return {name: stacked[index] for index, name in enumerate(names[bool(active)])}

    return step
