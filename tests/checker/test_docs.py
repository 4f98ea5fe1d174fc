"""docs/diagnostics/checker.md shows every pinned diagnostic exactly as the checker prints it."""

from pathlib import Path

from tests.checker.test_codes import EXPECTED

DOC = Path(__file__).resolve().parents[2] / "docs" / "diagnostics" / "checker.md"


def test_every_code_is_documented_with_its_exact_example():
    text = DOC.read_text(encoding="utf-8")
    for name, rendered in EXPECTED.items():
        assert f"## {name.split('_')[0]}:" in text, name
        assert rendered in text, name
