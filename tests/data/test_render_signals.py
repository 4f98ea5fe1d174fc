"""Seed 004's ``LogSpectralDistance(synth_fn)`` on a file source: ``data { render = ... }``
(``ksin(...)`` or the user's ``python("synth.py", "render")``) renders the generated
parameters, and the stored or rendered target signals are compared on every backend
(runtime/data/render.py, compiler/check/renderers.py E0563-E0565, compiler/emit/signals.py).
And ``fake = true`` over a ``data python`` class whose file is absent (the script never
imports it)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from specc.compiler.cli.main import read as cli_read
from specc.compiler.emit import render as emit
from specc.compiler.pipeline import check
from specc.runtime import training
from specc.runtime.data import ksin_signal, render_signals
from specc.runtime.extensions import UserCodeError
from tests.backends.test_spec_parity import run_backends_together
from tests.checker.helpers import DIGITS, codes, edit, rendered, run

BACKENDS = ("jax", "lightning", "mlx")
SYNTH = """\
import numpy as np


def render(params, length=16):
    k = params.shape[-1] // 2
    angular = np.pi * (params[:, :k, None] + 1.0) / 2.0
    amplitude = (params[:, k:, None] + 1.0) / 2.0
    return (amplitude * np.sin(angular * np.arange(length))).sum(axis=1).astype(np.float32)


def wrong(params):
    return params[:1]


def failing(params):
    raise ValueError("no synthesiser here")
"""
SPEC = """\
spec rendered

data hdf5 {
  path = "data.h5"
  fields = { params = "f32[4]", signal = "f32[16]" }
  batch_size = 8
  render = python("synth.py", "render", arguments = { length = 16 })
}

model field(x: f32[B, 4], t: f32[B], signal: f32[B, 16]) -> f32[B, 4] {
  return linear(gelu(linear(x, 16) + linear(signal, 16) + sinusoidal(t, 16)), 4)
}

objective flow_matching {
  model = field
  target = data.params
}

optimizer adam { lr = 1e-3 }

train {
  max_steps = 4
  log_every = 1
  eval_every = 4
  precision = fp32
}

