"""A callback class of the user's (``train.callbacks = [python("hooks.py", "PrintEvery")]``)
is checked before anything runs, against the hooks runtime/training/user_callbacks.py calls
(compiler/check/extensions.py, role ``callback``). Exact messages."""

from __future__ import annotations

import pytest

from tests.checker.helpers import DIGITS, edit, rendered, run

SPEC = edit(
    DIGITS,
    "  eval_every = 10\n",
    '  eval_every = 10\n  callbacks = [progress_bar, python("hooks.py", "PrintEvery", arguments = { every = 100 })]\n',
)
HOOKS = """\
class PrintEvery:
    def __init__(self, every=100):
        self.every = every

    def on_step_end(self, step, values):
        if step % self.every == 0:
            print(step, values["loss"])
"""
LINE = "22 |   callbacks = [progress_bar, python(\"hooks.py\", \"PrintEvery\", arguments = { every = 100 })]"
AT_NAME = "   |                                                 ^^^^^^^^^^^^"
ALL = "on_train_start, on_step_end, on_evaluation_end, on_checkpoint_saved, on_train_end"

CASES = {
    "misspelled hook": (
        HOOKS.replace("on_step_end", "on_step_ended"),
        f"spec.mf:22:49: error[E0534]: `PrintEvery.on_step_ended` (hooks.py:5) is not a hook of a callback, so it "
        f"would never be called (the hooks: {ALL})\n   |\n{LINE}\n{AT_NAME}\nhelp: did you mean `on_step_end`?",
    ),
    "no hook": (
        HOOKS.replace("on_step_end", "step_end"),
        f"spec.mf:22:49: error[E0534]: class `PrintEvery` (hooks.py:1) defines none of the hooks of a callback: "
        f"{ALL}\n   |\n{LINE}\n{AT_NAME}\nhelp: write at least one, e.g. `def on_step_end(self, step, values)`",
    ),
    "a hook taking too few arguments": (
        HOOKS.replace("(self, step, values)", "(self, step)"),
        "spec.mf:22:49: error[E0534]: `PrintEvery.on_step_end` (hooks.py:1) takes 1 positional argument(s), but "
        f"the script passes 2: (step, values)\n   |\n{LINE}\n{AT_NAME}",
    ),
    "a hook needing more arguments": (
        HOOKS.replace("(self, step, values)", "(self, step, values, trainer)"),
        "spec.mf:22:49: error[E0534]: `PrintEvery.on_step_end` (hooks.py:5) needs `trainer`, which the script does "
        f"not pass (it passes: step, values)\n   |\n{LINE}\n{AT_NAME}\nhelp: write `def on_step_end(self, step, values)`",
    ),
    "an argument init does not take": (
        HOOKS.replace("every=100", "period=100").replace("self.every = every", "self.every = period"),
        "spec.mf:22:85: error[E0533]: `PrintEvery` (hooks.py:1) takes no argument `every` (it takes: period)\n"
        f"   |\n{LINE}\n   |                                                                                     ^^^",
    ),
    "a function": (
        "def PrintEvery(step, values):\n    print(step)\n",
        "spec.mf:22:49: error[E0532]: `PrintEvery` (hooks.py:1) is a function, but a callback is a class\n"
        f"   |\n{LINE}\n{AT_NAME}\nhelp: write a class with any of `def on_train_start(self, info)`; "
        "`def on_step_end(self, step, values)`; `def on_evaluation_end(self, step, metrics)`; "
        "`def on_checkpoint_saved(self, step, path)`; `def on_train_end(self, info)`",
    ),
    "a misspelled class": (
        HOOKS.replace("class PrintEvery:", "class PrintEach:"),
        "spec.mf:22:49: error[E0532]: `hooks.py` defines no class `PrintEvery` (a callback is a top-level class; "
        f"it defines: `PrintEach`)\n   |\n{LINE}\n{AT_NAME}\nhelp: did you mean `PrintEach`?",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_exact_diagnostic(case):
    source, expected = CASES[case]
    assert rendered(run(SPEC, (), "jax", files={"hooks.py": source})) == [expected]


@pytest.mark.parametrize("backend", [None, "jax", "lightning", "mlx"])
def test_a_callback_class_checks_clean_on_every_backend(backend):
    assert rendered(run(SPEC, (), backend, files={"hooks.py": HOOKS})) == []


def test_a_class_with_a_base_may_inherit_its_hooks_but_not_misspell_them():
    inherited = "from library import Callback\n\n\nclass PrintEvery(Callback):\n    def __init__(self, every=1):\n        pass\n"
    assert rendered(run(SPEC, (), "jax", files={"hooks.py": inherited})) == []
    misspelled = inherited + "\n    def on_train_ended(self, info):\n        pass\n"
    found = rendered(run(SPEC, (), "jax", files={"hooks.py": misspelled}))
    assert [text.splitlines()[0] for text in found] == [
        "spec.mf:22:49: error[E0534]: `PrintEvery.on_train_ended` (hooks.py:8) is not a hook of a callback, so it "
        f"would never be called (the hooks: {ALL})"
    ]
    assert found[0].splitlines()[-1] == "help: did you mean `on_train_end`?"
