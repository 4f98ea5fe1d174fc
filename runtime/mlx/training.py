"""Training helpers for generated MLX scripts: Adam with coupled decay and the optimizers of
``weight_decay_on = matrices`` (``MatrixDecay*``, re-exported from ``optimizers.py``), the compiled step,
clipping, EMA, optimizer state as flat arrays for checkpoints, and on-device running sums
for logging (the scripts build the optimizer and the schedule with direct calls).

The step is one ``mx.compile``d function over the model's and the optimizer's state (both
captured through ``inputs`` / ``outputs`` of ``mx.compile``), so a step is one graph with no
host synchronisation; values are read on the host only at logging intervals. The loop submits
each step with ``OneStepAhead`` (``steps_ahead.py``): it prepares the next step while one runs.

Semantics (COMPONENTS.md, "Training-loop semantics"):

- accumulation over ``n`` micro-batches averages the gradients: ``g = (1 / n) * sum_i g_i``;
- clipping by global norm: ``g <- g * min(1, clip / (norm + 1e-6))``; by value:
  ``g <- clamp(g, -clip, clip)``; applied once, before the update; the logged
  ``grad_norm`` is the norm before clipping;
- Adam / AdamW with bias correction ON (MLX's default is off);
- EMA of weights: ``e <- d * e + (1 - d) * p`` after each step.
"""

from __future__ import annotations

from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map, tree_map_with_path

from specc.runtime import checks
from specc.runtime.mlx import statistics
from specc.runtime.parameters import is_buffer
from specc.runtime.mlx.optimizers import (  # noqa: F401 (the scripts' mlx_training.X)
    CoupledAdam,
    MatrixDecayAdam,
    MatrixDecayAdamW,
    MatrixDecayLion,
    MatrixDecaySGD,
)
from specc.runtime.mlx.sharding import ShardedOptimizer
from specc.runtime.mlx.steps_ahead import OneStepAhead  # noqa: F401 (the scripts' mlx_training.OneStepAhead)
from specc.runtime.training import failures
from specc.runtime.training.peer_watchdog import start_peer_watchdog
from specc.runtime.training.tree import under_prefix

CLIP_MODES = ("norm", "value")


def global_norm(gradients) -> mx.array:
    """``sqrt(sum_i sum(g_i ** 2))`` over every array of the tree, in float32."""
    leaves = [value for _, value in tree_flatten(gradients)]
    total = mx.array(0.0, dtype=mx.float32)
    for value in leaves:
        total = total + mx.sum(mx.square(value.astype(mx.float32)))
    return mx.sqrt(total)


def clip_gradients(gradients, clip: float | None, mode: str = "norm"):
    """``(clipped, norm)``: the norm is the global norm before clipping.

    norm: ``g * min(1, clip / (norm + 1e-6))``; value: ``clamp(g, -clip, clip)``;
    ``clip = None``: unchanged.
    """
    checks.check_choice("clip_gradients", "mode", mode, CLIP_MODES)
    norm = global_norm(gradients)
    if clip is None:
        return gradients, norm
    if mode == "value":
        return tree_map(lambda value: mx.clip(value, -clip, clip), gradients), norm
    scale = mx.minimum(clip / (norm + 1e-6), 1.0)
    return tree_map(lambda value: (value * scale).astype(value.dtype), gradients), norm


def averaged_gradients(value_and_grad, micro_batches):
    """Values and gradients of each micro-batch, averaged: ``(1 / n) * sum_i``.
    ``value_and_grad(batch) -> ((loss, values), gradients)``."""
    totals, gradient_total = None, None
    for batch in micro_batches:
        (_, values), gradients = value_and_grad(batch)
        if gradient_total is None:
            totals, gradient_total = dict(values), gradients
        else:
            totals = {name: totals[name] + values[name] for name in totals}
            gradient_total = tree_map(mx.add, gradient_total, gradients)
    count = len(micro_batches)
    if count > 1:
        gradient_total = tree_map(lambda value: value / count, gradient_total)
        totals = {name: value / count for name, value in totals.items()}
    return across_ranks(totals), across_ranks(gradient_total)


