"""Max pools send each window's gradient where torch's do, on every backend: to the first
maximum in row-major order. Ties are common in training (the zeros after a ReLU, repeated
pixel values), and the jax and mlx pools whose windows tile the input (stride = kernel, no
padding) reduce a reshape, whose own gradient would split a window's gradient among its
equal values. Those pools, and mlx's overlapping ones, also follow torch into a window with
a NaN (its last NaN takes the gradient); jax's overlapping pools keep XLA's
``reduce_window`` choice there, so they are checked on ties only."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

TILED = [  # (input shape [B, spatial..., C], kernel, stride, padding)
    ((2, 8, 8, 3), 2, None, 0),  # the conv nets' pool
    ((2, 7, 9, 3), (2, 3), None, 0),  # a ragged edge dropped
    ((3, 10, 4), 3, None, 0),  # 1-d
]
OVERLAPPING = [((2, 6, 6, 2), 3, 1, 1), ((3, 10, 4), 3, 2, 1)]  # padded, 2-d and 1-d
CASES = (
    [(backend, case, nan) for backend in ("jax", "mlx") for case in TILED for nan in (False, True)]
    + [("jax", case, False) for case in OVERLAPPING]
    + [("mlx", case, nan) for case in OVERLAPPING for nan in (False, True)]
)


def tie_heavy(shape, nan, seed=0):
    """Values in {0, 1, 2}: most windows hold equal maxima; with ``nan``, every 37th is NaN."""
    values = np.random.default_rng(seed).integers(0, 3, size=shape).astype(np.float32)
    if nan:
        values.reshape(-1)[::37] = np.nan
    return values


def torch_gradient(values, kernel, stride, padding, seed=1):
    """Torch's pool of ``x`` and gradient of ``sum(max_pool(x) * cotangent)`` (channels first
    inside), and the random ``cotangent``."""
    x = torch.tensor(np.moveaxis(values, -1, 1), requires_grad=True)
    pool = torch.nn.functional.max_pool2d if values.ndim == 4 else torch.nn.functional.max_pool1d
    result = pool(x, kernel, stride=stride, padding=padding)
    cotangent = np.random.default_rng(seed).normal(size=result.shape).astype(np.float32)
    (result * torch.tensor(cotangent)).sum().backward()
    result, gradient = (np.moveaxis(array, 1, -1) for array in (result.detach().numpy(), x.grad.numpy()))
    return result, gradient, np.moveaxis(cotangent, 1, -1)


def jax_gradient(values, kernel, stride, padding, cotangent):
    import jax

    from specc.runtime.jax import functions

    pool = functions.max_pool2d if values.ndim == 4 else functions.max_pool1d

    def weighted(x):
        result = pool(x, kernel, stride=stride, padding=padding)
        return (result * cotangent).sum(), result

    (_, result), gradient = jax.jit(jax.value_and_grad(weighted, has_aux=True))(values)
    return np.asarray(result), np.asarray(gradient)


def mlx_gradient(values, kernel, stride, padding, cotangent):
    import mlx.core as mx

    from specc.runtime.mlx import functions

    pool = functions.max_pool2d if values.ndim == 4 else functions.max_pool1d

    def weighted(x):
        return (pool(x, kernel, stride=stride, padding=padding) * mx.array(cotangent)).sum()

    x = mx.array(values)
    gradient = mx.compile(mx.grad(weighted))(x)
    return np.array(pool(x, kernel, stride=stride, padding=padding)), np.array(gradient)


@pytest.mark.parametrize("backend, case, nan", CASES)
def test_the_gradient_goes_where_torch_sends_it(backend, case, nan):
    pytest.importorskip("mlx.core" if backend == "mlx" else "jax")
    shape, kernel, stride, padding = case
    values = tie_heavy(shape, nan)
    expected_result, expected_gradient, cotangent = torch_gradient(values, kernel, stride, padding)
    gradient_of = jax_gradient if backend == "jax" else mlx_gradient
    result, gradient = gradient_of(values, kernel, stride, padding, cotangent)
    np.testing.assert_array_equal(result, expected_result)  # NaN where torch has NaN
    # overlapping windows add up in another order: float32 rounding apart
    np.testing.assert_allclose(gradient, expected_gradient, rtol=1e-6, atol=1e-6)
    assert np.count_nonzero(gradient) > 0


def pooled_tangent(values, kernel, tangent):
    """What a tiled max pool's JVP must give: each window's tangent at the element torch's
    gradient chooses (a cotangent of ones marks it), summed over the window."""
    x = torch.tensor(np.moveaxis(values, -1, 1), requires_grad=True)
    two_d = values.ndim == 4
    pool = torch.nn.functional.max_pool2d if two_d else torch.nn.functional.max_pool1d
    pool(x, kernel).sum().backward()
    chosen = x.grad * torch.tensor(np.moveaxis(tangent, -1, 1))
    summed = torch.nn.functional.avg_pool2d if two_d else torch.nn.functional.avg_pool1d
    size = int(np.prod(kernel)) if isinstance(kernel, tuple) else kernel ** (2 if two_d else 1)
    return np.moveaxis((summed(chosen, kernel) * size).numpy(), 1, -1)


@pytest.mark.parametrize("backend", ["jax", "mlx"])
@pytest.mark.parametrize("shape, kernel, stride, padding", TILED)
def test_forward_mode_goes_through_the_chosen_element(backend, shape, kernel, stride, padding):
    """The mean-flow objectives push tangents through the model (``jax.jvp`` / ``mx.jvp``)."""
    values = tie_heavy(shape, nan=False)
    tangent = np.random.default_rng(2).normal(size=shape).astype(np.float32)
    expected = pooled_tangent(values, kernel, tangent)
    if backend == "jax":
        jax = pytest.importorskip("jax")
        from specc.runtime.jax import functions

        pool = functions.max_pool2d if len(shape) == 4 else functions.max_pool1d
        _, pushed = jax.jvp(lambda x: pool(x, kernel), (values,), (tangent,))
    else:
        mx = pytest.importorskip("mlx.core")
        from specc.runtime.mlx import functions

        pool = functions.max_pool2d if len(shape) == 4 else functions.max_pool1d
        _, (pushed,) = mx.jvp(lambda x: pool(x, kernel), [mx.array(values)], [mx.array(tangent)])
    np.testing.assert_allclose(np.array(pushed), expected, rtol=1e-6, atol=1e-6)
