"""specc.runtime.jax.training's tracked values: the one array a generated JAX step carries
for the logged values' sums and the first non-finite loss (instead of a scalar per value and
a step-number flag: fewer donated buffers a call)."""

from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")

from specc.runtime.jax import training as jax_training  # noqa: E402


def run_window(losses, norms=None):
    add = jax.jit(lambda tracked, values: jax_training.add_tracked(tracked, values, ("loss", "grad_norm")))
    tracked = jnp.zeros(4)
    for index, loss in enumerate(losses):
        norm = 1.0 if norms is None else norms[index]
        tracked = add(tracked, {"loss": jnp.float32(loss), "grad_norm": jnp.float32(norm)})
    return tracked


def test_the_window_sums_each_value_and_counts_its_steps():
    tracked = run_window([1.0, 2.0, 4.5], norms=[0.5, 0.25, 0.0])
    assert np.asarray(tracked).tolist() == [7.5, 0.75, 3.0, 3.0]
    assert jax_training.first_bad_in_window(tracked, 40) is None


@pytest.mark.parametrize(
    ("losses", "bad"),
    [
        ([1.0, float("nan"), 2.0, float("inf")], 102),  # the first of two, later ones finite again
        ([float("inf")], 101),
        ([1.0, 1.0, 1.0, float("nan")], 104),
    ],
)
def test_the_first_non_finite_step_of_the_window_is_named(losses, bad):
    """A window that began after step 100: its n-th step is step 100 + n."""
    assert jax_training.first_bad_in_window(run_window(losses), 100) == bad


def test_a_non_finite_window_stops_the_run_with_one_line(tmp_path):
    class Log:
        closed = False

        def close(self):
            self.closed = True

    log = Log()
    with pytest.raises(SystemExit, match=r"^the loss is not finite at step 12: stopping the run; no checkpoint was written$"):
        jax_training.stop_if_window_not_finite(run_window([1.0, float("nan")]), 10, log, tmp_path)
    assert log.closed
    jax_training.stop_if_window_not_finite(run_window([1.0]), 10, log, tmp_path)  # finite: nothing happens


@pytest.mark.parametrize("elements", [100, 2**20 + 1])
def test_global_norm_is_optax_s_on_small_and_large_trees(elements):
    """A small tree is reduced as one flat vector, a large one leaf by leaf; both are
    ``optax.global_norm`` to float32 rounding."""
    import optax

    generator = np.random.default_rng(0)
    tree = {"a": jnp.asarray(generator.standard_normal((elements // 2,)), jnp.float32),
            "b": {"c": jnp.asarray(generator.standard_normal((elements - elements // 2,)), jnp.float32)}}
    assert float(jax_training.global_norm(tree)) == pytest.approx(float(optax.global_norm(tree)), rel=1e-6)
    assert float(jax_training.global_norm({})) == 0.0