def across_ranks(tree):
    """The mean over the data-parallel ranks (``mx.distributed.all_sum / size``) of every
    array of ``tree``; unchanged in a single process. Each rank holds an equal share of the
    global batch, so the mean of the ranks' means is the global batch's mean."""
    group = mx.distributed.init()
    if group.size() == 1:
        return tree
    return tree_map(lambda value: mx.distributed.all_sum(value, group=group) / group.size(), tree)


def data_parallel(arguments, *loaders):
    """The processes ``mlx.launch`` started (one per device; a single process otherwise):
    each loader hands out this rank's rows of every global batch. ``--devices`` /
    ``--num-nodes``, when given, must agree with the number of launched processes."""
    group = mx.distributed.init()
    wanted = (arguments.devices or 1) * arguments.num_nodes
    if (arguments.devices is not None or arguments.num_nodes > 1) and wanted != group.size():
        raise SystemExit(
            f"--devices {arguments.devices or 1} --num-nodes {arguments.num_nodes}: MLX runs one process per "
            f"device and {group.size()} were launched; start {wanted} with mlx.launch -n {wanted} (see docs/distributed.md)"
        )
    watchdog = start_peer_watchdog(group.rank()) if group.size() > 1 else None  # the ring has no timeout
    for loader in loaders:
        loader.shard(group.rank(), group.size())
        loader.heartbeat = watchdog.beat if watchdog is not None else None
    return group


def reduced_means(totals: dict, rows: int) -> dict:
    """``{name: sum over ranks of totals[name] / sum over ranks of rows}``: per-example means
    of an evaluation whose examples are split over the data-parallel ranks (each once)."""
    group = mx.distributed.init()
    if group.size() > 1:
        names = sorted(totals)
        local = mx.array([float(rows)] + [float(totals[name]) for name in names], mx.float64)
        summed = mx.distributed.all_sum(local, group=group, stream=mx.cpu).tolist()  # float64: CPU
        rows, totals = float(summed[0]), {name: float(summed[index + 1]) for index, name in enumerate(names)}
    return {name: total / max(rows, 1) for name, total in sorted(totals.items())}


def make_train_step(
    model: nn.Module, optimizer: optim.Optimizer, loss_function, clip=None, clip_mode="norm", grad_norm=True, scaler=None,
    totals=None, random=True,
):
    """A compiled ``step(micro_batches) -> values``.

    ``loss_function(model, batch) -> (loss, values)`` where ``values`` is a dict of scalars
    logged (``loss``, ``mse``, ...). ``micro_batches`` is a list of ``n >= 1`` batches
    (gradient accumulation): values and gradients are averaged over them, the gradients
    clipped, then one optimizer update (one schedule tick) is applied. With ``grad_norm``,
    ``values`` gets ``grad_norm``, the global norm before clipping; without it the norm is
    computed only when clipping by norm needs it. ``scaler`` (fp16: ``precision.initial_state()``):
    the loss is scaled, the gradients unscaled before clipping, a step whose gradients are
    not finite skipped and the scale updated in place (``specc.runtime.mlx.precision``).
    ``totals`` (a :class:`StepTotals`): the values are added to it inside the compiled step
    and ``step`` returns None (no op outside it a step). ``random``: MLX's global random
    state goes through the compiled step (dropout); False when the model draws nothing.
    """
    from specc.runtime.mlx import precision

    checks.check_choice("make_train_step", "clip_mode", clip_mode, CLIP_MODES)

    def compute(batch):
        loss, values = loss_function(model, batch)
        return (loss if scaler is None else precision.scaled_loss(scaler, loss)), values

    value_and_grad = nn.value_and_grad(model, compute)
    logged = totals
    # the random state too: dropout draws from MLX's global generator
    state = [model.state, optimizer.state] + ([mx.random.state] if random else []) + ([] if scaler is None else [scaler])
    state += [] if totals is None else [totals.state]

    names: list[str] = []  # filled while tracing: the order of the stacked values

    @partial(mx.compile, inputs=state, outputs=state)
    def compiled(micro_batches):
        values, gradients = averaged_gradients(value_and_grad, micro_batches)
        if scaler is not None:
            gradients, finite = precision.unscale(scaler, gradients)
        if grad_norm or (clip is not None and clip_mode == "norm"):
            gradients, norm = clip_gradients(gradients, clip, clip_mode)
            if grad_norm:
                values["grad_norm"] = norm
        elif clip is not None:
            gradients = tree_map(lambda value: mx.clip(value, -clip, clip), gradients)
        if scaler is None:
            optimizer.update(model, gradients)
        else:
            precision.update_if_finite(model, optimizer, gradients, finite, scaler)
        if logged is not None:
            logged.add(values)
            return None
        names[:] = sorted(values)
        # one stacked output: MLX's compile fails when one array is returned twice
        # (a loss that is also its own unweighted mse)
        return mx.stack([values[name].astype(mx.float32) for name in names])

    def step(micro_batches):
        stacked = compiled(micro_batches)
        if logged is not None:
            return None
        return {name: stacked[index] for index, name in enumerate(names)}

    return step


