"""Time samplers written in the spec's graph language: ``time = graph("beta_time", arguments =
{...})`` names a block without tensor inputs that draws ``t`` with the random primitives
(``uniform``, ``normal``, ``beta``, ``logit_normal``, each with a shape of numbers and the
batch ``B``) and returns one ``f32[B]`` or ``f32[B, 1]``.

The random primitives are refused anywhere else (E0720); a sampler's shape errors are the
usual positioned E06xx, its result E0719, a layer in it E0718. The script prints it as a numpy
function ``beta_time(rng, B)`` the data pipeline calls with the loader's generator, so the
three backends train on the same times (specs/examples/graph_time.mf; the standard library's
samplers are specs/std/times.mf).
"""

from __future__ import annotations

import numpy as np
import pytest
from specc.compiler import pipeline
from specc.compiler.emit import render as emit
from specc.runtime.data import flow_draws
from specc.runtime.reference import draws as numpy_draws
from specc.runtime.training.failures import RunError

from tests.backends.runner import compile_spec
from tests.backends.test_spec_parity import run_backends_together, train_losses, worst_relative_difference
from tests.graphs.test_graph_losses import edited, messages, read

BACKENDS = ("jax", "lightning", "mlx")
EXAMPLE = "specs/examples/graph_time.mf"

FLOW = """\
spec time_small
import "std/times.mf"

data ksin {
  k = 2
  signal_length = 64
  sizes = [64, 16, 16]
  batch_size = 8
}

block squashed(spread: float = 1.0) -> f32[B] {
  n = normal([B], std = spread)
  return sigmoid(n)
}

model field(x: f32[B, 4], t: f32[B], signal: f32[B, 64]) -> f32[B, 4] {
  return linear(gelu(linear(x, 16) + linear(signal, 16) + sinusoidal(t, 16)), 4)
}

objective flow_matching {
  target = data.params
  time = graph("squashed", arguments = { spread = 0.5 })
}

optimizer adam { lr = 1e-3 }

train { max_steps = 20 }
"""


def first_lines(text: str) -> list[str]:
    return [message.splitlines()[0] for message in messages(text)]


def program_of(text: str, overrides=()):
    result = pipeline.check("spec.mf", read({"spec.mf": text}), tuple(overrides))
    assert result.program is not None, [diagnostic.message for diagnostic in result.diagnostics]
    return result.program


# ----------------------------------------------------------------------------- diagnostics


def test_a_random_primitive_outside_a_time_sampler_is_refused_where_it_is_called():
    text = edited(FLOW, ("+ sinusoidal(t, 16))", "+ sinusoidal(t, 16) + normal([B, 16]))"))
    assert messages(text) == [(
        "spec.mf:17:79: error[E0720]: `normal` draws random numbers, which only a time sampler does "
        '(`time = graph("block")` of a flow objective)\n'
        "   |\n"
        "17 |   return linear(gelu(linear(x, 16) + linear(signal, 16) + sinusoidal(t, 16) + normal([B, 16])), 4)\n"
        "   |" + " " * 79 + "^^^^^^\n"
        "help: a model draws its randomness with layers (dropout, gaussian_sample); losses, paths and metrics are "
        "functions of their inputs"
    )]


def test_a_sampler_returns_one_time_per_row():
    text = edited(FLOW, ("-> f32[B] {", "-> f32[B, 2] {"), ("normal([B], std", "normal([B, 2], std"))
    assert messages(text) == [(
        "spec.mf:11:40: error[E0719]: time sampler `squashed` returns f32[B, 2]; a time sampler returns t, one "
        "f32[B] (or f32[B, 1]), a time per row of the batch\n"
        "   |\n"
        "11 | block squashed(spread: float = 1.0) -> f32[B, 2] {\n"
        "   |" + " " * 40 + "^^^^^^^^^\n"
        "help: declare `-> f32[B]` and draw with the batch's shape: `beta([B], 2.0, 5.0)`"
    )]


def test_the_numbers_of_a_draw_are_checked_at_the_argument():
    assert first_lines(edited(FLOW, ("std = spread", "std = -spread"))) == [
        "spec.mf:12:25: error[E0609]: normal: `std` must be >= 0, got -0.5"
    ]
    beta = edited(FLOW, ('graph("squashed", arguments = { spread = 0.5 })', 'graph("beta_time", arguments = { alpha = 0.0 })'))
    assert first_lines(beta) == ["<std>/times.mf:11:20: error[E0609]: beta: `alpha` must be > 0, got 0.0"]
    assert first_lines(edited(FLOW, ("normal([B], std = spread)", "uniform([B], 1.0, 0.5)"))) == [
        "spec.mf:12:25: error[E0609]: uniform: high (0.5) must be greater than low (1.0)"
    ]


