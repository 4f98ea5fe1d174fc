"""Whole specs: ten mistakes at once, IR determinism, backend-specific checks."""

import os
import subprocess
import sys

from specc.compiler import ir
from tests.checker.helpers import ADVERSARIAL, DIGITS, FLOW, codes, rendered, run

TEN_MISTAKES = """\
spec ten_mistakes
let k = 4

data ksin {
  k = k
  batch_size = 0
  break_symmetry = true
  shift_test_distribution = true
  colour = 3
}

model f(x: f32[B, 8], t: f32[B]) -> f32[B, 8] {
  return linear(x, 8)
}

objective flow_matching {
  model = f
  target = data.params
  path = linera
  cfg_dropout = 1.5
}

optimizer adamw { lr = -1e-4, weight_decay = 0.01 }
schedule warmup_cosine { warmup = 500 }

train {
  max_steps = 400
  precision = fp8
  eval_every = 100
  checkpoint { every = 50, keep = 0, monitor = "val/los" }
}

eval {
  sampler = rk4(steps = 50)
  metrics = [chamfer(params_per_token = 2), acuracy]
}
"""


def test_ten_mistakes_give_ten_positioned_diagnostics():
    result = run(TEN_MISTAKES)
    found = [(d.code, d.span.line, d.span.column) for d in result.diagnostics]
    assert found == [
        ("E0403", 6, 16),  # batch_size = 0
        ("E0504", 8, 29),  # shift_test_distribution with break_symmetry
        ("E0401", 9, 3),  # colour
        ("E0306", 19, 10),  # linera
        ("E0403", 20, 17),  # cfg_dropout = 1.5
        ("E0403", 23, 24),  # lr < 0
        ("E0501", 24, 35),  # warmup >= max_steps
        ("E0406", 28, 15),  # fp8
        ("E0403", 30, 35),  # keep = 0
        ("E0502", 30, 48),  # val/los
        ("E0306", 35, 45),  # acuracy
    ]
    assert result.program is None


def test_capability_is_checked_only_for_the_backend_compiled_for(monkeypatch):
    """Every backend has fp16 today: the mlx table is narrowed to fp32 and bf16."""
    import dataclasses

    from specc.compiler.backends import mlx as mlx_table

    capabilities = dict(mlx_table.BACKEND.capabilities, precision=frozenset({"fp32", "bf16"}))
    monkeypatch.setattr(mlx_table, "BACKEND", dataclasses.replace(mlx_table.BACKEND, capabilities=capabilities))
    text = DIGITS.replace("max_steps = 20", "max_steps = 20\n  precision = fp16")
    assert codes(run(text)) == []
    assert codes(run(text, backend="mlx")) == ["E0801"]
    assert codes(run(text, backend="jax")) == []
    assert codes(run(DIGITS, backend="mlx")) == []


def test_ir_json_is_stable_across_hash_seeds():
    script = (
        "import sys\n"
        "from specc.compiler import ir\n"
        "from tests.checker.helpers import FLOW, run\n"
        "sys.stdout.write(ir.to_json(run(FLOW, overrides=('k=3',)).program))\n"
    )
    outputs = set()
    for seed in ("0", "1", "12345"):
        environment = dict(os.environ, PYTHONHASHSEED=seed)
        completed = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            env=environment,
            cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
            check=True,
        )
        outputs.add(completed.stdout)
    assert len(outputs) == 1
    assert ir.to_json(run(FLOW, overrides=("k=3",)).program) in outputs


def test_program_contents_of_a_flow_spec():
    program = run(FLOW).program
    assert program.spec_name == "ksin_small" and program.spec_path == "spec.mf"
    assert program.objective.kind == "flow_matching"
    assert program.objective.inputs == (("x", "objective.x"), ("t", "objective.t"), ("signal", "data.signal"))
    assert program.objective.target == "params"
    assert [model.name for model in program.models] == ["field"]
    assert program.optimizers[0].models == ("field",)
    assert program.train.loggers == (ir.Component("csv", ()),)
    assert program.evaluation.sampler == ir.Component("euler", (("cfg_scale", 1.0), ("steps", 4)))


def test_loss_terms_fold_to_weighted_components():
    text = ADVERSARIAL.replace(
        "target = data.audio", "target = data.audio\n  loss = l1 + 0.5 * multi_resolution_stft(n_ffts = [32, 16])"
    )
    program = run(text).program
    assert [(term.weight, term.loss.kind) for term in program.objective.terms] == [
        (1.0, "l1"),
        (0.5, "multi_resolution_stft"),
    ]
    assert dict(program.objective.terms[1].loss.arguments)["n_ffts"] == (32, 16)


