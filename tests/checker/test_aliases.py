"""Old key names still accepted (compiler/check/aliases.py): seed 003's legacy
`adversarial_warmup_steps` is read as `adversarial_warmup` with a warning (E0542), from the
spec and from --set; both names at once is an error."""

from __future__ import annotations

from pathlib import Path

from tests.checker.helpers import ADVERSARIAL, edit, rendered, run

WARNING = (
    "spec.mf:18:3: warning[E0542]: `adversarial_warmup_steps` is the old name of `adversarial_warmup`; it is read "
    "as `adversarial_warmup`\n"
    "   |\n"
    "18 |   adversarial_warmup_steps = 5000\n"
    "   |   ^^^^^^^^^^^^^^^^^^^^^^^^\n"
    "help: write `adversarial_warmup = ...` (the old name may go in a later version)"
)
BOTH = (
    "spec.mf:18:3: error[E0542]: `adversarial_warmup_steps` and `adversarial_warmup` are the same key "
    "(`adversarial_warmup_steps` is its old name): write it once\n"
    "   |\n"
    "18 |   adversarial_warmup_steps = 5000\n"
    "   |   ^^^^^^^^^^^^^^^^^^^^^^^^\n"
    "help: remove `adversarial_warmup_steps`"
)
LEGACY = edit(ADVERSARIAL, "objective adversarial {", "objective adversarial {\n  adversarial_warmup_steps = 5000")


def test_the_old_name_is_read_as_the_new_one_with_a_warning():
    result = run(LEGACY)
    assert rendered(result) == [WARNING]
    assert dict(result.program.objective.arguments)["adversarial_warmup"] == 5000


def test_the_old_name_works_from_the_command_line_too():
    result = run(ADVERSARIAL, ("objective.adversarial_warmup_steps=7",))
    assert [d.code for d in result.diagnostics] == ["E0542"]
    assert dict(result.program.objective.arguments)["adversarial_warmup"] == 7


def test_both_names_are_an_error():
    result = run(edit(LEGACY, "adversarial_warmup_steps = 5000", "adversarial_warmup_steps = 5000\n  adversarial_warmup = 10"))
    assert rendered(result) == [BOTH]
    assert result.program is None


def test_the_codes_are_documented_with_their_exact_text():
    text = (Path(__file__).resolve().parents[2] / "docs" / "diagnostics" / "checker.md").read_text(encoding="utf-8")
    assert "## E0542:" in text and WARNING in text and BOTH in text
