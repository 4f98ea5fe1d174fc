"""Trainer-surface keys (docs/systems.md gaps 10, 19, 20): what they compile to and the
exact diagnostics of values that conflict."""

from __future__ import annotations

import pytest

from specc.compiler.emit import render as emit
from tests.checker.helpers import ADVERSARIAL, DIGITS, FLOW, edit, rendered, run


def spec(base: str, *edits) -> str:
    text = base
    for old, new in edits:
        text = edit(text, old, new)
    return text


DIAGNOSTICS = {
    "eval_every_and_val_check_interval": (
        spec(DIGITS, ("eval_every = 10", "eval_every = 10\n  val_check_interval = 0.5")),
        "spec.mf:22:24: error[E0515]: `eval_every` (steps) and `val_check_interval` (a fraction of an epoch) "
        "both set when to evaluate\n"
        "   |\n"
        "22 |   val_check_interval = 0.5\n"
        "   |                        ^^^\n"
        "help: keep one of them",
    ),
    "filename_unknown_field": (
        spec(DIGITS, ("mode = max }", 'mode = max, filename = "{epoch}-{val/acuracy:.3f}" }')),
        "spec.mf:22:87: error[E0516]: checkpoint filename field `{val/acuracy}` is neither step, epoch nor a "
        "logged metric\n"
        "   |\n"
        '22 |   checkpoint { every = 10, keep = 2, monitor = "val/accuracy", mode = max, '
        'filename = "{epoch}-{val/acuracy:.3f}" }\n'
        "   |                                                                                       "
        "^^^^^^^^^^^^^^^^^^^^^^^^^^^\n"
        "help: did you mean `val/accuracy`?",
    ),
    "filename_bad_format": (
        spec(DIGITS, ("mode = max }", 'mode = max, filename = "{step:.3q}" }')),
        "spec.mf:22:87: error[E0516]: checkpoint filename field `{step:.3q}` has an invalid format\n"
        "   |\n"
        '22 |   checkpoint { every = 10, keep = 2, monitor = "val/accuracy", mode = max, filename = "{step:.3q}" }\n'
        "   |                                                                                       ^^^^^^^^^^^^",
    ),
    "filename_two_folders": (
        spec(DIGITS, ("mode = max }", 'mode = max, filename = "runs/{step}" }')),
        "spec.mf:22:87: error[E0516]: checkpoint filename `runs/{step}` must name one folder: no `/`, no leading "
        "`.`, not `last`\n"
        "   |\n"
        '22 |   checkpoint { every = 10, keep = 2, monitor = "val/accuracy", mode = max, filename = "runs/{step}" }\n'
        "   |                                                                                       ^^^^^^^^^^^^^",
    ),
    "test_sampler_without_sampler": (
        spec(
            FLOW,
            ("  sampler = euler(steps = 4)\n", "  test_sampler = rk4(steps = 8)\n"),
            ("metrics = [chamfer(params_per_token = 2)]", "metrics = []"),
        ),
        "spec.mf:31:18: error[E0514]: `test_sampler` replaces `sampler` on the test split: set `sampler` in "
        "`eval` too\n"
        "   |\n"
        "31 |   test_sampler = rk4(steps = 8)\n"
        "   |                  ^^^^^^^^^^^^^^\n"
        "help: e.g. sampler = rk4(steps = 50)",
    ),
    "test_sampler_other_family": (
        spec(FLOW, ("  sampler = euler(steps = 4)\n", "  sampler = euler(steps = 4)\n  test_sampler = one_step\n")),
        "spec.mf:32:18: error[E0514]: `test_sampler = one_step` and `sampler = euler` are of different families: "
        "one_step samples a mean-flow model in one step, euler / heun / rk4 integrate\n"
        "   |\n"
        "32 |   test_sampler = one_step\n"
        "   |                  ^^^^^^^^\n"
        "help: use an integrator for both or one_step for both",
    ),
    "test_sampler_classification": (
        spec(DIGITS, ("metrics = [accuracy]", "metrics = [accuracy]\n  test_sampler = rk4")),
        "spec.mf:27:18: error[E0510]: objective `classification` does not generate samples: `test_sampler` does "
        "not apply\n"
        "   |\n"
        "27 |   test_sampler = rk4\n"
        "   |                  ^^^",
    ),
    "penalty_unknown_prefix": (
        spec(
            DIGITS,
            (
                "max_steps = 20",
                'max_steps = 20\n  penalties = [l2("linear_0", weight = 1e-3), l2("lienar_1", weight = 0.5)]',
            ),
        ),
        "spec.mf:21:47: error[E0517]: penalty prefix `lienar_1` matches no parameter\n"
        "   |\n"
        '21 |   penalties = [l2("linear_0", weight = 1e-3), l2("lienar_1", weight = 0.5)]\n'
        "   |                                               ^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n"
        "help: did you mean `linear_1`?",
    ),
    "penalty_two_models": (
        spec(ADVERSARIAL, ("max_steps = 10", 'max_steps = 10\n  penalties = [l2("linear_0", weight = 1e-3)]')),
        "spec.mf:28:15: error[E0517]: penalties apply to the objective's one model; objective `adversarial` trains 2\n"
        "   |\n"
        '28 |   penalties = [l2("linear_0", weight = 1e-3)]\n'
        "   |               ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^",
    ),
}


