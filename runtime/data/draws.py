"""The randomness objectives need, drawn in the data pipeline as batch transforms
``(batch, rng) -> batch`` (see ``Loader``): every backend receives the same draws, and
the kernels stay pure functions of their inputs.

Draws are float32 (masks bool) and are taken from ``rng`` in a fixed order, documented per
transform, so a batch is a pure function of (seed, stream, epoch, batch index).
"""

from __future__ import annotations

import functools

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from specc.runtime import checks
from specc.runtime.extensions import Reference
from specc.runtime.reference import flows as reference_flows
from specc.runtime.training.failures import RunError

TIME_SAMPLERS = {
    "uniform": {},
    "logit_normal": {"mean": -0.4, "std": 1.0},
    "mean_flow": {"mean": -0.4, "std": 1.0, "data_proportion": 0.5},
}
COUPLINGS = (None, "ot")
DRAWN = ("noise", "t", "r", "drop")


def draw_time(time, arguments: dict, rng: np.random.Generator, size: int) -> dict[str, np.ndarray]:
    """``{"t": [B]}`` (and ``"r"`` for ``mean_flow``), float32, via the reference flows' maps:

    - ``uniform``: ``t = u``, ``u = rng.random(B, float32)`` in [0, 1);
    - ``logit_normal(mean, std)``: ``t = sigmoid(mean + std * n)``, ``n = rng.standard_normal(B)``;
    - ``mean_flow(mean, std, data_proportion)``: ``n = rng.standard_normal((2, B))``, two
      logit-normal times a, b; ``t = max``, ``r = min``; the first floor(B * p) rows get r = t;
    - a user's sampler (a ``specc.runtime.extensions.Reference``): ``sample(rng, B)`` of the
      object it creates, returning ``t`` ``[B]`` in [0, 1] (checked, :func:`user_time`);
    - a sampler written in the spec (a function of the script, ``beta_time(rng, B)``): its
      draws, checked the same way.
    """
    if isinstance(time, Reference):
        return user_time(time, rng, size)
    if callable(time):
        return {"t": checked_time(time(rng, size), size, lambda message: RunError(f"time sampler {time.__name__} {message}"))}
    if time == "uniform":
        return {"t": reference_flows.uniform_time(rng.random(size, dtype=np.float32))}
    if time == "logit_normal":
        return {
            "t": reference_flows.logit_normal_time(rng.standard_normal(size), **arguments).astype(np.float32)
        }
    first, second = rng.standard_normal((2, size))
    t, r = reference_flows.mean_flow_time(first, second, **arguments)
    return {"t": t.astype(np.float32), "r": r.astype(np.float32)}


def user_time(reference, rng: np.random.Generator, size: int) -> dict[str, np.ndarray]:
    """``{"t": [B]}`` from a user's time sampler (:func:`draw_time`): ``sample(rng, B)``
    returns ``t`` ``[B]`` (or ``[B, 1]``) in [0, 1], served as float32; anything else stops the
    run naming the sampler. (The mean flows draw their pairs with ``mean_flow``: E0712.)"""
    sampler = reference.create()
    drawn = reference.call(sampler.sample, "sample(rng, size)", rng, size)
    return {"t": checked_time(drawn, size, lambda message: reference.error(f"sample {message}"))}


def checked_time(drawn, size: int, error) -> np.ndarray:
    """The times ``drawn`` by a sampler as float32 ``[size]`` (``[size, 1]`` accepted, as seed
    000's samplers return it); ``error(message)`` is raised for anything else."""
    if isinstance(drawn, tuple):
        raise error(f"returned {len(drawn)} values; it returns the times t, one array [{size}]")
    array = np.asarray(drawn, dtype=np.float32)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.shape != (size,):
        raise error(f"returned t of shape {np.shape(drawn)}; it must be [{size}] (the batch)")
    if not np.all((array >= 0) & (array <= 1)):
        raise error(f"returned t outside [0, 1] (min {array.min():.4g}, max {array.max():.4g})")
    return array


def ot_coupling(noise: np.ndarray, data: np.ndarray) -> np.ndarray:
    """Exact minibatch OT: the permutation ``p`` minimising ``sum_i |noise_i - data_{p(i)}|``
    (Euclidean distances between flattened rows; Hungarian algorithm via
    ``scipy.optimize.linear_sum_assignment``). Data row ``p[i]`` is paired with noise row i."""
    flat_noise = np.asarray(noise, dtype=np.float64).reshape(len(noise), -1)
    flat_data = np.asarray(data, dtype=np.float64).reshape(len(data), -1)
    rows, columns = linear_sum_assignment(cdist(flat_noise, flat_data))
    permutation = np.empty(len(rows), dtype=np.int64)
    permutation[rows] = columns
    return permutation


def _check_present(function: str, batch: dict, names) -> None:
    for name in names:
        if name not in batch:
            available = ", ".join(sorted(batch))
            raise ValueError(f"{function}: the batch has no field '{name}' (it has {available})")


