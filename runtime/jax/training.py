"""JAX helpers of the generated training scripts: clipping with specc's formula,
frozen-parameter masks, the weight-decay mask of the matrices, EMA, precision casts, the L2
penalty by prefix, and optimizer / EMA state as flat named numpy arrays for checkpoints.

The step function, the optax optimizer and the schedule are written out in each script;
these are its building blocks.
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np
import optax

from specc.runtime.jax import processes
from specc.runtime.training import failures
from specc.runtime.training.distributed import check_divisible
from specc.runtime.training.tree import under_prefix

FLAT_NORM_ELEMENTS = 2**20  # trees up to this many elements are read as one flat vector


def global_norm(tree) -> jax.Array:
    """``sqrt(sum_i sum(g_i ** 2))`` over the leaves of ``tree``, in float32. A tree of at most
    ``FLAT_NORM_ELEMENTS`` elements is concatenated into one vector and reduced by one dot
    product: XLA on the CPU runs one loop instead of one per leaf (on the digits MLP's jitted
    step 13-56 us less than ``optax.global_norm`` in five in-process runs, docs/performance.md). A larger tree is reduced leaf by
    leaf, as ``optax.global_norm`` does, so that no copy of its gradients is made. The
    gradient norm a step logs and the one its clipping uses are this same computation, which
    XLA then computes once."""
    leaves = [leaf.astype(jnp.float32) for leaf in jax.tree_util.tree_leaves(tree)]
    if not leaves:
        return jnp.zeros((), jnp.float32)
    if sum(leaf.size for leaf in leaves) <= FLAT_NORM_ELEMENTS:
        flat = jnp.concatenate([leaf.ravel() for leaf in leaves])
        return jnp.sqrt(jnp.vdot(flat, flat))
    return jnp.sqrt(sum(jnp.sum(leaf * leaf) for leaf in leaves))


def clip_by_global_norm(max_norm: float) -> optax.GradientTransformation:
    """``g <- g * min(1, max_norm / (norm + 1e-6))`` with the global norm over all leaves
    (:func:`global_norm`)."""

    def update(updates, state, params=None):
        norm = global_norm(updates)
        factor = jnp.minimum(1.0, max_norm / (norm + 1e-6))
        return jax.tree_util.tree_map(lambda g: g * factor.astype(g.dtype), updates), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


def dotted(path) -> str:
    """A jax key path as a dotted name (``linear_0.weight``)."""
    parts = []
    for key in path:
        for attribute in ("key", "name", "idx"):
            if hasattr(key, attribute):
                parts.append(str(getattr(key, attribute)))
                break
        else:
            parts.append(str(key))
    return ".".join(parts)


def frozen_mask(params, prefixes) -> object:
    """Pytree of bools: True where the dotted parameter name starts with one of ``prefixes``
    (a prefix matches whole name parts: ``encoder`` freezes ``encoder.x`` not ``encoder2.x``).
    ``ValueError`` when a prefix matches no parameter."""
    names = [dotted(path) for path, _ in jax.tree_util.tree_flatten_with_path(params)[0]]
    for prefix in prefixes:
        if not any(under_prefix(name, prefix) for name in names):
            raise ValueError(f"freeze: no parameter name starts with {prefix!r}")

    def frozen(path, _):
        name = dotted(path)
        return any(under_prefix(name, prefix) for prefix in prefixes)

    return jax.tree_util.tree_map_with_path(frozen, params)


def frozen_masks(named_params: dict, prefixes) -> dict:
    """``frozen_mask`` over several models: ``{model: pytree of bools or None}``.

    A prefix names parameters as ``<model>.<path>`` (``vae.vae_encoder_0``) or by the path
    inside any model (``vae_encoder_0``); matching is by whole name parts. ``ValueError``
    when a prefix matches no parameter of any model.
    """
    names = {
        model: [dotted(path) for path, _ in jax.tree_util.tree_flatten_with_path(params)[0]]
        for model, params in named_params.items()
    }

    def matches(model: str, name: str, prefix: str) -> bool:
        return any(under_prefix(full, prefix) for full in (f"{model}.{name}", name))

    for prefix in prefixes:
        if not any(matches(model, name, prefix) for model in names for name in names[model]):
            raise ValueError(f"freeze: no parameter name starts with {prefix!r} (models: {', '.join(names)})")
    masks = {}
    for model, params in named_params.items():
        if not any(matches(model, name, prefix) for name in names[model] for prefix in prefixes):
            masks[model] = None
            continue
        masks[model] = jax.tree_util.tree_map_with_path(
            lambda path, _, model=model: any(matches(model, dotted(path), prefix) for prefix in prefixes), params
        )
    return masks


def matrix_mask(params) -> object:
    """Pytree of bools: True for the parameters of rank >= 2 (linear, convolution and
    embedding weights), False for biases and norm scales. ``weight_decay_on = matrices``
    hands it to optax as the weight decay's ``mask`` (nanoGPT's choice)."""
    return jax.tree_util.tree_map(lambda parameter: parameter.ndim >= 2, params)


def trainable_norm(grads, frozen=None):
    """``sqrt(sum of g^2)`` over the gradients of the parameters that are not frozen
    (``frozen``: pytree of bools or None), the norm torch reports for ``requires_grad``."""
    if frozen is not None:
        grads = jax.tree_util.tree_map(lambda grad, mask: jnp.where(mask, jnp.zeros_like(grad), grad), grads, frozen)
    return global_norm(grads)


def ema_update(average, current, decay: float):
    """``e <- d * e + (1 - d) * p`` over two parameter pytrees of the same structure
    (``average``: the EMA ``e``; ``current``: the parameters ``p``); returns the new EMA."""
    return jax.tree_util.tree_map(lambda old, new: decay * old + (1.0 - decay) * new, average, current)


def select_device(name: str | None, num_nodes: int = 1) -> None:
    """Run on the JAX platform ``name`` (``cpu``, ``gpu``...; None: JAX's default); with
    ``num_nodes`` above 1 join the run's processes first (``processes.join_processes``: it
    must precede the first device query); exit with a message naming the device when JAX
    cannot use it."""
    if name:
        jax.config.update("jax_platforms", name)
    follow_thread_count()
    processes.join_processes(num_nodes)
    if name:
        try:
            jax.devices()
        except RuntimeError as error:
            raise SystemExit(f"--device {name!r} is not available to JAX: {error}") from error


def follow_thread_count(environment=None) -> None:
    """XLA's CPU thread pool ignores ``OMP_NUM_THREADS``; with it set to 1 (one thread per
    process, as a user or a launcher asks of every framework), XLA runs without its Eigen
    pool (``--xla_cpu_multi_thread_eigen=false``), as torch does with one thread. XLA has no
    flag for another count, so N > 1 leaves its default. Must run before JAX starts its
    backend; a choice already in ``XLA_FLAGS`` is kept."""
    environment = os.environ if environment is None else environment
    flags = environment.get("XLA_FLAGS", "")
    if environment.get("OMP_NUM_THREADS", "").strip() != "1" or "xla_cpu_multi_thread_eigen" in flags:
        return
    environment["XLA_FLAGS"] = f"{flags} --xla_cpu_multi_thread_eigen=false".strip()


class DataParallel:
    """``--devices N``: a ``jax.sharding.Mesh`` with one axis ``data`` over the first N local
    devices of each process (one process, or ``--num-nodes`` processes joined by
    ``jax.distributed``, in process order). ``shard(batch)`` places the global batch split
    along it (across processes each transfers only its devices' rows); the
    parameters and optimizer state stay replicated (jit puts them on every device of the
    mesh), so the jitted step's mean loss is the global batch's and jit averages the
    gradients. With one device ``shard`` returns the numpy batch unchanged.

    ``sharded`` (``train.parallel = sharded``): ``place(tree)`` splits every array of the
    parameters / optimizer state whose first axis divides by N along the mesh (the others,
    scalars included, stay replicated); jit gathers what each computation needs, so the
    numbers are the replicated mode's while each device holds about 1/N of the state. Across
    processes each process places only its own devices' rows, and checkpoints gather the
    arrays whole (``processes.host_arrays`` in ``flatten_state`` and ``state.state_dict``)."""

    AXIS = "data"

    def __init__(self, devices: int = 1, sharded: bool = False):
        self.sharded = bool(sharded)
        available = jax.local_devices()
        if devices > len(available):
            hint = f"; on CPU: XLA_FLAGS=--xla_force_host_platform_device_count={devices}"
            raise SystemExit(
                f"--devices {devices}: JAX sees {len(available)} local {available[0].platform} device(s)"
                + (hint if available[0].platform == "cpu" else "")
            )
        self.processes = jax.process_count()
        # every process's first ``devices`` local devices, in process order
        chosen = [device for process in range(self.processes) for device in self.process_devices(process)[:devices]]
        self.devices = len(chosen)
        self.mesh = jax.sharding.Mesh(np.array(chosen), (self.AXIS,)) if self.devices > 1 else None

    @staticmethod
    def process_devices(process: int) -> list:
        """The devices of process ``process`` (``jax.devices()`` spans every process)."""
        return sorted((device for device in jax.devices() if device.process_index == process), key=lambda device: device.id)

    def place(self, tree):
        """``tree`` sharded along its arrays' first axis (``sharded`` and N > 1), else unchanged."""
        if self.mesh is None or not self.sharded:
            return tree
        replicated = jax.sharding.NamedSharding(self.mesh, jax.sharding.PartitionSpec())

        def put(value):
            divisible = np.ndim(value) >= 1 and np.shape(value)[0] % self.devices == 0
            sharding = self.sharding(0) if divisible else replicated
            # across processes: each process transfers only its own devices' rows
            return jax.device_put(value, sharding) if self.processes == 1 else from_global(value, sharding)

        return jax.tree_util.tree_map(put, tree)

    def sharding(self, axis: int = 0):
        """Split along ``axis`` over the mesh (every other axis replicated)."""
        spec = jax.sharding.PartitionSpec(*([None] * axis), self.AXIS)
        return jax.sharding.NamedSharding(self.mesh, spec)

    def shard(self, batch: dict, axis: int = 0) -> dict:
        """The global batch split along ``axis`` (1 for stacked micro-batches) over the mesh."""
        if self.mesh is None:
            return batch
        rows = next(np.shape(value)[axis] for value in batch.values() if np.ndim(value) > axis)
        try:
            check_divisible(rows, self.devices)
        except ValueError as error:
            raise SystemExit(str(error)) from None
        replicated = jax.sharding.NamedSharding(self.mesh, jax.sharding.PartitionSpec())
        put = jax.device_put if self.processes == 1 else from_global
        return {
            name: put(value, self.sharding(axis) if np.ndim(value) > axis else replicated)
            for name, value in batch.items()
        }


def from_global(value, sharding):
    """A global array made from the global batch ``value`` that every process holds: each
    process transfers only the slices its own devices hold (its share of the rows)."""
    value = np.asarray(value)
    return jax.make_array_from_callback(value.shape, sharding, lambda index: value[index])


def data_parallel(arguments, sharded: bool = False) -> DataParallel:
    """``--device`` (the platform), ``--num-nodes`` (processes joined by
    ``jax.distributed.initialize``: ``specc.runtime.jax.processes``), then ``--devices``
    (local devices of each process; the mesh spans all of them); ``sharded``: parameters
    and optimizer state split along the data axis (``DataParallel``)."""
    select_device(arguments.device, getattr(arguments, "num_nodes", 1) or 1)
    return DataParallel(getattr(arguments, "devices", None) or 1, sharded)


def main_process_decision(decision: bool) -> bool:
    """The main process's ``decision`` on every process (``jax.distributed``: a broadcast from
    process 0, which every process calls at the same point); ``decision`` in one process.
    The user's callbacks run on the main process only: their stop becomes every process's."""
    if jax.process_count() == 1:
        return bool(decision)
    from jax.experimental import multihost_utils

    return bool(multihost_utils.broadcast_one_to_all(np.asarray(bool(decision))))


def stop_if_not_finite(bad_step, log, run_dir) -> None:
    """Stop the run when the device flag ``bad_step`` (-1: every loss so far finite) names a
    step: ``log`` is closed and ``SystemExit`` names the step and the last good checkpoint."""
    from specc.runtime.training import NonFiniteLoss, first_bad_step, newest_checkpoint

    bad = first_bad_step(bad_step)
    if bad is not None:
        log.close()
        raise SystemExit(str(NonFiniteLoss(bad, newest_checkpoint(run_dir))))


def checkpointed(module, *inputs):
    """``module(*inputs)`` with activation checkpointing (``train.remat``): ``nnx.remat``
    keeps the inputs and recomputes the pass in the backward pass (the same values)."""
    from flax import nnx

    return nnx.remat(lambda module, *inputs: module(*inputs))(module, *inputs)


def add_tracked(tracked, values: dict, names):
    """Inside the jitted step: ``tracked`` with ``values[name]`` for each of ``names`` added,
    one more step counted, and the finite count advanced while every loss of the window so
    far was finite. ``tracked`` is the one float32 array a generated step carries for its
    logged values (one buffer donated and returned a call, instead of a scalar per value and
    a flag): their sums since the last log line (``jnp.zeros(len(names) + 2)`` there), then
    the steps taken in that window and how many of them, from its start, had a finite loss.
    Counts are exact up to 2**24 steps a window."""
    steps, finite = tracked[-2], tracked[-1]
    still_finite = (finite == steps) & jnp.isfinite(values["loss"])
    added = [values[name].astype(jnp.float32) for name in names]
    return tracked + jnp.stack([*added, jnp.ones((), jnp.float32), still_finite.astype(jnp.float32)])


def first_bad_in_window(tracked, window_start: int) -> int | None:
    """The step number of the window's first non-finite loss (the window began after step
    ``window_start``), or None when every loss of it was finite."""
    host = np.asarray(tracked)
    steps, finite = int(host[-2]), int(host[-1])
    return None if finite >= steps else window_start + finite + 1


def stop_if_window_not_finite(tracked, window_start: int, log, run_dir) -> None:
    """:func:`stop_if_not_finite` over the window that ``tracked`` counts (every earlier
    window was checked at its log line)."""
    from specc.runtime.training import NonFiniteLoss, newest_checkpoint

    bad = first_bad_in_window(tracked, window_start)
    if bad is not None:
        log.close()
        raise SystemExit(str(NonFiniteLoss(bad, newest_checkpoint(run_dir))))


def checkpoint_arrays(model, params, rest, opt_state, raw_params=None):
    """(model arrays, training state) of a checkpoint: ``params`` (the EMA weights when EMA is
    on) as the model's canonical arrays by dotted name; the optimizer state, ``rest`` and the
    raw weights beside an EMA (``raw_params``) as flat named arrays (:func:`flatten_state`)."""
    from flax import nnx

    from specc.runtime.jax import state

    nnx.update(model, params, rest)
    extra = flatten_state(opt_state, "optimizer")
    extra.update(flatten_state(rest, "rest"))
    if raw_params is not None:
        extra.update(flatten_state(raw_params, "params"))
    return state.state_dict(model), extra


def cast_floating(tree, dtype):
    """Floating leaves cast to ``dtype`` (the forward pass of bf16 training)."""
    return jax.tree_util.tree_map(
        lambda leaf: leaf.astype(dtype) if jnp.issubdtype(leaf.dtype, jnp.floating) else leaf, tree
    )


def flatten_state(tree, prefix: str) -> dict[str, np.ndarray]:
    """Every leaf of ``tree`` as a numpy array under ``prefix.<index>.<path>``; PRNG keys as
    their key data. Arrays split over several processes (``train.parallel = sharded``) are
    gathered whole (``processes.host_arrays``: a collective, every process calls it)."""
    tree = processes.host_arrays(tree)
    flat = {}
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    for index, (path, leaf) in enumerate(leaves):
        if jnp.issubdtype(getattr(leaf, "dtype", np.float32), jax.dtypes.prng_key):
            leaf = jax.random.key_data(leaf)
        name = dotted(path)
        flat[f"{prefix}.{index:04d}" + (f".{name}" if name else "")] = np.asarray(leaf)
    return flat


def unflatten_state(template, flat: dict, prefix: str):
    """Inverse of :func:`flatten_state` onto ``template``'s structure; ``CheckpointMismatch``
    (a ``ValueError``) when the checkpoint does not hold the same leaves."""
    leaves_with_path, treedef = jax.tree_util.tree_flatten_with_path(template)
    expected = flatten_state(template, prefix)
    missing = sorted(set(expected) - set(flat))
    if missing:
        raise failures.mismatch(flat, ValueError(f"optimizer state lacks {missing[0]!r} ({len(missing)} missing)"))
    leaves = []
    for (name, reference), (_, leaf) in zip(expected.items(), leaves_with_path):
        value = np.asarray(flat[name])
        if value.shape != reference.shape:
            message = f"optimizer state {name!r} has shape {value.shape}, expected {reference.shape}"
            raise failures.mismatch(flat, ValueError(message))
        if jnp.issubdtype(getattr(leaf, "dtype", np.float32), jax.dtypes.prng_key):
            leaves.append(jax.random.wrap_key_data(jnp.asarray(value)))
        else:
            leaves.append(jnp.asarray(value, dtype=leaf.dtype))
    return jax.tree_util.tree_unflatten(treedef, leaves)


# ----------------------------------------------------------------------------- penalties


def parameter_penalty(model, penalties):
    """``sum_k weight_k * sum_{theta under prefix_k} theta^2`` (float32 scalar) over the
    model's dotted parameter names; ``penalties``: ``((prefix, weight), ...)``."""
    from flax import nnx

    flat = {
        ".".join(str(part) for part in path): variable[...]
        for path, variable in nnx.to_flat_state(nnx.state(model, nnx.Param))
    }
    total = jnp.zeros((), jnp.float32)
    for prefix, weight in penalties:
        for name in sorted(flat):
            if under_prefix(name, prefix):
                total = total + float(weight) * jnp.sum(jnp.square(flat[name].astype(jnp.float32)))
    return total