@pytest.mark.parametrize("name", sorted(DIAGNOSTICS))
def test_conflicting_trainer_keys_have_exact_diagnostics(name):
    text, expected = DIAGNOSTICS[name]
    assert rendered(run(text)) == [expected]


def test_epoch_keys_reach_the_script_as_configuration():
    text = spec(
        DIGITS,
        ("eval_every = 10", "val_check_interval = 0.5"),
        (
            "checkpoint { every = 10,",
            'checkpoint { every_n_epochs = 2, filename = "{epoch}-{step}-{val_accuracy:.3f}",',
        ),
    )
    result = run(text)
    assert rendered(result) == []
    assert result.program.train.val_check_interval == 0.5
    assert result.program.train.checkpoint.every_n_epochs == 2
    source = emit.render(result.program, "jax")
    assert "val_check_interval = 0.5  # spec.mf:21" in source
    assert "checkpoint_every_n_epochs = 2  # spec.mf:22" in source
    assert 'checkpoint_filename = "{epoch}-{step}-{val_accuracy:.3f}"  # spec.mf:22' in source
    assert "eval_every = training.fraction_steps(val_check_interval, steps_per_epoch)" in source
    assert "epoch_checkpoint_steps = checkpoint_every_n_epochs * steps_per_epoch" in source


def test_test_sampler_reaches_the_script_next_to_the_validation_sampler():
    text = spec(
        FLOW,
        (
            "  sampler = euler(steps = 4)\n",
            "  sampler = euler(steps = 4)\n  test_sampler = rk4(steps = 8, cfg_scale = 2.0)\n",
        ),
    )
    result = run(text)
    assert rendered(result) == []
    for backend in ("jax", "lightning", "mlx"):
        source = emit.render(result.program, backend)
        assert "sampler_steps = 4  # spec.mf:31" in source
        assert "test_sampler_steps = 8  # spec.mf:32" in source
        assert "test_cfg_scale = 2.0  # spec.mf:32" in source
    jax = emit.render(result.program, "jax")  # one jitted evaluator per split, its sampler bound
    assert '"val": make_evaluator(graphdef, "euler", sampler_steps, cfg_scale),' in jax
    assert '"test": make_evaluator(graphdef, "rk4", test_sampler_steps, test_cfg_scale),' in jax
    for backend in ("lightning", "mlx"):  # sample(..., split) picks the split's integrator
        source = emit.render(result.program, backend)
        assert 'return flows.integrate(velocity, batch["noise"], test_sampler_steps, "rk4")' in source
        assert 'return flows.integrate(velocity, batch["noise"], sampler_steps, "euler")' in source


def test_penalty_prefixes_reach_the_script_relative_to_the_model():
    text = spec(
        DIGITS,
        (
            "max_steps = 20",
            'max_steps = 20\n  penalties = [l2("linear_0", weight = 1e-3), l2("mlp.linear_1.weight", weight = 0.5)]',
        ),
    )
    result = run(text)
    assert rendered(result) == []
    for backend in ("jax", "lightning", "mlx"):
        source = emit.render(result.program, backend)
        assert 'penalties = (("linear_0", 0.001), ("linear_1.weight", 0.5))  # spec.mf:21' in source
    jax = emit.render(result.program, "jax")  # the penalty is logged beside the loss
    assert 'tracked = jax_training.add_tracked(tracked, values, ("loss", "grad_norm", "penalty"))' in jax
    assert 'values["penalty"] = jax_training.parameter_penalty(model, penalties)' in jax


def test_epoch_keys_render_in_the_generator_loop():
    # runs: tests/backends/test_generator_loop_options.py
    text = spec(ADVERSARIAL, ("max_steps = 10", "max_steps = 10\n  val_check_interval = 0.5"))
    result = run(text)
    assert rendered(result) == []
    source = emit.render(result.program, "mlx")  # (jax: the ADVERSARIAL critic returns no features)
    assert "eval_every = training.fraction_steps(val_check_interval, steps_per_epoch)" in source
