"""`layers.cast` and `layers.where` of every backend against the numpy reference, the
operators the generated code prints for comparisons and logic (`!=`, `&`, `|`, `~`) on each
framework's arrays, and one small spec end to end: a bool mask stored in an npz file gates
attention through `attn_mask != 0` and a cast, with the same per-step losses on jax,
lightning and mlx."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from specc.compiler import pipeline
from specc.compiler.emit import render as emit
from specc.runtime.reference import layers as reference
from tests.backends.test_spec_parity import run_backends_together, train_losses
from tests.specs.helpers import read

DTYPES = {"f32": np.float32, "i32": np.int32, "i64": np.int64, "bool": np.bool_}


def _values(rng):
    return (rng.normal(size=(3, 5)) * 3).astype(np.float32)


@pytest.mark.parametrize("dtype", sorted(DTYPES))
def test_cast_from_floats_matches_the_reference(backend, rng, dtype):
    values = _values(rng)
    values[0, :2] = 0.0
    result = backend.numpy(backend.module("layers").cast(backend.array(values), dtype))
    expected = reference.cast(values, dtype)
    wanted = np.int32 if backend.name == "jax" and dtype == "i64" else DTYPES[dtype]  # jax without x64
    assert result.dtype == wanted
    np.testing.assert_array_equal(result, expected.astype(wanted))


@pytest.mark.parametrize("source", ["i64", "bool"])
@pytest.mark.parametrize("dtype", sorted(DTYPES))
def test_cast_from_integers_and_bools_matches_the_reference(backend, rng, source, dtype):
    values = rng.integers(-2, 3, size=(4, 6)).astype(DTYPES[source])
    result = backend.numpy(backend.module("layers").cast(backend.array(values, DTYPES[source]), dtype))
    np.testing.assert_array_equal(result, reference.cast(values, dtype))


def test_cast_refuses_an_unknown_dtype(backend):
    with pytest.raises(ValueError, match="cast: dtype must be one of 'f32', 'i32', 'i64', 'bool', got 'f64'"):
        backend.module("layers").cast(backend.array(np.zeros(2)), "f64")


def test_where_with_tensors_and_numbers_broadcasts_as_the_reference(backend, rng):
    layers = backend.module("layers")
    condition = rng.random(size=(2, 4, 1)) > 0.5
    a, b = _values(rng)[:2, :4, None] * np.ones((1, 1, 3), np.float32), rng.normal(size=(3,)).astype(np.float32)
    cases = [
        ((condition, a, b), (backend.array(condition, np.bool_), backend.array(a), backend.array(b))),
        ((condition, a, -1e9), (backend.array(condition, np.bool_), backend.array(a), -1e9)),
        ((condition, 1.0, 0.0), (backend.array(condition, np.bool_), 1.0, 0.0)),
    ]
    for numpy_arguments, backend_arguments in cases:
        result = backend.numpy(layers.where(*backend_arguments))
        expected = reference.where(*numpy_arguments)
        assert result.dtype == np.float32 and result.shape == expected.shape
        np.testing.assert_allclose(result, expected.astype(np.float32))


def test_where_of_integers_keeps_the_integer_dtype(backend):
    ids = np.array([[3, 0, 5], [0, 7, 1]], np.int64)
    result = backend.numpy(backend.module("layers").where(backend.array(ids != 0, np.bool_), backend.array(ids), 0))
    np.testing.assert_array_equal(result, np.where(ids != 0, ids, 0))
    assert result.dtype.kind == "i"


def test_printed_comparison_and_logic_operators_agree_with_numpy(backend):
    """What `keep = ids != 0`, `keep & ~pad`, `a | (ids > 3)`, `(ids < 2) == (ids >= 1)` compute."""
    ids = np.array([[0, 1, 4, 2], [3, 0, 0, 5]], np.int64)
    pad = np.array([[False, True, False, False], [False, False, True, True]])
    framework_ids, framework_pad = backend.array(ids), backend.array(pad, np.bool_)
    keep = framework_ids != 0
    results = {
        "keep": keep,
        "and_not": keep & ~framework_pad,
        "or": (keep & ~framework_pad) | (framework_ids > 3),
        "equal": (framework_ids < 2) == (framework_ids >= 1),
        "literal_left": 0 < framework_ids,
    }
    expected = {
        "keep": ids != 0,
        "and_not": (ids != 0) & ~pad,
        "or": ((ids != 0) & ~pad) | (ids > 3),
        "equal": (ids < 2) == (ids >= 1),
        "literal_left": 0 < ids,
    }
    for name, value in results.items():
        array = backend.numpy(value)
        assert array.dtype == np.bool_, name
        np.testing.assert_array_equal(array, expected[name], err_msg=name)


# ------------------------------------------------------------------ end to end

BACKENDS = ("jax", "lightning", "mlx")
STEPS = 3

SPEC = """spec masked_npz
language 1

