"""User code a spec names, python("file.py", "Name", arguments = {...}), is checked before
anything runs: the file is read with ``ast`` (never imported) and each use is held against
its role (compiler/check/extensions.py). Exact messages, one spec per code."""

from __future__ import annotations

from pathlib import Path

import pytest

from specc.compiler.check.python_source import read_definitions
from tests.checker.helpers import DIGITS, FLOW, edit, rendered, run

USER = '''\
import numpy as np


class ExponentialPath:
    def interpolate(self, ops, x0, x1, t):
        return (1.0 - t) * x0 + ops.exp(t) * x1


class BetaTime:
    def __init__(self, concentration):
        self.concentration = concentration

    def sample(self, rng, size):
        return rng.beta(self.concentration, self.concentration, size)


def smooth_l1(ops, prediction, target, beta=1.0):
    difference = ops.abs(prediction - target)
    if beta == 0:
        return ops.mean(difference), {"mae": ops.mean(difference)}
    return ops.mean(difference), {"mean_error": ops.mean(difference)}


def one_argument(ops):
    return ops


def named_l1(ops, prediction, target):
    return ops.mean(ops.abs(prediction - target)), {"mae": ops.mean(ops.abs(prediction - target))}


def plain_l1(ops, prediction, target):
    return ops.mean(ops.abs(prediction - target))
'''
BROKEN = "class ExponentialPath:\n    def interpolate(self, ops, x0, x1, t)\n        return x0\n"


def _flow(line: str) -> str:
    return edit(FLOW, "cfg_dropout = 0.1", "cfg_dropout = 0.1\n  " + line)


def _classifier(line: str) -> str:
    return edit(DIGITS, "target = data.y", "target = data.y\n  " + line)


