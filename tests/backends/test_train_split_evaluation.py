"""Evaluation on the training split (`eval { on_train = true }`, issue 16): every evaluation
also evaluates a fixed set of training examples in evaluation mode, logged as the split
`train_eval` (never mixed with the running training means logged as `train`).

Render-only tests: the key reaches each script, and without it nothing of it is printed.
Runtime tests: which examples `train_eval` reads (a token stream's fixed windows, or the
training examples in order), its own generator stream, loader options, metrics.csv and the
Lightning data module. Slow tests train a small language model on a token stream on jax,
lightning and mlx: the `train_eval` rows exist at every evaluation step and agree across the
backends, the `train` rows are those of the run without the option, dropout is off while
evaluating, and a resumed run evaluates the windows the uninterrupted run evaluated."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from specc.compiler import pipeline
from specc.compiler.emit import render as emit
from specc.runtime import data, training
from tests.backends.runner import run_script
from tests.backends.test_trainer_surface import KSIN_TINY, TEST_SAMPLER, VALIDATION_SAMPLER
from tests.checker.test_every_key_has_an_effect import GAN
from tests.data.test_token_stream_end_to_end import token_folder
from tests.specs.helpers import read, spec_path

BACKENDS = ("jax", "lightning", "mlx")
TOLERANCE = 1e-4  # relative, between backends (fp32)
BLOCK = 16
WINDOW = BLOCK + 1

SPEC = """spec train_eval_lm
language 1

let vocab_size = {vocab}
let block_size = 16
let p = 0.0

data token_stream {{
  path = "tok"
  block_size = block_size
  meta = "tok/meta.json"
  eval_windows = 8
  batch_size = 4
}}

model lm(tokens: i64[B, block_size]) -> f32[B, block_size, vocab_size] {{
  h = positional_embedding(embedding(tokens, vocab_size, 16), block_size)
  h = h + dropout(attention(layernorm(h), 2, causal = true), p)
  return linear(layernorm(h), vocab_size)
}}

objective language_model {{
  model = lm
  target = data.tokens
}}

optimizer adamw {{ lr = 1e-2 }}

train {{
  max_steps = 4
  log_every = 1
  eval_every = 2
  callbacks = []
}}

eval {{ on_train = {on_train} }}
"""

REGRESSION = """spec regression_eval
data synthetic_regression {
  num_features = 4
  sizes = [24, 8, 8]
  batch_size = 8
}
model net(x: f32[B, 4]) -> f32[B, 1] {
  return linear(x, 1)
}
objective regression { model = net, target = data.y }
optimizer adam { lr = 1e-3 }
train { max_steps = 4, eval_every = 2 }
"""


def compiled(tmp_path, text: str, backend: str, overrides=()) -> str:
    spec = tmp_path / "spec.mf"
    spec.write_text(text)
    result = pipeline.check(str(spec), read, tuple(overrides), backend)
    assert not result.errors, [diagnostic.message for diagnostic in result.errors]
    return emit.render(result.program, backend)


# ----------------------------------------------------------------------------- the key reaches each script

SCRIPT_LINES = {
    "jax": (
        'for split in ("val", "test", "train_eval")',
        'for split in training.evaluated_splits(("val", "test", "train_eval"), arguments.eval_only):',  # --eval-only
        'run_evaluation("train_eval")  # eval.on_train: the training examples, evaluated',
    ),
    "lightning": (
        'for name in ("val", "test", "train_eval"):',
        "def validation_step(self, batch, batch_index, dataloader_idx=0):",
        "self.evaluate(batch, torch_training.NumpyData.VALIDATION[dataloader_idx])",
        "add_dataloader_idx=False,",
    ),
    "mlx": (
        'for split in ("val", "test", "train_eval")',
        'training.evaluated_splits(("val", "test", "train_eval"), arguments.eval_only)',  # --eval-only
        'run_evaluation(("train_eval",))  # eval.on_train: the training examples, evaluated',
    ),
}


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_key_reaches_each_script_and_is_absent_without_it(backend, tmp_path):
    script = compiled(tmp_path, REGRESSION + "eval { on_train = true }\n", backend)
    for line in SCRIPT_LINES[backend]:
        assert line in script, (backend, line)
    compile(script, "train.py", "exec")
    for text in (REGRESSION, REGRESSION + "eval { on_train = false }\n"):
        assert "train_eval" not in compiled(tmp_path, text, backend)


def test_a_monitor_on_train_eval_is_refused_at_its_position(tmp_path):
    """Early stopping and checkpoint ranking read val/...: naming train_eval/... is E0502."""
    text = REGRESSION.replace(
        "train { max_steps = 4, eval_every = 2 }",
        'train {\n  max_steps = 4\n  eval_every = 2\n  early_stopping { monitor = "train_eval/loss" }\n}',
    ) + "eval { on_train = true }\n"
    spec = tmp_path / "spec.mf"
    spec.write_text(text)
    errors = pipeline.check(str(spec), read).errors
    assert [(error.code, error.span.line, error.span.column) for error in errors] == [("E0502", 15, 30)]
    assert errors[0].message == (
        "early stopping monitors `train_eval/loss`: checkpoints and early stopping rank on validation values "
        "(val/...), and the training split's evaluation (eval.on_train) is logged beside them only"
    )


# ----------------------------------------------------------------------------- runtime


def stream_folder(tmp_path, train=1000, val=300):
    """ids counting up: a window's first id is its start."""
    np.arange(train, dtype=np.uint16).tofile(tmp_path / "train.bin")
    np.arange(val, dtype=np.uint16).tofile(tmp_path / "val.bin")
    return tmp_path