def mixed_precision(loss_function, dtype):
    """``loss_function`` computed with the model's parameters cast to ``dtype`` (bf16
    compute, float32 master weights: the gradient flows back through the cast)."""
    if dtype == mx.float32:
        return loss_function

    def cast_loss(model, batch):
        master = model.parameters()
        model.update(tree_map(lambda value: value.astype(dtype), master))
        batch = {name: value.astype(dtype) if mx.issubdtype(value.dtype, mx.floating) else value for name, value in batch.items()}
        try:
            loss, values = loss_function(model, batch)
        finally:
            model.update(statistics.with_current_buffers(master, model))  # buffers keep this step's update
        return loss.astype(mx.float32), {name: value.astype(mx.float32) for name, value in values.items()}

    return cast_loss


@mx.compile
def _ema_tree(decay, average, parameters):
    return tree_map(lambda old, new: decay * old + (1.0 - decay) * new, average, parameters)


def ema_update(average, current, decay: float):
    """``e <- d * e + (1 - d) * p`` over two parameter trees of the same structure
    (``average``: the EMA ``e``; ``current``: the parameters ``p``); returns the new EMA.
    Buffers (running statistics) are not averaged: the EMA holds their current values."""
    averaged = _ema_tree(mx.array(decay, dtype=mx.float32), average, current)
    return tree_map_with_path(lambda path, mean, now: now if is_buffer(path) else mean, averaged, current)


def checkpointed(module: nn.Module, *inputs):
    """``module(*inputs)`` with activation checkpointing (``train.remat``):
    ``nn.utils.checkpoint`` (``mx.checkpoint`` over the module's parameters) keeps the inputs
    and recomputes the pass in the backward pass (the same values)."""
    return nn.utils.checkpoint(module)(*inputs)


class StepTotals:
    """The logged values' sums since the last log line and the first non-finite loss, kept in
    a compiled step's state (``make_train_step(..., totals=...)`` adds to them inside the
    step: no op outside it a step). ``state``: float32 sums in ``names`` order, and int32
    ``[steps taken, index of the first whose loss was not finite or -1]``. ``means()`` and
    ``first_bad()`` read them at log intervals, as :class:`RunningSums` and
    :class:`NonFiniteFlag` do; ``first_step``: the steps taken before this object."""

    def __init__(self, names, first_step: int = 0):
        self.names, self.first_step, self.counted = tuple(names), int(first_step), 0
        self.state = [mx.zeros(len(self.names), dtype=mx.float32), mx.array([0, -1], dtype=mx.int32)]

    def add(self, values: dict) -> None:
        """Inside the compiled step: this step's ``values`` added, the step counted."""
        if set(values) != set(self.names):
            raise ValueError(f"StepTotals: the step's values {sorted(values)} are not the logged {sorted(self.names)}")
        sums, counts = self.state
        bad = mx.logical_and(counts[1] < 0, mx.logical_not(mx.isfinite(values["loss"])))
        added = mx.stack([values[name].astype(mx.float32) for name in self.names])
        self.state[0] = sums + added
        self.state[1] = mx.stack([counts[0] + 1, mx.where(bad, counts[0], counts[1])])

    def means(self) -> dict[str, float]:
        sums, counts = np.array(self.state[0]), np.array(self.state[1])
        steps, self.counted = int(counts[0]) - self.counted, int(counts[0])
        if steps == 0:
            return {}
        self.state[0] = mx.zeros(len(self.names), dtype=mx.float32)
        return {name: float(sums[index]) / steps for index, name in enumerate(self.names)}

    def first_bad(self) -> int | None:
        index = int(np.array(self.state[1])[1])
        value = first_bad_step_of_any_rank(mx.array(-1 if index < 0 else self.first_step + index + 1, dtype=mx.int32))
        return None if value < 0 else value


