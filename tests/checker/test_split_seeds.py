"""ksin ``split_seeds`` (gap 18, seed 004): the length diagnostic and the compiled arguments."""

from specc.compiler.emit.render import source_arguments
from tests.checker.helpers import FLOW, rendered, run


def with_split_seeds(values: str) -> str:
    return FLOW.replace("sizes = [64, 16, 16]", f"sizes = [64, 16, 16]\n  split_seeds = {values}", 1)


def test_split_seeds_of_wrong_length_is_e0508():
    result = run(with_split_seeds("[123, 456]"), (), None)
    assert rendered(result) == [
        "spec.mf:8:17: error[E0508]: `split_seeds` needs 3 values (train, val, test), found 2\n"
        "  |\n"
        "8 |   split_seeds = [123, 456]\n"
        "  |                 ^^^^^^^^^^"
    ]
    assert result.program is None


def test_split_seeds_reach_the_source_arguments():
    result = run(with_split_seeds("[123, 456, 789]"), (), None)
    assert result.diagnostics == []
    assert source_arguments(result.program.data)["split_seeds"] == (123, 456, 789)


def test_split_seeds_absent_by_default():
    result = run(FLOW, (), None)
    assert source_arguments(result.program.data)["split_seeds"] is None
