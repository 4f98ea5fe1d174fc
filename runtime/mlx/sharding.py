"""``train.parallel = sharded`` on MLX: optimizer state partitioned over the ranks of
``mlx.launch`` (ZeRO stage 1), with ``mx.distributed`` collectives only.

Every rank still computes the gradient of its share of the global batch, and the gradients
are averaged over the ranks (``all_sum / size``, :func:`specc.runtime.mlx.training.across_ranks`)
and clipped by their global norm as in the replicated mode. Then, for every parameter whose
first axis divides by the number of ranks N, rank ``r`` keeps only rows
``[r * n / N, (r + 1) * n / N)`` of its optimizer state (Adam's moments, SGD's momentum,
Lion's average), applies the optimizer to those rows of the parameter with those rows of the
averaged gradient, and the updated rows of every rank are put together with
``mx.distributed.all_gather`` (which concatenates along the first axis in rank order). The
other parameters (a first axis that does not divide, scalars) keep their whole state on
every rank. Each rank holds about 1/N of the optimizer state and computes 1/N of the update.

The optimizers of the MLX backend (Adam, AdamW, SGD, Lion and their ``MatrixDecay*``
variants) update every element from that element's gradient, parameter and state alone, so
the rows a rank updates are the rows one process would compute: the losses are the
replicated mode's.

Checkpoints hold the whole state (:meth:`ShardedOptimizer.gathered_state`, a collective:
every rank calls it at the same point), in the same portable layout as a replicated run, so
a checkpoint written on N ranks resumes on M and loads into every backend;
:meth:`ShardedOptimizer.local_rows` cuts a rank's rows back out of it when resuming.
"""

from __future__ import annotations

import mlx.core as mx
from mlx.utils import tree_flatten, tree_map


class ShardedOptimizer:
    """An MLX optimizer whose state holds, on each rank, only that rank's rows of every
    parameter whose first axis divides by the number of ranks (see the module docstring).

    It is used where the optimizer is: ``init(parameters)``, ``update(model, gradients)``
    (inside ``mx.compile``), ``state`` (the wrapped optimizer's own tree, which a compiled
    step captures), and every other attribute (``learning_rate``, ``step``) of the wrapped
    optimizer. In a single process it is the wrapped optimizer."""

    def __init__(self, optimizer, group=None):
        self.optimizer = optimizer
        self.group = group if group is not None else mx.distributed.init()
        self.rank, self.ranks = self.group.rank(), self.group.size()
        self.split_parameters: set[str] = set()  # dotted names of the parameters split over the ranks

    def __getattr__(self, name):
        if name == "optimizer":  # not set yet (a copy being built): no recursion
            raise AttributeError(name)
        return getattr(self.optimizer, name)

    @property
    def state(self):
        return self.optimizer.state

    def is_split(self, array) -> bool:
        """True when ``array``'s rows are split over the ranks (its first axis divides by them)."""
        return self.ranks > 1 and array.ndim >= 1 and array.shape[0] % self.ranks == 0

    def rows(self, array):
        """This rank's rows of ``array`` (a parameter, a gradient or a state array split over the ranks)."""
        count = array.shape[0] // self.ranks
        return array[self.rank * count : (self.rank + 1) * count]

    def local(self, gradients, tree):
        """``tree`` (parameters or gradients) cut to this rank's rows where split, with
        ``gradients``' structure (a model's parameters may be a superset of its gradients)."""
        return tree_map(lambda gradient, value: self.rows(value) if self.is_split(gradient) else value, gradients, tree)

    def init(self, parameters) -> None:
        """The wrapped optimizer's state for this rank's rows of ``parameters``."""
        self.split_parameters = {name for name, value in tree_flatten(parameters) if self.is_split(value)}
        self.optimizer.init(self.local(parameters, parameters))

    def apply_gradients(self, gradients, parameters):
        """The updated parameters: each rank updates its rows, ``all_gather`` joins them."""
        if not self.optimizer._initialized:
            self.init(gradients)
        updated = self.optimizer.apply_gradients(self.local(gradients, gradients), self.local(gradients, parameters))
        return tree_map(
            lambda new, gradient: mx.distributed.all_gather(new, group=self.group) if self.is_split(gradient) else new,
            updated,
            gradients,
        )

    def update(self, model, gradients) -> None:
        model.update(self.apply_gradients(gradients, model))

    def is_split_state(self, name: str) -> bool:
        """True when the flat state array ``name`` (``<parameter>.<key>``: ``linear_0.weight.m``)
        belongs to a parameter split over the ranks."""
        return any(name.startswith(parameter + ".") for parameter in self.split_parameters)

    def gathered_state(self) -> dict:
        """``{flat name: array}`` of the whole optimizer state (every rank's rows joined with
        ``all_gather``): a checkpoint's, the same as a replicated run's. Collective."""
        flat = {}
        for name, value in tree_flatten(self.optimizer.state):
            if isinstance(value, mx.array) and self.is_split_state(name):
                value = mx.distributed.all_gather(value, group=self.group, stream=mx.cpu)
            flat[name] = value
        return flat

    def full_shape(self, name: str, shape) -> tuple:
        """The shape in a checkpoint of the state array ``name`` whose local shape is ``shape``."""
        shape = tuple(shape)
        return (shape[0] * self.ranks, *shape[1:]) if self.is_split_state(name) else shape

    def local_rows(self, name: str, array):
        """This rank's rows of the checkpoint's whole state array ``name`` (unchanged when not split)."""
        return self.rows(array) if self.is_split_state(name) else array