def test_a_draw_shape_holds_numbers_and_the_batch():
    text = edited(FLOW, ("block squashed(spread: float = 1.0)", "block squashed(spread: float = 1.0, m: int = 0)"),
                  ("normal([B], std", "normal([B, m], std"))
    assert first_lines(text) == ["spec.mf:12:14: error[E0609]: normal: the shape [B, 0] has a size below 1"]
    unknown = edited(FLOW, ("normal([B], std", "normal([T], std"))
    assert first_lines(unknown) == [
        "spec.mf:12:14: error[E0609]: normal: argument `shape` must be a list of sizes, got the list [T]"
    ]


def test_a_sampler_creates_nothing_and_takes_no_tensors():
    creating = edited(FLOW, ("-> f32[B] {", "-> f32[B, 1] {"), ("normal([B], std", "normal([B, 1], std"),
                      ("return sigmoid(n)", "return linear(n, 1)"))
    assert first_lines(creating) == [
        "spec.mf:13:10: error[E0718]: time sampler `squashed` calls `linear`, which creates parameters; "
        "a time sampler has none"
    ]
    taking = edited(FLOW, ("block squashed(spread: float = 1.0)", "block squashed(u: f32[B], spread: float = 1.0)"))
    assert first_lines(taking) == [
        "spec.mf:11:7: error[E0719]: `squashed` takes 1 tensor input; a time sampler takes none: it draws t with "
        "the random primitives"
    ]


def test_the_mean_flows_keep_their_pair_sampler():
    text = edited(FLOW, ("objective flow_matching {", "objective mean_flow {"))
    assert any("E0712" in line and "got `graph`" in line for line in first_lines(text))


# ----------------------------------------------------------------------------- the script


def test_the_sampler_is_a_numpy_function_of_the_script():
    program = program_of(FLOW)
    assert program.objective.time_graph.name == "squashed"
    for backend in BACKENDS:
        script = emit.render(program, backend)
        assert "from specc.runtime.reference import draws as numpy_draws\n" in script
        assert "from specc.runtime.reference import layers as numpy_layers\n" in script
        assert "def squashed(rng, B):\n" in script
        assert "    n = numpy_draws.normal(rng, (B,), std=0.5)\n    return numpy_layers.sigmoid(n)\n" in script
        assert "time=squashed" in script.replace("\n", "").replace(" ", "")


def test_a_sampler_without_numpy_ops_imports_only_the_draws():
    script = emit.render(compile_spec(EXAMPLE), "jax")
    assert "    return numpy_draws.beta(rng, (B, 1), alpha=0.5, beta=0.5)\n" in script
    assert "numpy_layers" not in script


def sampler_function(program, backend: str = "jax"):
    """The script's time sampler, run as the data pipeline runs it."""
    script = emit.render(program, backend)
    start = script.index(f"def {program.objective.time_graph.name}(rng, B):")
    end = script.index("\n\n", start)
    namespace = {"numpy_draws": numpy_draws, "numpy_layers": __import__("specc.runtime.reference.layers").runtime.reference.layers}
    exec(script[start:end], namespace)  # noqa: S102 - the generated function alone
    return namespace[program.objective.time_graph.name]


@pytest.mark.parametrize(("block", "builtin"), [("uniform([B])", "uniform"), ("logit_normal([B], -0.4, 1.0)", "logit_normal")])
def test_a_sampler_drawing_like_a_builtin_gives_its_numbers(block, builtin):
    sampler = sampler_function(program_of(edited(FLOW, ("n = normal([B], std = spread)\n  return sigmoid(n)", f"return {block}"))))
    batch = {"params": np.zeros((8, 4), np.float32), "signal": np.zeros((8, 64), np.float32)}
    written = flow_draws("params", ["signal"], time=sampler)(batch, np.random.default_rng(3))
    built_in = flow_draws("params", ["signal"], time=builtin)(batch, np.random.default_rng(3))
    np.testing.assert_array_equal(written["t"], built_in["t"])
    np.testing.assert_array_equal(written["noise"], built_in["noise"])


PRIMITIVES = {
    "uniform": ("uniform([B], 0.25, 0.75)", lambda t: 0.25 <= t.min() and t.max() < 0.75 and abs(t.mean() - 0.5) < 0.01),
    "normal": ("normal([B], 0.5, 0.1)", lambda t: abs(t.mean() - 0.5) < 0.01 and abs(t.std() - 0.1) < 0.01),
    "beta": ("beta([B], 2.0, 2.0)", lambda t: 0 <= t.min() and t.max() <= 1 and abs(t.mean() - 0.5) < 0.01),
    "logit_normal": ("logit_normal([B], 0.0, 1.0)", lambda t: 0 < t.min() and t.max() < 1 and abs(np.median(t) - 0.5) < 0.02),
}