data npz {{
  path = "{path}"
  fields = {{ tokens = "i64[8]", attn_mask = "bool[8]", y = "i64[]" }}
  batch_size = 4
}}

model classifier(tokens: i64[B, 8], attn_mask: bool[B, 8], widths: list = [16, 3]) -> f32[B, 3] {{
  keep = attn_mask and tokens != 0
  h = embedding(tokens, 12, widths[0])
  h = attention(h, 2, mask = keep)
  weights = reshape(cast(keep, f32), [-1, 8, 1])
  counted = sum(weights, axis = 1)
  pooled = where(counted > 0, sum(h * weights, axis = 1) / (counted + 1e-6), 0.0)
  return linear(pooled, widths[-1])
}}

objective classification {{
  model = classifier
  target = data.y
  inputs = {{ tokens = data.tokens, attn_mask = data.attn_mask }}
}}

optimizer adam {{
  lr = 1e-2
}}

train {{
  max_steps = {steps}
  log_every = 1
  eval_every = {steps}
  precision = fp32
}}
"""


def _masked_file(path):
    generator = np.random.default_rng(0)

    def split(count):
        tokens = generator.integers(1, 12, size=(count, 8)).astype(np.int64)
        lengths = generator.integers(2, 9, size=count)
        mask = np.arange(8)[None, :] < lengths[:, None]  # stored as bool
        tokens[~mask] = 0
        tokens[:, 1] = 0  # a token 0 inside the mask: `tokens != 0` hides it too
        return tokens, mask, (lengths % 3).astype(np.int64)

    train, val = split(16), split(8)
    np.savez(path, train_tokens=train[0], train_attn_mask=train[1], train_y=train[2],
             val_tokens=val[0], val_attn_mask=val[1], val_y=val[2])


@pytest.mark.slow
def test_a_bool_npz_mask_gates_attention_with_the_same_losses_on_every_backend(tmp_path):
    data = tmp_path / "masked.npz"
    _masked_file(data)
    spec = tmp_path / "masked_npz.mf"
    spec.write_text(SPEC.format(path=data, steps=STEPS))
    sources = {}
    for backend in BACKENDS:
        result = pipeline.check(str(spec), read, (), backend)
        assert not result.errors, result.diagnostics
        sources[backend] = emit.render(result.program, backend)
        assert "keep = attn_mask & (tokens != 0)" in sources[backend]
    run_backends_together(sources, tmp_path)
    series = {backend: train_losses(tmp_path / f"run_{backend}") for backend in BACKENDS}
    assert all(sorted(losses) == list(range(1, STEPS + 1)) for losses in series.values()), series
    for (first, a), (second, b) in itertools.combinations(series.items(), 2):
        for step in a:
            assert abs(a[step] - b[step]) <= 1e-4 * max(abs(a[step]), abs(b[step])), (first, second, step, a, b)
    assert len({round(value, 3) for value in series["jax"].values()}) > 1  # it trains
