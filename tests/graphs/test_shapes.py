"""Symbolic dimensions, broadcasting, determinism and the docs staying in sync."""

import json
import os
import subprocess
import sys
from pathlib import Path

from specc.compiler.vocabulary import layers
from specc.compiler.vocabulary import dimensions as S

T, B = S.Poly.symbol("T"), S.Poly.symbol("B")


def test_polynomial_arithmetic_is_exact_and_canonical():
    assert S.add(S.subtract(T, T), 3) == 3
    assert S.add(T, T) == S.multiply(T, 2)
    assert S.render(S.subtract(S.multiply(T, 2), 1)) == "2 * T - 1"
    assert S.render(S.multiply(B, T)) == S.render(S.multiply(T, B)) == "B * T"
    assert S.floor_divide(S.multiply(T, 4), 2) == S.multiply(T, 2)
    assert S.render(S.add(S.floor_divide(S.subtract(T, 2), 2), 1)) == "(T - 2) // 2 + 1"
    assert S.render(S.negate(S.floor_divide(T, 2))) == "-(T // 2)"
    assert S.render(S.multiply(S.floor_divide(T, 2), 3)) == "3 * (T // 2)"
    assert S.modulo(S.multiply(T, 4), 2) == 0
    assert S.render(S.modulo(T, 3)) == "T % 3"
    assert S.divide_exactly(S.multiply(S.multiply(B, T), 8), S.multiply(B, 4)) == S.multiply(T, 2)
    assert S.divide_exactly(S.multiply(B, 3), 2) is None


def test_symbolic_sizes_evaluate_like_python():
    expression = S.add(S.floor_divide(S.subtract(S.multiply(T, 3), 5), 4), S.modulo(T, 3))
    for value in range(2, 40):
        assert eval(S.render(expression), {}, {"T": value}) == (3 * value - 5) // 4 + value % 3


def test_broadcasting():
    assert S.broadcast((B, 1), (512,)) == (B, 512)
    assert S.broadcast((B, 512), (B, 256)) is None
    assert S.broadcast((), (B, 4)) == (B, 4)
    assert S.broadcast((B,), (B, 4)) is None


def test_conv_lengths():
    assert S.conv_length(100, 4, 2, 1, 2) == 50
    assert S.conv_length(T, 3, 1, 1, 2) == T
    assert S.conv_transpose_length(50, 4, 2, 1, 1, 0) == 100


SCRIPT = """
import json, sys
from specc.compiler import ir
from tests.graphs.helpers import build_ok
from tests.graphs.test_models import KSIN, MULTI
graphs = {**build_ok(KSIN, {"k": 4}), **build_ok(MULTI)}
print(json.dumps({name: ir.to_data(graph) for name, graph in sorted(graphs.items())}, sort_keys=True))
"""


def test_ir_is_identical_across_hash_seeds():
    root = Path(__file__).resolve().parents[2]
    outputs = []
    for seed in ("0", "12345"):
        environment = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(root)}
        result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=environment,
                                cwd=root, timeout=120, check=True)
        outputs.append(result.stdout)
    assert outputs[0] == outputs[1]
    assert "repeat_0.5.film_mlp_0.linear_2.weight" in json.loads(outputs[0])["vector_field"]["parameters"][-1][0]


def test_docs_list_every_layer_and_code():
    root = Path(__file__).resolve().parents[2]
    models = (root / "docs" / "models.md").read_text()
    assert models.endswith(layers.markdown_reference()), "regenerate the reference: layers.markdown_reference()"
    codes = (root / "docs" / "diagnostics" / "graphs.md").read_text()
    for number in range(1, 18):
        assert f"| E06{number:02d} |" in codes