def token_source(path, **arguments):
    return data.make_source("token_stream", path=str(path), block_size=BLOCK, **arguments)


def evaluation_loader(source, split, batch_size=5):
    return data.Loader(source, split, batch_size, seed=0, **data.loader_options({}, split))


def evaluated(loader) -> np.ndarray:
    return np.concatenate([batch["tokens"] for batch in loader.epoch_batches(0)])


def test_train_eval_of_a_token_stream_reads_every_non_overlapping_train_window(tmp_path):
    stream = token_source(stream_folder(tmp_path))
    windows = evaluated(evaluation_loader(stream, "train_eval"))
    assert np.array_equal(windows[:, 0], np.arange(1000 // WINDOW) * WINDOW)
    assert np.array_equal(windows, windows[:, :1] + np.arange(WINDOW))


def test_eval_windows_draws_fixed_train_windows_with_their_own_key(tmp_path):
    stream = token_source(stream_folder(tmp_path), eval_windows=12, seed=4)
    assert stream.size("train_eval") == 12
    assert stream.size("train") == 1000 // WINDOW  # the epoch's windows: training's pace stays
    loader = evaluation_loader(stream, "train_eval")
    first, second = evaluated(loader), evaluated(loader)
    assert np.array_equal(first, second)  # the same windows at every evaluation
    again = evaluated(evaluation_loader(token_source(tmp_path, eval_windows=12, seed=4), "train_eval"))
    assert np.array_equal(first, again)  # and in every run (a resumed one too): no state
    expected = np.random.default_rng([4, 0, 2]).integers(0, 1000 - WINDOW + 1, 12)  # [seed, train, 2]
    assert np.array_equal(first[:, 0], expected)
    val = evaluated(evaluation_loader(stream, "val"))[:, 0]
    assert np.array_equal(val, np.random.default_rng([4, 1, 2]).integers(0, 300 - WINDOW + 1, 12))


def test_training_draws_are_the_same_with_a_train_eval_loader(tmp_path):
    stream = token_source(stream_folder(tmp_path), eval_windows=12, seed=4)
    alone = data.Loader(stream, "train", 4, seed=3)
    expected = [batch["tokens"] for batch, _ in zip(alone.forever(), range(600 // 4))]  # past an epoch
    other = token_source(tmp_path, eval_windows=12, seed=4)
    training_loader = data.Loader(other, "train", 4, seed=3)
    extra = evaluation_loader(other, "train_eval")
    batches = training_loader.forever()
    for index, want in enumerate(expected):
        if index % 20 == 0:
            evaluated(extra)  # an evaluation between the steps
        assert np.array_equal(next(batches)["tokens"], want)
    assert len(training_loader) == len(alone) == (1000 // WINDOW) // 4


def test_other_sources_evaluate_the_training_examples_in_order():
    source = data.make_source("synthetic_regression", num_features=3, sizes=(13, 4, 4))
    loader = evaluation_loader(source, "train_eval", batch_size=5)
    assert (loader.shuffle, loader.drop_last, loader.stream) == (False, False, 3)
    assert loader.batches_per_epoch == 3  # 5 + 5 + 3: the tail is evaluated
    rows = np.concatenate([batch["x"] for batch in loader.epoch_batches(0)])
    assert np.array_equal(rows, source.get("train", np.arange(13))["x"])
    assert source.size("train_eval") == source.size("train") == 13


def test_train_eval_draws_from_its_own_generator():
    """An objective's draws (noise, times) on train_eval are keyed by stream 3, never by the
    training loader's stream 0."""
    source = data.make_source("synthetic_regression", num_features=3, sizes=(13, 4, 4))

    def noise(batch, generator):
        return dict(batch, noise=generator.standard_normal(len(batch["x"])))

    train = data.Loader(source, "train", 5, seed=1, transform=noise, shuffle=False)
    evaluation = data.Loader(source, "train_eval", 5, seed=1, transform=noise, shuffle=False)
    assert np.array_equal(train.batch(0, 0)["x"], evaluation.batch(0, 0)["x"])
    assert not np.array_equal(train.batch(0, 0)["noise"], evaluation.batch(0, 0)["noise"])
    assert np.array_equal(evaluation.batch(0, 0)["noise"], np.random.default_rng([1, 3, 0, 0]).standard_normal(5))


def test_metrics_csv_takes_train_eval_rows(tmp_path):
    log = training.MetricsLog(tmp_path / "metrics.csv")
    log.write_many(2, 0, "train", {"loss": 1.5})
    log.write_many(2, 0, "train_eval", {"loss": 1.25})
    log.close()
    rows = training.read_metrics(tmp_path / "metrics.csv")
    assert [(row["split"], row["value"]) for row in rows] == [("train", 1.5), ("train_eval", 1.25)]


def test_lightning_validates_val_then_train_eval():
    pytest.importorskip("lightning")
    from specc.runtime.torch import training as torch_training

    source = data.make_source("synthetic_regression", num_features=3, sizes=(13, 4, 4))
    loaders = {split: evaluation_loader(source, split) for split in ("val", "test", "train_eval")}
    loaders["train"] = data.Loader(source, "train", 4, seed=0)
    module = torch_training.NumpyData(loaders)
    val, train_eval = module.val_loader()
    assert torch_training.NumpyData.VALIDATION == ("val", "train_eval")
    assert [len(batch["x"]) for batch in train_eval] == [5, 5, 3]
    assert np.array_equal(np.concatenate([batch["x"] for batch in train_eval]), source.get("train", np.arange(13))["x"])
    assert [len(batch["x"]) for batch in val] == [4]
    del loaders["train_eval"]
    single = torch_training.NumpyData(loaders).val_loader()
    assert [len(batch["x"]) for batch in single] == [4]  # one loader: no dataloader_idx


# ----------------------------------------------------------------------------- the scripts


@pytest.fixture(scope="module")
def scripts(tmp_path_factory):
    """(on_train, dropout) -> backend -> script."""
    folder = tmp_path_factory.mktemp("train_eval")
    vocab = token_folder(folder / "tok", 12000)
    made = {}
    for on_train, dropout in ((True, 0.0), (False, 0.0), (True, 0.5)):
        spec = folder / f"lm_{on_train}_{dropout}.mf"
        spec.write_text(SPEC.format(vocab=vocab, on_train="true" if on_train else "false"))
        for backend in BACKENDS:
            result = pipeline.check(str(spec), read, (f"p={dropout}",), backend)
            assert not result.errors, result.diagnostics
            script = folder / f"train_{on_train}_{dropout}_{backend}.py"
            script.write_text(emit.render(result.program, backend))
            made.setdefault((on_train, dropout), {})[backend] = script
    return made


def rows(run_directory, split: str) -> dict[tuple[int, str], float]:
    return {
        (row["step"], row["name"]): row["value"]
        for row in training.read_metrics(run_directory / "metrics.csv")
        if row["split"] == split and row["name"] != "steps_per_s"  # a timing
    }


def same_values(found: dict, expected: dict, backend: str) -> None:
    """The same rows with the same values (to float32 rounding: a torch run's last digits
    vary from one run to the next on a busy machine)."""
    assert sorted(found) == sorted(expected), backend
    for key, value in expected.items():
        assert found[key] == pytest.approx(value, rel=1e-6), (backend, key)


def train(script, run, *arguments) -> None:
    run_script(script, "--out-dir", run, *arguments, check=True, env={"OMP_NUM_THREADS": "1"})


@pytest.mark.slow
def test_train_eval_rows_agree_across_backends_and_training_is_unchanged(scripts):
    evaluated_rows = {}
    for backend in BACKENDS:
        with_option = scripts[(True, 0.0)][backend].parent / f"on_{backend}"
        without = scripts[(False, 0.0)][backend].parent / f"off_{backend}"
        train(scripts[(True, 0.0)][backend], with_option)
        train(scripts[(False, 0.0)][backend], without)
        found = rows(with_option, "train_eval")
        assert sorted(found) == [(2, "cross_entropy"), (2, "loss"), (4, "cross_entropy"), (4, "loss")], backend
        same_values(rows(with_option, "train"), rows(without, "train"), backend)  # the option trains identically
        same_values(rows(with_option, "val"), rows(without, "val"), backend)
        assert not rows(without, "train_eval"), backend
        assert found[(2, "loss")] != found[(4, "loss")]  # the model changed between the evaluations
        evaluated_rows[backend] = found
    for (first, a), (second, b) in itertools.combinations(evaluated_rows.items(), 2):
        for key in a:
            assert abs(a[key] - b[key]) <= TOLERANCE * max(abs(a[key]), abs(b[key])), (first, second, key)


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_evaluation_is_without_dropout_and_resumes_exactly(backend, scripts):
    """The run's last weights evaluated by the script whose model drops half of the attention
    output (--eval-only) give the train_eval values of the run without dropout: evaluation
    mode. A run stopped at step 2 and resumed logs the uninterrupted run's train_eval rows."""
    script = scripts[(True, 0.0)][backend]
    whole, parts, evaluated_again = (script.parent / f"{name}_{backend}" for name in ("whole", "parts", "again"))
    train(script, whole)
    train(script, parts, "--max-steps", "2")
    train(script, parts, "--resume", "auto")
    expected = rows(whole, "train_eval")
    same_values(rows(parts, "train_eval"), expected, backend)
    same_values(rows(parts, "train"), rows(whole, "train"), backend)
    train(scripts[(True, 0.5)][backend], evaluated_again, "--eval-only", "--resume", training.latest_checkpoint(whole))
    same_values(rows(evaluated_again, "train_eval"), {key: expected[key] for key in expected if key[0] == 4}, backend)


# every objective family whose template evaluates: (spec text or seed spec, overrides); the
# plain training template is the language model's of the tests above
OBJECTIVES = {
    # a flow with a test sampler: train_eval samples with val's sampler; metrics on samples
    "flow": (
        None,
        KSIN_TINY + (VALIDATION_SAMPLER, f"eval.test_sampler={TEST_SAMPLER}", "eval.on_train=true", "train.eval_every=2"),
    ),
    "adversarial": (
        GAN.replace("  max_steps = 10\n", "  max_steps = 4\n  eval_every = 2\n") + "eval { on_train = true }\n",
        (),
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("objective", sorted(OBJECTIVES))
def test_every_objective_logs_the_same_train_eval_rows_on_every_backend(objective, tmp_path):
    """train_eval has val's values (losses and metrics) at every evaluation step, and the same
    numbers on jax, lightning and mlx (fp32, dropout-free models)."""
    text, overrides = OBJECTIVES[objective]
    path = spec_path("ksin_flow_transformer") if text is None else str(tmp_path / "spec.mf")
    if text is not None:
        (tmp_path / "spec.mf").write_text(text)
    found = {}
    for backend in BACKENDS:
        result = pipeline.check(path, read, overrides + ("train.precision=fp32",), backend)
        assert not result.errors, [diagnostic.message for diagnostic in result.errors]
        script = tmp_path / f"train_{objective}_{backend}.py"
        script.write_text(emit.render(result.program, backend))
        train(script, tmp_path / f"run_{backend}")
        found[backend] = rows(tmp_path / f"run_{backend}", "train_eval")
        assert sorted(found[backend]) == sorted(rows(tmp_path / f"run_{backend}", "val")), backend
        assert {step for step, _ in found[backend]} == {2, 4}, backend
    for (first, a), (second, b) in itertools.combinations(found.items(), 2):
        for key in a:
            assert abs(a[key] - b[key]) <= TOLERANCE * max(abs(a[key]), abs(b[key]), 1e-6), (first, second, key)