class RunningSums:
    """On-device sums of per-step values for the means written at each log interval.

    ``add(values)`` is lazy (no host sync); ``means()`` reads them once and resets.
    """

    def __init__(self):
        self.totals: dict[str, mx.array] = {}
        self.count = 0

    def add(self, values: dict) -> None:
        for name, value in values.items():
            value = value.astype(mx.float32)
            self.totals[name] = self.totals[name] + value if name in self.totals else value
        self.count += 1

    def arrays(self) -> list:
        return list(self.totals.values())

    def means(self) -> dict[str, float]:
        if self.count == 0:
            return {}
        mx.eval(self.arrays())
        means = {name: float(value.item()) / self.count for name, value in self.totals.items()}
        self.totals, self.count = {}, 0
        return means

    def state_dict(self) -> dict:
        return {"count": self.count, "totals": {name: float(value.item()) for name, value in self.totals.items()}}

    def load_state_dict(self, state: dict) -> None:
        self.count = int(state.get("count", 0))
        self.totals = {name: mx.array(value, dtype=mx.float32) for name, value in state.get("totals", {}).items()}


class NonFiniteFlag:
    """The first step whose loss is not finite, kept on the device (``-1`` while all are).

    ``update(loss, step)`` is lazy; ``first_bad()`` reads it (call at log intervals and
    before checkpoints). Under ``mlx.launch`` it is the first bad step of ANY rank
    (``all_min``), so every rank stops at the same step: a rank stopping alone would leave
    the others waiting in the next gradient all-reduce.
    """

    def __init__(self):
        self.value = mx.array(-1, dtype=mx.int32)

    def update(self, loss: mx.array, step: int) -> None:
        bad = mx.logical_and(self.value < 0, mx.logical_not(mx.isfinite(loss)))
        self.value = mx.where(bad, mx.array(step, dtype=mx.int32), self.value)

    def first_bad(self) -> int | None:
        value = first_bad_step_of_any_rank(self.value)
        return None if value < 0 else value


NEVER = 2**31 - 1  # no bad step, in the int32 the flag holds


def first_bad_step_of_any_rank(bad_step: mx.array) -> int:
    """The smallest ``bad_step`` >= 0 over the ranks of ``mlx.launch`` (-1 when none is;
    ``bad_step`` itself in a single process)."""
    group = mx.distributed.init()
    if group.size() == 1:
        return int(bad_step.item())
    value = mx.where(bad_step < 0, mx.array(NEVER, dtype=mx.int32), bad_step.astype(mx.int32))
    lowest = int(mx.distributed.all_min(value, group=group, stream=mx.cpu).item())
    return -1 if lowest == NEVER else lowest


def main_process_decision(decision: bool) -> bool:
    """Rank 0's ``decision`` on every rank of ``mlx.launch`` (an ``all_sum`` to which only rank
    0 contributes; every rank calls it at the same point); ``decision`` in one process. The
    user's callbacks run on rank 0 only: their stop becomes every rank's."""
    group = mx.distributed.init()
    if group.size() == 1:
        return bool(decision)
    mine = mx.array(int(bool(decision)) if group.rank() == 0 else 0, dtype=mx.int32)
    return int(mx.distributed.all_sum(mine, group=group, stream=mx.cpu).item()) > 0


def optimizer_arrays(optimizer: optim.Optimizer, prefix: str = "") -> dict[str, np.ndarray]:
    """The optimizer's state as flat ``prefix + name -> numpy array`` (``step``,
    ``learning_rate``, ``m.<parameter>``-style dotted paths), exact for bitwise resume."""
    arrays = {}
    # train.parallel = sharded: every rank's rows joined (a collective), as a replicated run's
    flat = optimizer.gathered_state().items() if isinstance(optimizer, ShardedOptimizer) else tree_flatten(optimizer.state)
    for name, value in flat:
        if isinstance(value, mx.array):
            arrays[prefix + name] = np.array(value)
    return arrays