eval {
  sampler = euler(steps = 2)
  metrics = [log_spectral_distance]
}
"""


# ----------------------------------------------------------------------------- runtime


def write_synth(folder) -> str:
    path = folder / "synth.py"
    path.write_text(SYNTH, encoding="utf-8")
    return str(path)


def test_the_ksin_renderer_is_the_ksin_source_synthesis():
    params = np.random.default_rng(0).uniform(-1, 1, size=(3, 6)).astype(np.float32)
    rendered_signals = render_signals(params, {"kind": "ksin", "signal_length": 20, "break_symmetry": True})
    np.testing.assert_array_equal(rendered_signals, ksin_signal(params, 20, True))


def test_a_python_renderer_gets_the_parameters_and_its_arguments(tmp_path):
    file = write_synth(tmp_path)
    params = np.random.default_rng(1).uniform(-1, 1, size=(5, 4))
    signals = render_signals(params, {"kind": "python", "file": file, "name": "render", "arguments": {"length": 16}})
    assert signals.dtype == np.float32 and signals.shape == (5, 16)
    np.testing.assert_allclose(signals, ksin_signal(params, 16), atol=1e-5)


def test_what_a_python_renderer_returns_is_checked_in_one_line(tmp_path):
    file = write_synth(tmp_path)
    with pytest.raises(UserCodeError) as wrong:
        render_signals(np.zeros((3, 4)), {"kind": "python", "file": file, "name": "wrong"})
    assert str(wrong.value) == (
        f"{file}: wrong: returned an array of shape (1, 4) and dtype float32 for 3 parameter rows; a renderer "
        "returns float signals [3, ...], one row per parameter row"
    )
    with pytest.raises(UserCodeError) as failing:
        render_signals(np.zeros((3, 4)), {"kind": "python", "file": file, "name": "failing"})
    assert str(failing.value) == f"{file}:16: failing: rendering signals: ValueError: no synthesiser here"


# ----------------------------------------------------------------------------- checker


def test_lsd_on_a_file_source_needs_render_and_is_refused_at_lint_without_it():
    without = run(edit(SPEC, '  render = python("synth.py", "render", arguments = { length = 16 })\n', ""))
    assert codes(without) == ["E0518"]
    assert rendered(without)[0].startswith(
        "spec.mf:29:14: error[E0518]: metric `log_spectral_distance` compares signals rendered from the samples; "
        "data source `hdf5` cannot render signals"
    )
    assert run(SPEC, files={"synth.py": SYNTH}).diagnostics == []


def test_a_python_renderer_is_read_as_a_renderer_at_lint():
    result = run(SPEC, ('data.render=python("synth.py", "rendr")',), files={"synth.py": SYNTH})
    assert rendered(result) == [
        (
            "--set:1:32: error[E0532]: `synth.py` defines no function `rendr` (a renderer is a top-level function; "
            "it defines: `failing`, `render`, `wrong`)\n"
            "  |\n"
            '1 | data.render=python("synth.py", "rendr")\n'
            "  |                                ^^^^^^^\n"
            "help: did you mean `render`?"
        )
    ]
    missing = run(SPEC)
    assert codes(missing) == ["E0530"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_backend_renders_the_samples_and_the_targets(backend):
    program = run(SPEC, files={"synth.py": SYNTH}).program
    script = emit.render(program, backend)
    assert script.count("specc_data.render_signals(") == 2, backend  # the samples and the target parameters
    assert '"name": "render"' in script and '"arguments": {"length": 16}' in script
    stored = run(SPEC, ('data.render=ksin(signal_length = 16, signal_field = "signal")',)).program
    script = emit.render(stored, backend)
    assert script.count("specc_data.render_signals(") == 1, backend  # the samples; the targets are stored
    assert '{"break_symmetry": False, "kind": "ksin", "signal_length": 16}' in script
    assert 'batch["signal"]' in script


# ----------------------------------------------------------------------------- fake data over a python class

USER_DATA = edit(
    DIGITS, "data digits {", 'data python {\n  file = "absent.py"\n  name = "Digits"\n  fields = { x = "f32[64]", y = "i64[]" }'
)


def test_fake_data_needs_no_python_source_file():
    assert run(USER_DATA, ("data.fake=true",)).diagnostics == []
    assert codes(run(USER_DATA, ("data.fake=false",))) == ["E0530"]


def test_a_python_source_file_that_is_there_is_still_checked_with_fake_data():
    broken = run(USER_DATA, ("data.fake=true",), files={"absent.py": "class Digits(:\n"})
    assert codes(broken) == ["E0531"]


# ----------------------------------------------------------------------------- end to end


@pytest.mark.slow
def test_lsd_with_a_python_renderer_is_the_same_on_every_backend(tmp_path):
    write_synth(tmp_path)
    rng = np.random.default_rng(0)
    with h5py.File(tmp_path / "data.h5", "w") as file:
        for split, rows in (("train", 32), ("val", 16), ("test", 16)):
            params = rng.uniform(-1, 1, size=(rows, 4)).astype(np.float32)
            file.create_group(split)
            file[split]["params"], file[split]["signal"] = params, ksin_signal(params, 16)
    (tmp_path / "spec.mf").write_text(SPEC, encoding="utf-8")
    values = {}
    for name, overrides in (("python", ()), ("stored", ('data.render=ksin(signal_length = 16, signal_field = "signal")',))):
        result = check(str(tmp_path / "spec.mf"), cli_read, overrides)  # python: the spec's, relative to it
        assert result.program is not None, [d.message for d in result.diagnostics]
        folder = tmp_path / name
        folder.mkdir()
        run_backends_together({backend: emit.render(result.program, backend) for backend in BACKENDS}, folder)
        values[name] = {
            backend: next(row["value"] for row in training.read_metrics(folder / f"run_{backend}" / "metrics.csv")
                          if row["split"] == "val" and row["name"] == "log_spectral_distance")
            for backend in BACKENDS
        }
    for by_backend in values.values():
        assert max(by_backend.values()) - min(by_backend.values()) <= 1e-4 * max(by_backend.values()), by_backend
    python, stored = values.values()
    # the user's synthesis is ksin's: rendering the targets or reading them stored gives the same distance
    assert python["jax"] == pytest.approx(stored["jax"], rel=1e-4)
