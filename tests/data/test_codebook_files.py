"""Codebook files of the expected-value loss terms (seed 001): an .npz array picked by `key`,
k-means codebooks saved with joblib loaded only when the spec trusts the file, and messages
naming the term (never another source). Checker: E0540 (an untrusted pickle) and E0541
(`key` or `trusted` with no effect), exact texts, documented."""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
import pytest

from specc.runtime.data import tokens
from tests.checker.helpers import rendered, run
from tests.checker.test_every_key_has_an_effect import HOSTS

CODEBOOK = np.arange(12, dtype=np.float32).reshape(4, 3)


class KMeans:  # what scikit-learn's KMeans keeps: cluster_centers_
    def __init__(self, centers):
        self.cluster_centers_ = centers


def test_an_npz_array_is_picked_by_key_and_a_missing_key_names_the_term(tmp_path):
    path = tmp_path / "codebooks.npz"
    np.savez(path, first=CODEBOOK, second=CODEBOOK * 2)
    array, starts = tokens.expected_value_term(None, "image", str(path), 5, key="second")
    np.testing.assert_array_equal(array, CODEBOOK * 2)
    assert starts == (5,)
    with pytest.raises(ValueError) as raised:
        tokens.expected_value_term(None, "image", str(path), 5)
    assert str(raised.value) == (
        f"the image codebook of the loss: {path} has none of the keys image_codebook, centroids, codebook, "
        "centers (it has first, second)"
    )


@pytest.mark.parametrize(
    "stored", [CODEBOOK, {"centroids": CODEBOOK}, KMeans(CODEBOOK)], ids=["array", "mapping", "kmeans"]
)
def test_a_trusted_joblib_codebook_is_loaded(tmp_path, stored):
    path = tmp_path / "codebook_kmeans_4.joblib"
    joblib.dump(stored, path)
    array, _ = tokens.expected_value_term(None, "image", str(path), 5, trusted=True)
    np.testing.assert_array_equal(array, CODEBOOK)


def test_an_untrusted_pickle_is_not_loaded(tmp_path):
    path = tmp_path / "codebook.joblib"
    joblib.dump(CODEBOOK, path)
    with pytest.raises(ValueError) as raised:
        tokens.expected_value_term(None, "image", str(path), 5)
    assert str(raised.value) == (
        f"the image codebook of the loss: {path} is a pickle: loading it runs code stored in the file; the spec "
        "must say `trusted = true` to load it"
    )


CASES = {
    "E0540": (
        'expected_codebook(codebook = "codebook_kmeans.joblib")',
        "--set:1:67: error[E0540]: `codebook` names a pickle (`codebook_kmeans.joblib`): loading it runs code "
        "stored in the file\n"
        "  |\n"
        '1 | objective.loss=cross_entropy + 0.1 * expected_codebook(codebook = "codebook_kmeans.joblib")\n'
        "  |                                                                   ^^^^^^^^^^^^^^^^^^^^^^^^\n"
        "help: write `trusted = true` in `expected_codebook(...)` if you made the file or trust who did, or save "
        "the array as .npy / .npz",
    ),
    "E0541_trusted": (
        'expected_codebook(codebook = "codebook.npz", trusted = true)',
        "--set:1:93: error[E0541]: `trusted` has no effect: `codebook.npz` is not a pickle\n"
        "  |\n"
        '1 | objective.loss=cross_entropy + 0.1 * expected_codebook(codebook = "codebook.npz", trusted = true)\n'
        "  |                                                                                             ^^^^\n"
        "help: remove `trusted`: only .joblib / .pkl files run code when loaded",
    ),
    "E0541_key": (
        'expected_scalar(centers = "centers.npy", key = "bin_centers")',
        "--set:1:85: error[E0541]: `key` has no effect: `centers.npy` holds one array\n"
        "  |\n"
        '1 | objective.loss=cross_entropy + 0.1 * expected_scalar(centers = "centers.npy", key = "bin_centers")\n'
        "  |                                                                                     ^^^^^^^^^^^^^\n"
        "help: remove `key`: it names an array of an .npz, or of a pickled mapping or object",
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_codebook_file_diagnostic(name):
    term, expected = CASES[name]
    result = run(HOSTS["language"], (f"objective.loss=cross_entropy + 0.1 * {term}",))
    assert rendered(result) == [expected]
    assert result.program is None


def test_a_trusted_pickle_with_a_key_is_accepted():
    term = 'expected_codebook(codebook = "codebook.joblib", key = "centroids", trusted = true)'
    result = run(HOSTS["language"], (f"objective.loss=cross_entropy + 0.1 * {term}",))
    assert result.errors == []


def test_every_codebook_diagnostic_is_documented_with_its_exact_example():
    text = (Path(__file__).resolve().parents[2] / "docs" / "diagnostics" / "checker.md").read_text(encoding="utf-8")
    for name, (_, expected) in CASES.items():
        assert f"## {name.split('_')[0]}:" in text, name
        assert expected in text, name