def _flow_transform(
    batch: dict, rng: np.random.Generator, *, target, conditions, time, arguments, cfg_dropout, coupling
) -> dict:
    """The transform of :func:`flow_draws` (module level, so a worker process can unpickle it)."""
    _check_present("flow_draws", batch, (target,) + conditions)
    clashing = sorted(set(DRAWN) & set(batch))
    if clashing:
        raise ValueError(f"flow_draws: the batch already has a field named {clashing[0]}")
    size = len(batch[target])
    noise = rng.standard_normal(batch[target].shape, dtype=np.float32)
    draws = {"noise": noise, **draw_time(time, arguments, rng, size)}
    if cfg_dropout > 0:
        draws["drop"] = rng.random(size) < cfg_dropout
    if coupling == "ot":
        permutation = ot_coupling(noise, batch[target])
        batch = {name: value[permutation] for name, value in batch.items()}
    return {**batch, **draws}



def flow_draws(
    target: str,
    conditions=(),
    time: str = "uniform",
    time_arguments=None,
    cfg_dropout: float = 0.0,
    coupling=None,
):
    """Transform adding the draws of a flow objective to a batch.

    Adds ``noise`` ~ N(0, 1) shaped like ``batch[target]`` (float32), ``t`` [B] (and ``r``
    [B] for the ``mean_flow`` time sampler, see :func:`draw_time`), and ``drop`` bool [B]
    (``u < cfg_dropout``, u ~ U[0, 1)) when ``cfg_dropout > 0``, drawn in that order. With
    ``coupling = "ot"`` every data field of the batch (the target, its conditions and any
    other field, so rows stay paired) is reordered by :func:`ot_coupling`; noise keeps its
    order.
    """
    checks.check_choice("flow_draws", "coupling", coupling, COUPLINGS)
    checks.check_fraction("flow_draws", "cfg_dropout", cfg_dropout)
    if not isinstance(time, str):  # the user's sampler: its arguments are in it
        return functools.partial(
            _flow_transform, target=target, conditions=tuple(conditions), time=time, arguments={},
            cfg_dropout=cfg_dropout, coupling=coupling,
        )
    checks.check_choice("flow_draws", "time", time, tuple(TIME_SAMPLERS))
    arguments = dict(TIME_SAMPLERS[time])
    for name, value in dict(time_arguments or {}).items():
        if name not in TIME_SAMPLERS[time]:
            takes = ", ".join(TIME_SAMPLERS[time]) or "no arguments"
            raise ValueError(f"flow_draws: time sampler {time} has no argument '{name}' (it takes {takes})")
        arguments[name] = value
    conditions = tuple(conditions)

    return functools.partial(
        _flow_transform,
        target=target,
        conditions=conditions,
        time=time,
        arguments=arguments,
        cfg_dropout=cfg_dropout,
        coupling=coupling,
    )


def _ranges(function: str, name: str, ranges) -> tuple[tuple[int, int], ...]:
    ranges = tuple(ranges)
    if len(ranges) == 2 and all(isinstance(value, (int, np.integer)) for value in ranges):
        ranges = (ranges,)
    for low, size in ranges:
        checks.check_non_negative(function, f"start of a range of term {name}", low)
        checks.check_positive(function, f"size of a range of term {name}", size)
    return tuple((int(low), int(size)) for low, size in ranges)


def _positions_transform(batch: dict, rng: np.random.Generator, *, terms, k, field, offset, prefix) -> dict:
    """The transform of :func:`token_positions` (module level: picklable)."""
    _check_present("token_positions", batch, (field,))
    targets = np.asarray(batch[field])[:, offset:]
    added = {}
    for name, ranges in terms.items():
        eligible = np.zeros(targets.shape, dtype=bool)
        for low, size in ranges:
            eligible |= (targets >= low) & (targets < low + size)
        if k is not None and eligible.sum() > k:
            chosen = rng.choice(np.flatnonzero(eligible), size=k, replace=False)
            eligible = np.zeros(targets.shape, dtype=bool)
            eligible.flat[chosen] = True
        added[prefix + name] = eligible
    return {**batch, **added}



def token_positions(
    terms: dict, k: int | None = None, field: str = "tokens", offset: int = 1, prefix: str = "positions_"
):
    """Transform choosing the positions each expected-value term is computed on (``sample_k``).

    ``terms`` maps a term name to its vocabulary range ``(lo, size)`` or a list of ranges
    (spectrum groups). The targets are ``batch[field][:, offset:]`` (next-token prediction
    with ``offset = 1``); a position is eligible for a term when its target lies in one of
    the term's ranges. With ``k``, at most k eligible positions per term are kept, drawn
    without replacement over the whole batch (``rng.choice(eligible, k, replace=False)``,
    terms in the given order). Adds ``<prefix><term>``: bool [B, T - offset].
    """
    if k is not None:
        checks.check_positive("token_positions", "k", k)
    checks.check_non_negative("token_positions", "offset", offset)
    terms = {name: _ranges("token_positions", name, ranges) for name, ranges in dict(terms).items()}

    return functools.partial(_positions_transform, terms=terms, k=k, field=field, offset=offset, prefix=prefix)


def _chained(batch: dict, rng: np.random.Generator, *, steps) -> dict:
    for step in steps:
        batch = step(batch, rng)
    return batch


def chain(*transforms):
    """One transform applying ``transforms`` in order (``None`` entries are skipped); each
    draws from the same per-batch generator, so the result is deterministic."""
    present = [transform for transform in transforms if transform is not None]

    return functools.partial(_chained, steps=tuple(present))