def test_adversarial_binds_two_models_and_two_optimizers():
    from tests.checker.helpers import ADVERSARIAL

    program = run(ADVERSARIAL).program
    assert program.objective.models == ("generator_net", "critic")
    assert [(plan.name, plan.models) for plan in program.optimizers] == [
        ("discriminator", ("critic",)),
        ("generator", ("generator_net",)),
    ]


def test_layer_missing_on_a_backend_is_reported_for_that_backend_only(monkeypatch):
    """E0802: every layer exists on all backends today (no table lists capability ``layer``),
    so the mlx table is narrowed to every layer but one."""
    import dataclasses

    from specc.compiler.backends import mlx as mlx_table
    from specc.compiler.vocabulary import layers

    capabilities = dict(mlx_table.BACKEND.capabilities, layer=frozenset(layers.ENTRIES) - {"relu"})
    monkeypatch.setattr(mlx_table, "BACKEND", dataclasses.replace(mlx_table.BACKEND, capabilities=capabilities))
    assert codes(run(DIGITS, backend="jax")) == []
    result = run(DIGITS, backend="mlx")
    assert rendered(result) == [
        "spec.mf:9:17: error[E0802]: `relu` (in model `mlp`) is not available on backend `mlx`\n"
        "  |\n"
        "9 |   return linear(relu(linear(x, hidden)), 10)\n"
        "  |                 ^\n"
        "help: backends with it: jax, lightning"
    ]


def test_backend_table_capabilities_become_diagnostics(monkeypatch):
    """E0801 also for what a backend's table (its templates) does not render."""
    import dataclasses

    from specc.compiler.backends import jax as jax_table

    capabilities = dict(jax_table.BACKEND.capabilities, sampler=frozenset({"rk4"}))
    monkeypatch.setattr(jax_table, "BACKEND", dataclasses.replace(jax_table.BACKEND, capabilities=capabilities))
    assert codes(run(FLOW, backend="mlx")) == []
    assert rendered(run(FLOW, backend="jax")) == [
        "spec.mf:31:13: error[E0801]: sampler `euler` is not available on backend `jax`\n"
        "   |\n"
        "31 |   sampler = euler(steps = 4)\n"
        "   |             ^^^^^^^^^^^^^^^^\n"
        "help: backends with it: lightning, mlx"
    ]


def test_standard_library_files_are_named_without_machine_paths():
    from pathlib import Path

    from specc.compiler import pipeline

    text = DIGITS.replace("spec digits_small\n", 'spec digits_small\nimport "std/flow_mlp.mf"\n')
    reader_files = {"spec.mf": text}

    def read(path):
        if path in reader_files:
            return reader_files[path].encode()
        return Path(path).read_bytes()  # the package's std folder

    result = pipeline.check("spec.mf", read)
    assert codes(result) == []
    assert sorted(result.sources) == ["<std>/flow_mlp.mf", "spec.mf"]
    assert pipeline.std_root() not in ir.to_json(result.program)


def test_an_optimizer_the_objective_does_not_name_updates_every_model_it_trains():
    """An extra named optimizer without ``models`` is lowered onto every trained model: it
    conflicts with the objective's own optimizers (E0512) instead of being silently ignored
    (lightning, mlx) or failing to render (jax)."""
    text = ADVERSARIAL.replace("optimizer discriminator:", "optimizer extra: sgd {}\noptimizer discriminator:")
    assert rendered(run(text)) == [
        "spec.mf:24:1: error[E0512]: model `generator_net` is updated by `optimizer.generator` and by `optimizer.extra`\n"
        "   |\n"
        "24 | optimizer extra: sgd {}\n"
        "   | ^^^^^^^^^\n"
        "help: give each optimizer its models: models = [<model>]",
        "spec.mf:25:1: error[E0512]: model `critic` is updated by `optimizer.extra` and by `optimizer.discriminator`\n"
        "   |\n"
        "25 | optimizer discriminator: adam { lr = 1e-4 }\n"
        "   | ^^^^^^^^^\n"
        "help: give each optimizer its models: models = [<model>]",
    ]
    alone = text.replace("  target = data.audio\n", "  target = data.audio\n  use_adversarial = false\n")
    alone = alone.replace("  discriminator = critic\n", "").replace("optimizer discriminator: adam { lr = 1e-4 }\n", "")
    assert codes(run(alone)) == ["E0512"]