# name -> (spec text, the one diagnostic as rendered)
CASES = {
    "E0530": (
        _flow('path = python("missing.py", "ExponentialPath")'),
        "spec.mf:20:17: error[E0530]: cannot read the Python file `missing.py`: it does not exist\n"
        "   |\n"
        '20 |   path = python("missing.py", "ExponentialPath")\n'
        "   |                 ^^^^^^^^^^^^\n"
        "help: a relative path starts at the folder of the spec file that writes it, like an import",
    ),
    "E0530_not_python": (
        _flow('path = python("user.txt", "ExponentialPath")'),
        "spec.mf:20:17: error[E0530]: `user.txt` is not a Python file (.py)\n"
        "   |\n"
        '20 |   path = python("user.txt", "ExponentialPath")\n'
        "   |                 ^^^^^^^^^^",
    ),
    "E0531": (
        _flow('path = python("broken.py", "ExponentialPath")'),
        "spec.mf:20:17: error[E0531]: the Python file does not parse: broken.py:2:42: expected ':'\n"
        "   |\n"
        '20 |   path = python("broken.py", "ExponentialPath")\n'
        "   |                 ^^^^^^^^^^^",
    ),
    "E0532": (
        _flow('path = python("user.py", "ExponentailPath")'),
        "spec.mf:20:28: error[E0532]: `user.py` defines no class `ExponentailPath` (a probability path is a "
        "top-level class; it defines: `BetaTime`, `ExponentialPath`)\n"
        "   |\n"
        '20 |   path = python("user.py", "ExponentailPath")\n'
        "   |                            ^^^^^^^^^^^^^^^^^\n"
        "help: did you mean `ExponentialPath`?",
    ),
    "E0532_kind": (
        _flow('path = python("user.py", "smooth_l1")'),
        "spec.mf:20:28: error[E0532]: `smooth_l1` (user.py:17) is a function, but a probability path is a class\n"
        "   |\n"
        '20 |   path = python("user.py", "smooth_l1")\n'
        "   |                            ^^^^^^^^^^^\n"
        "help: write a class with `def interpolate(self, ops, x0, x1, t)`; `def target(self, ops, x0, x1, t)`",
    ),
    "E0533_missing": (
        _flow('time = python("user.py", "BetaTime")'),
        "spec.mf:20:28: error[E0533]: `BetaTime` (user.py:9) needs the argument(s) `concentration`: give them "
        "in `arguments = { ... }`\n"
        "   |\n"
        '20 |   time = python("user.py", "BetaTime")\n'
        "   |                            ^^^^^^^^^^",
    ),
    "E0533_unknown": (
        _flow('time = python("user.py", "BetaTime", arguments = { concentration = 0.5, scale = 2 })'),
        "spec.mf:20:83: error[E0533]: `BetaTime` (user.py:9) takes no argument `scale` (it takes: concentration)\n"
        "   |\n"
        '20 |   time = python("user.py", "BetaTime", arguments = { concentration = 0.5, scale = 2 })\n'
        "   |                                                                                   ^",
    ),
    "E0534": (
        _flow('path = python("user.py", "ExponentialPath")'),
        "spec.mf:20:28: error[E0534]: class `ExponentialPath` (user.py:4) has no method `target`, which a "
        "probability path needs\n"
        "   |\n"
        '20 |   path = python("user.py", "ExponentialPath")\n'
        "   |                            ^^^^^^^^^^^^^^^^^\n"
        "help: write a class with `def interpolate(self, ops, x0, x1, t)`; `def target(self, ops, x0, x1, t)`",
    ),
    "E0534_positional": (
        _classifier('loss = python("user.py", "one_argument")'),
        "spec.mf:15:28: error[E0534]: `one_argument` (user.py:24) takes 1 positional argument(s), but the "
        "script passes 3: (ops, prediction, target)\n"
        "   |\n"
        '15 |   loss = python("user.py", "one_argument")\n'
        "   |                            ^^^^^^^^^^^^^^",
    ),
    "E0535": (
        _classifier('loss = python("user.py", "smooth_l1")'),
        "spec.mf:15:28: error[E0535]: `smooth_l1` (user.py:17): its `return` statements do not show one set of "
        "names for the values it returns\n"
        "   |\n"
        '15 |   loss = python("user.py", "smooth_l1")\n'
        "   |                            ^^^^^^^^^^^\n"
        'help: every `return` gives the loss alone, or `(loss, {"name": value, ...})` with the same names '
        "written as strings: the names are logged and may be monitored, so they are read before anything runs",
    ),
    "E0529": (
        _flow('loss = python("user.py", "plain_l1")\n  weighted = false'),
        "spec.mf:21:14: error[E0529]: `weighted` has no effect: the objective's loss is the user's "
        "(`loss = python(...)`)\n"
        "   |\n"
        "21 |   weighted = false\n"
        "   |              ^^^^^\n"
        "help: remove `weighted`, or the user loss",
    ),
    "E0714_flow": (
        _flow("loss = mse"),
        "spec.mf:20:10: error[E0714]: objective `flow_matching` does not take loss `mse`\n"
        "   |\n"
        "20 |   loss = mse\n"
        "   |          ^^^\n"
        'help: a flow objective\'s `loss` is the user\'s, `python("file.py", "name")`; its own is chosen by '
        "`weighted`",
    ),
    "E0535_flow": (
        _flow('loss = python("user.py", "named_l1")'),
        "spec.mf:20:28: error[E0535]: `named_l1` returns named values (mae), but a flow objective's loss "
        "returns the loss alone\n"
        "   |\n"
        '20 |   loss = python("user.py", "named_l1")\n'
        "   |                            ^^^^^^^^^^\n"
        "help: return the loss only: flow objectives log their `mse` beside it",
    ),
    "E0402_arguments": (
        _classifier('loss = python("user.py", "smooth_l1", arguments = { beta = max })'),
        "spec.mf:15:62: error[E0402]: argument `beta` of user code must be a number, a string, a boolean, "
        "`none` or a list of them, found the name `max`\n"
        "   |\n"
        '15 |   loss = python("user.py", "smooth_l1", arguments = { beta = max })\n'
        "   |                                                              ^^^\n"
        'help: a word is not a value here: write a string ("max") for a name',
    ),
}
EXAMPLES = Path(__file__).resolve().parents[2] / "specs" / "examples"
USER_DATA = (EXAMPLES / "user_data.mf").read_text(encoding="utf-8")
CASES["E0536"] = (
    edit(USER_DATA, "  batch_size = 64\n}", "  batch_size = 64\n  seed = 3\n}"),
    "spec.mf:12:10: error[E0536]: `seed` has no effect: the class serves each split itself (it splits a pool "
    "only with `val_fraction` or `test_fraction`)\n"
    "   |\n"
    "12 |   seed = 3\n"
    "   |          ^\n"
    "help: remove `seed`, or set `val_fraction` / `test_fraction` to split one pool of examples",
)
FILES = {"user.py": USER, "broken.py": BROKEN, "user_data.py": (EXAMPLES / "user_data.py").read_text(encoding="utf-8")}