def test_every_random_primitive_is_exercised():
    from specc.compiler.vocabulary import layers

    assert set(PRIMITIVES) == {entry.name for entry in layers.ENTRIES.values() if entry.draws}


@pytest.mark.parametrize("name", sorted(PRIMITIVES))
def test_each_random_primitive_draws_its_distribution_through_the_script(name):
    call, holds = PRIMITIVES[name]
    sampler = sampler_function(program_of(edited(FLOW, ("n = normal([B], std = spread)\n  return sigmoid(n)", f"return {call}"))))
    times = sampler(np.random.default_rng(1), 20_000)
    assert times.dtype == np.float32 and times.shape == (20_000,)
    assert holds(times)


def test_the_standard_beta_sampler_draws_the_beta_distribution():
    text = edited(FLOW, ('graph("squashed", arguments = { spread = 0.5 })', 'graph("beta_time", arguments = { alpha = 2.0, beta = 5.0 })'))
    times = sampler_function(program_of(text))(np.random.default_rng(0), 20_000)
    assert times.dtype == np.float32 and times.shape == (20_000,)
    assert abs(times.mean() - 2.0 / 7.0) < 0.01  # the mean of Beta(2, 5)
    assert abs(times.var() - 10.0 / (49.0 * 8.0)) < 0.003  # its variance


@pytest.mark.parametrize("name", ["beta_time", "logit_normal_time", "shifted_time"])
def test_the_standard_samplers_draw_times_in_the_unit_interval(name):
    text = edited(FLOW, ('graph("squashed", arguments = { spread = 0.5 })', f'graph("{name}")'))
    times = sampler_function(program_of(text))(np.random.default_rng(2), 4096)
    assert times.shape == (4096,) and 0 <= times.min() and times.max() <= 1


def test_times_outside_the_unit_interval_stop_the_run_naming_the_sampler():
    def wide(rng, size):
        return numpy_draws.normal(rng, (size,), std=3.0)

    with pytest.raises(RunError, match=r"^time sampler wide returned t outside \[0, 1\] \(min "):
        flow_draws("y", time=wide)({"y": np.zeros((8, 2), np.float32)}, np.random.default_rng(0))


# ----------------------------------------------------------------------------- training


def test_the_example_lints_clean():
    program = compile_spec(EXAMPLE)
    assert program.objective.time_graph.name == "beta_time"
    assert program.objective.path_graph.name == "exponential"
    assert program.objective.terms[0].graph.name == "pseudo_huber"


STEPS = 20
PARITY = (f"train.max_steps={STEPS}", "train.log_every=1", f"train.eval_every={STEPS}", "train.precision=fp32")


@pytest.mark.slow
def test_the_example_trains_alike_on_every_backend(tmp_path):
    program = compile_spec(EXAMPLE, PARITY)
    run_backends_together({backend: emit.render(program, backend) for backend in BACKENDS}, tmp_path)
    series = {backend: train_losses(tmp_path / f"run_{backend}") for backend in BACKENDS}
    assert all(len(losses) == STEPS for losses in series.values()), {b: len(s) for b, s in series.items()}
    worst, where = worst_relative_difference(series)
    assert worst <= 1e-4, f"{worst:.3e} at {where}"


@pytest.mark.slow
def test_process_workers_draw_the_same_times_as_thread_workers(tmp_path):
    # The sampler is a function of the script: spawned worker processes unpickle it from the
    # script's module and draw with the same generator, so the losses do not move.
    from specc.runtime.training import read_metrics

    from tests.backends.runner import run_script

    found = {}
    for worker_type in ("thread", "process"):
        program = compile_spec(EXAMPLE, (*PARITY, "train.max_steps=4", "data.num_workers=2", f"data.worker_type={worker_type}"))
        script = tmp_path / f"train_{worker_type}.py"
        script.write_text(emit.render(program, "jax"), encoding="utf-8")
        run_script(script, "--out-dir", tmp_path / worker_type, check=True, env={"OMP_NUM_THREADS": "1"})
        rows = read_metrics(tmp_path / worker_type / "metrics.csv")
        found[worker_type] = [(row["step"], row["value"]) for row in rows if row["split"] == "train" and row["name"] == "loss"]
    assert [step for step, _ in found["thread"]] == [1, 2, 3, 4]
    assert found["process"] == found["thread"]
