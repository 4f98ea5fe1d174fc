"""Seed 004's ``SurgeDataModule(predict_file=...)``: ``data { predict = "inputs.npz" }`` and
``python train.py --predict [FILE]``, which loads the checkpoint as ``--eval-only`` does and
writes the model's outputs for every row of the file to ``<run>/predictions/<stem>.npz``
(runtime/data/predict.py; the checker's E0566-E0568 in compiler/check/predictions.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from specc.compiler.cli.main import read as cli_read
from specc.compiler.emit import render as emit
from specc.compiler.pipeline import check
from specc.runtime.data import ksin_signal
from specc.runtime.data.predict import prediction_batches, read_inputs, write_predictions
from specc.runtime.training import parse_arguments
from tests.backends.test_spec_parity import run_backends_together
from tests.checker.helpers import DIGITS, FLOW, codes, edit, rendered, run

BACKENDS = ("jax", "lightning", "mlx")
FIELDS = {"signal": ("f32", (16,)), "params": ("f32", (4,))}
DOC = Path(__file__).resolve().parents[2] / "docs" / "diagnostics" / "checker.md"


# ----------------------------------------------------------------------------- runtime


def test_the_inputs_are_read_as_declared_and_batched_in_order_with_seeded_noise(tmp_path):
    signal = np.arange(5 * 16, dtype=np.float64).reshape(5, 16)
    np.savez(tmp_path / "inputs.npz", signal=signal, other=np.zeros(3))
    arrays = read_inputs(tmp_path / "inputs.npz", FIELDS, ["signal"])
    assert list(arrays) == ["signal"] and arrays["signal"].dtype == np.float32
    batches = list(prediction_batches(arrays, FIELDS, "params", 2, seed=7, noise=True))
    assert [len(batch["signal"]) for batch in batches] == [2, 2, 1]
    np.testing.assert_array_equal(np.concatenate([batch["signal"] for batch in batches]), signal.astype(np.float32))
    assert all(not batch["params"].any() and batch["params"].shape[1:] == (4,) for batch in batches)
    again = list(prediction_batches(arrays, FIELDS, "params", 2, seed=7, noise=True))
    np.testing.assert_array_equal(batches[1]["noise"], again[1]["noise"])
    assert not np.array_equal(batches[0]["noise"], batches[1]["noise"])


@pytest.mark.parametrize(
    ("name", "arrays", "message"),
    [
        ("inputs.csv", None, "predict: {path} is neither an .npz nor an HDF5 file (.h5, .hdf5)"),
        ("absent.npz", None, "predict: {path} does not exist"),
        ("inputs.npz", {"sig": np.zeros((2, 16))}, "predict: {path} has no field 'signal' (it holds: sig)"),
        ("inputs.npz", {"signal": np.zeros((2, 8))},
         "predict: {path}: field 'signal' has shape (2, 8), but the spec declares f32[16] per row"),
        ("inputs.h5", {"signal": np.zeros((2, 16), dtype=np.int64)},
         "predict: {path}: field 'signal' has dtype int64, but the spec declares f32"),
    ],
)
def test_a_file_that_does_not_fit_is_one_line_naming_it(tmp_path, name, arrays, message):
    path = tmp_path / name
    if arrays is not None and name.endswith(".npz"):
        np.savez(path, **arrays)
    elif arrays is not None:
        with h5py.File(path, "w") as file:
            for key, value in arrays.items():
                file[key] = value
    with pytest.raises(SystemExit) as stopped:
        write_predictions(tmp_path / "run", path, FIELDS, ["signal"], "params", 4, 0, lambda batch: batch["params"])
    assert str(stopped.value) == message.format(path=path)
    assert not (tmp_path / "run" / "predictions").exists()


def test_the_predictions_are_written_whole_one_row_per_input(tmp_path, capsys):
    with h5py.File(tmp_path / "inputs.h5", "w") as file:
        file["signal"] = np.ones((5, 16), dtype=np.float32)
    written = write_predictions(tmp_path / "run", tmp_path / "inputs.h5", FIELDS, ["signal"], "params", 2, 0,
                                lambda batch: batch["signal"][:, :4] * 2)
    assert written == tmp_path / "run" / "predictions" / "inputs.npz"
    np.testing.assert_array_equal(np.load(written)["predictions"], np.full((5, 4), 2.0, dtype=np.float32))
    assert sorted(os.listdir(written.parent)) == ["inputs.npz"]
    assert capsys.readouterr().out == f"predict: 5 rows of {tmp_path / 'inputs.h5'} -> {written}\n"


def test_the_flag_exists_when_the_spec_names_a_file_and_defaults_to_it():
    assert parse_arguments("spec", ["--predict"], predict="/data/inputs.npz").predict == "/data/inputs.npz"
    assert parse_arguments("spec", ["--predict", "other.h5"], predict="/data/inputs.npz").predict == "other.h5"
    assert parse_arguments("spec", [], predict="/data/inputs.npz").predict is None
    assert parse_arguments("spec", []).predict is None
    with pytest.raises(SystemExit):
        parse_arguments("spec", ["--predict"])  # a script without data.predict has no such flag
    with pytest.raises(SystemExit):
        parse_arguments("spec", ["--predict", "--eval-only"], predict="/data/inputs.npz")


# ----------------------------------------------------------------------------- checker

PREDICTING = edit(FLOW, "  signal_length = 16\n", '  signal_length = 16\n  predict = "inputs.npz"\n')
E0568_EXAMPLE = (
    "spec.mf:7:13: error[E0568]: `inputs.npz`: array `signal` has shape [3, 30], but field `signal` is f32[16] per row\n"
    "  |\n"
    '7 |   predict = "inputs.npz"\n'
    "  |             ^^^^^^^^^^^^\n"
    "help: the file holds the model's inputs, one row each: signal"
)


def test_an_npz_of_inputs_is_read_at_lint(tmp_path, monkeypatch):
    (tmp_path / "spec.mf").write_text(PREDICTING, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    np.savez(tmp_path / "inputs.npz", signal=np.zeros((3, 30), dtype=np.float32))
    result = check("spec.mf", cli_read, ())
    assert rendered(result) == [E0568_EXAMPLE]
    assert E0568_EXAMPLE in DOC.read_text(encoding="utf-8")
    np.savez(tmp_path / "inputs.npz", sig=np.zeros((3, 16), dtype=np.float32))
    assert rendered(check("spec.mf", cli_read, ()))[0].startswith(
        "spec.mf:7:13: error[E0568]: `inputs.npz` has no array `signal`, a model input (arrays: sig)"
    )
    np.savez(tmp_path / "inputs.npz", signal=np.zeros((3, 16), dtype=np.float32))
    assert check("spec.mf", cli_read, ()).diagnostics == []


UNCONDITIONAL_EXAMPLE = (
    "spec.mf:7:13: error[E0566]: `predict` reads the model's inputs from the file, and the model reads no data field "
    "but the target: there is nothing to predict from\n"
    "  |\n"
    '7 |   predict = "inputs.npz"\n'
    "  |             ^^^^^^^^^^^^\n"
    "help: remove `predict`; an unconditional flow samples without inputs"
)


def test_an_unconditional_model_has_nothing_to_predict_from():
    text = edit(
        PREDICTING,
        "model field(x: f32[B, 2 * k], t: f32[B], signal: f32[B, 16]) -> f32[B, 2 * k] {\n"
        "  c = linear(signal, 8) + sinusoidal(t, 8)\n",
        "model field(x: f32[B, 2 * k], t: f32[B]) -> f32[B, 2 * k] {\n  c = sinusoidal(t, 8)\n",
    )
    result = run(edit(text, "  cfg_dropout = 0.1\n", ""))
    assert rendered(result) == [UNCONDITIONAL_EXAMPLE]
    assert UNCONDITIONAL_EXAMPLE in DOC.read_text(encoding="utf-8")


def test_a_file_of_inputs_absent_at_lint_is_a_warning_even_with_fake_data(tmp_path, monkeypatch):
    text = edit(DIGITS, "data digits {", 'data npz {\n  path = "d.npz"\n  fields = { x = "f32[64]", y = "i64[]" }\n'
                '  predict = "inputs.npz"\n  fake = true')
    (tmp_path / "spec.mf").write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = check("spec.mf", cli_read, (), "jax", base=str(tmp_path), exists=os.path.exists)
    assert codes(result) == ["E0527"] and "`predict` names `inputs.npz`" in result.diagnostics[0].message


@pytest.mark.parametrize("backend", BACKENDS)
def test_only_a_spec_with_predict_has_the_flag(backend):
    plain = emit.render(run(FLOW).program, backend)
    assert "predict" not in plain
    script = emit.render(run(PREDICTING).program, backend)
    assert 'parse_arguments(SPEC_NAME, argv, predict="inputs.npz")' in script
    assert script.count("specc_data.write_predictions(") == 1


# ----------------------------------------------------------------------------- end to end

FLOW_SPEC = edit(
    edit(FLOW, "  signal_length = 16\n", '  signal_length = 16\n  predict = "inputs.npz"\n'),
    "  sampler = euler(steps = 4)\n", "  sampler = euler(steps = 2, cfg_scale = 2.0)\n  test_sampler = rk4(steps = 3, cfg_scale = 2.0)\n",
)
CLASSIFIER = edit(
    DIGITS, "data digits {", 'data npz {\n  path = "digits.npz"\n  fields = { x = "f32[64]", y = "i64[]" }\n  predict = "inputs.h5"'
)


def predict_everywhere(folder, text: str, overrides=()) -> dict[str, np.ndarray]:
    """Train ``text`` a few steps on every backend, then ``--predict`` with each script; the
    predictions of each backend."""
    (folder / "spec.mf").write_text(text, encoding="utf-8")
    result = check(str(folder / "spec.mf"), cli_read, ("train.max_steps=4", "train.eval_every=4", *overrides))
    assert result.program is not None, [d.message for d in result.diagnostics]
    run_backends_together({backend: emit.render(result.program, backend) for backend in BACKENDS}, folder)
    environment = dict(os.environ, JAX_PLATFORMS="cpu", OMP_NUM_THREADS="1")
    found = {}
    for backend in BACKENDS:
        done = subprocess.run(
            [sys.executable, f"train_{backend}.py", "--out-dir", f"run_{backend}", "--predict"],
            cwd=folder, capture_output=True, text=True, env=environment, timeout=600, check=False,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        written = sorted((folder / f"run_{backend}" / "predictions").iterdir())
        assert len(written) == 1, written
        found[backend] = np.load(written[0])["predictions"]
    return found


@pytest.mark.slow
def test_a_flow_predicts_the_same_samples_on_every_backend(tmp_path):
    rng = np.random.default_rng(3)
    np.savez(tmp_path / "inputs.npz", signal=ksin_signal(rng.uniform(-1, 1, size=(11, 4)), 16))
    found = predict_everywhere(tmp_path, FLOW_SPEC, ("train.precision=fp32", "schedule.warmup=1"))
    assert all(values.shape == (11, 4) for values in found.values())
    for backend in BACKENDS[1:]:
        np.testing.assert_allclose(found[backend], found["jax"], rtol=1e-4, atol=1e-4, err_msg=backend)


@pytest.mark.slow
def test_a_classifier_predicts_the_same_logits_on_every_backend(tmp_path):
    rng = np.random.default_rng(4)
    x = rng.uniform(0, 1, size=(96, 64)).astype(np.float32)
    np.savez(tmp_path / "digits.npz", x=x, y=(x[:, 0] * 10).astype(np.int64))
    with h5py.File(tmp_path / "inputs.h5", "w") as file:
        file["x"] = x[:7]
    found = predict_everywhere(tmp_path, CLASSIFIER, ("train.precision=fp32",))
    assert all(values.shape == (7, 10) for values in found.values())
    for backend in BACKENDS[1:]:
        np.testing.assert_allclose(found[backend], found["jax"], rtol=1e-4, atol=1e-4, err_msg=backend)