@pytest.mark.parametrize("name", sorted(CASES))
def test_user_code_diagnostic(name):
    text, expected = CASES[name]
    result = run(text, files=FILES)
    assert rendered(result) == [expected]
    assert result.diagnostics[0].code == name.split("_")[0]
    assert result.program is None


def test_every_user_code_diagnostic_is_documented_with_its_exact_example():
    text = (Path(__file__).resolve().parents[2] / "docs" / "diagnostics" / "checker.md").read_text(encoding="utf-8")
    for name, (_, expected) in CASES.items():
        assert f"## {name.split('_')[0]}:" in text, name
        assert expected in text, name


def test_a_clean_use_compiles_with_the_file_absolute_and_the_logged_names_recorded():
    user = USER.replace('"mae"', '"mean_error"')
    text = _classifier('loss = python("user.py", "smooth_l1", arguments = { beta = 0.5 })')
    text = edit(text, 'monitor = "val/accuracy"', 'monitor = "val/mean_error"')
    result = run(text, files={"user.py": user})
    assert result.errors == []
    (term,) = result.program.objective.terms
    assert term.loss.kind == "python"
    values = dict(term.loss.arguments)
    assert values["name"] == "smooth_l1" and values["logs"] == ("mean_error",)
    assert dict(values["arguments"]) == {"beta": 0.5}


def test_a_monitor_of_a_name_the_loss_does_not_log_is_refused():
    user = USER.replace('"mae"', '"mean_error"')
    text = _classifier('loss = python("user.py", "smooth_l1")')
    text = edit(text, 'monitor = "val/accuracy"', 'monitor = "val/mean_eror"')
    result = run(text, files={"user.py": user})
    assert [d.code for d in result.errors] == ["E0502"]
    assert result.errors[0].help == "did you mean `val/mean_error`?"


def test_the_file_is_read_never_run():
    source = "raise SystemExit('ran')\n\ndef loss(ops, prediction, target):\n    return ops.mean(prediction)\n"
    definitions = read_definitions(source, "user.py")
    assert definitions["loss"].definition == "function"
    assert definitions["loss"].logged == ()
    result = run(_classifier('loss = python("user.py", "loss")'), files={"user.py": source})
    assert result.errors == []


def test_returned_names_are_read_from_every_return():
    source = (
        "def loss(ops, prediction, target):\n"
        "    def inner():\n"
        "        return 1, {'ignored': 2}\n"
        "    if prediction is None:\n"
        "        return 0.0, {'accuracy': 1.0, 'error': 0.0}\n"
        "    return 1.0, {'accuracy': 0.5, 'error': 1.0}\n"
    )
    assert read_definitions(source, "user.py")["loss"].logged == ("accuracy", "error")
    disagreeing = source.replace("'error': 0.0", "'errors': 0.0")
    assert read_definitions(disagreeing, "user.py")["loss"].logged is None