def load_optimizer_arrays(optimizer: optim.Optimizer, model: nn.Module, arrays: dict) -> None:
    """Restore ``optimizer_arrays`` output into an optimizer for ``model``'s parameters.

    Every stored name must exist in the freshly initialised state with the same shape. The
    state is updated in place, so a step compiled over ``optimizer.state`` sees it.
    """
    optimizer.init(model.trainable_parameters())
    expected = {name: value for name, value in tree_flatten(optimizer.state) if isinstance(value, mx.array)}
    missing = sorted(set(expected) - set(arrays))
    unknown = sorted(set(arrays) - set(expected))
    if missing or unknown:
        message = f"optimizer state does not match the model: missing {missing[:5]}, unknown {unknown[:5]}"
        raise failures.mismatch(arrays, ValueError(message))
    sharded = isinstance(optimizer, ShardedOptimizer)  # the checkpoint holds every rank's rows
    restored = []
    for name, value in expected.items():
        stored = np.asarray(arrays[name])
        shape = optimizer.full_shape(name, value.shape) if sharded else tuple(value.shape)
        if tuple(stored.shape) != shape:
            message = f"load_optimizer_arrays: stored '{name}' has shape {list(stored.shape)}, expected {list(shape)}"
            raise failures.mismatch(arrays, ValueError(message))
        restored.append((name, mx.array(optimizer.local_rows(name, stored) if sharded else stored)))
    # Write each leaf into the initialised tree in place: a compiled step captured these
    # objects, and subtrees rebuilt from the names would lose the empty entries of modules
    # without parameters (``dropout_0: {}``) that the gradients' tree still has.
    for name, value in restored:
        *path, last = name.split(".")
        owner = optimizer.state
        for part in path:
            owner = owner[int(part)] if isinstance(owner, list) else owner[part]
        owner[int(last) if isinstance(owner, list) else last] = value


def to_device(batch: dict) -> dict:
    """Numpy batch -> ``mx.array`` batch (same keys)."""
    return {name: mx.array(value) for name, value in batch.items()}


def freeze_parameters(model: nn.Module, prefixes) -> None:
    """Stop training the parameters whose dotted name is a prefix or starts with
    ``prefix + "."`` (``encoder`` freezes ``encoder.x``, not ``encoder2.x``); ``ValueError``
    when a prefix matches no parameter. Frozen parameters get no gradient and no update."""
    names = [name for name, _ in tree_flatten(model.parameters())]
    for prefix in prefixes:
        if not any(under_prefix(name, prefix) for name in names):
            raise ValueError(f"freeze: no parameter name starts with {prefix!r}")
        *path, last = prefix.split(".")
        owner = model
        for part in path:
            owner = owner[int(part)] if isinstance(owner, list) else owner[part]
        target = owner[int(last)] if isinstance(owner, list) else owner[last]
        if isinstance(target, nn.Module):
            target.freeze()
        elif isinstance(target, list):
            for item in target:
                item.freeze()
        else:
            owner.freeze(recurse=False, keys=[last])


# ----------------------------------------------------------------------------- penalties


def parameter_penalty(model, penalties):
    """``sum_k weight_k * sum_{theta under prefix_k} theta^2`` (float32 scalar) over the
    model's dotted parameter names; ``penalties``: ``((prefix, weight), ...)``."""
    flat = {name: value for name, value in tree_flatten(model.parameters()) if not is_buffer(name)}  # parameters only
    total = mx.zeros((), dtype=mx.float32)
    for prefix, weight in penalties:
        for name in sorted(flat):
            if under_prefix(name, prefix):
                total = total + float(weight) * mx.sum(mx.square(flat[name].astype(mx.float32)))
    return total


def with_penalties(loss_fn, penalties):
    """``loss_fn(model, batch)`` plus :func:`parameter_penalty`; the penalty is logged as
    ``penalty`` (the objective's ``loss`` value stays the unpenalised loss)."""

    def penalised(model, batch):
        loss, values = loss_fn(model, batch)
        penalty = parameter_penalty(model, penalties)
        return loss + penalty.astype(loss.dtype), {**values, "penalty": penalty}

    return penalised
