"""Issue 13: every string of the vocabulary that reaches a file system path or a name outside
the script is checked at lint time (compiler/check/external_names.py): E0516 (checkpoint
filename), E0519 (paths read), E0520 (logger names), E0521 (model names PyTorch owns). The
exact diagnostics are pinned in test_codes.py; here: the vocabulary is covered, a pattern the
checker accepts never fails in the runtime, and the names the checker accepts work.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from specc.compiler import pipeline
from specc.compiler.check import external_names
from specc.compiler.vocabulary import registry
from specc.runtime.training.checkpoints import checkpoint_name
from tests.checker.helpers import DIGITS, codes, edit, rendered, run

REPOSITORY = Path(__file__).resolve().parents[2]

# the string keys checked against the spec itself, or never leaving the script, and why
CHECKED_ELSEWHERE = {
    ("train", "freeze"): "parameter-name prefixes, matched against the model (E0513)",
    ("checkpoint", "monitor"): "a logged metric (E0503)",
    ("early_stopping", "monitor"): "a logged metric (E0503)",
    ("l2", "prefix"): "a parameter-name prefix, matched against the model (E0517)",
    ("graph", "name"): "a block of the spec, looked up by compiler/check/graph_losses.py (E0601)",
    ("expected_codebook", "key"): "an array's key inside the codebook file, looked up when it is loaded",
    ("expected_scalar", "key"): "an array's key inside the centres file, looked up when it is loaded",
    **{(name, "field"): "a float data field, matched against the data fields (E0561)" for name in registry.components("transform")},
    ("python", "name"): "a top-level name of the user's Python file (E0532)",
    ("ksin", "signal_field"): "a renderer's stored signal: a float data field (E0564)",
    ("python", "signal_field"): "a renderer's stored signal: a float data field (E0564)",
    ("data", "name"): "`data python`: a top-level class of the user's Python file (E0532)",
    ("data", "file"): "`data python`: checked as (python, file) of INPUT_PATHS (E0519), read by the checker (E0530)",
}
# the checkpoint filename (E0516) and dirpath (E0519, compiler/check/checkpoint_policy.py)
CHECKED_HERE = external_names.INPUT_PATHS | external_names.LOGGER_NAMES | {("checkpoint", "filename"), ("checkpoint", "dirpath")}


def string_keys() -> set[tuple[str, str]]:
    """(section or component, key) of every string-valued key of the vocabulary; a data
    source's keys belong to the `data` section they are written in."""
    found = set()
    for section, definition in registry.SECTIONS.items():
        found |= {(section, parameter.name) for parameter in definition.keys if "str" in parameter.type}
    for component in registry.COMPONENTS:
        owner = "data" if component.kind == "data" else component.name
        found |= {(owner, parameter.name) for parameter in component.params if "str" in parameter.type}
    return found


def test_every_string_key_of_the_vocabulary_is_checked_somewhere():
    keys = string_keys()
    assert keys - CHECKED_HERE - set(CHECKED_ELSEWHERE) == set()
    assert CHECKED_HERE - keys == set()  # no rule for a key that does not exist


def with_filename(pattern: str) -> str:
    escaped = pattern.replace("\\", "\\\\").replace('"', '\\"')
    return edit(DIGITS, "mode = max }", f'mode = max,\n    filename = "{escaped}" }}')


FIELDS = ["step", "epoch", "val/accuracy", "val_accuracy", "val/loss"]
specs = st.one_of(
    st.just(""),
    st.builds(
        lambda fill, align, width, precision, kind: f"{fill}{align}{width}{precision}{kind}",
        st.sampled_from(["", "0", ".", "x", "-"]),
        st.sampled_from(["", "<", ">", "^"]),
        st.sampled_from(["", "3", "12", "64", "65", "300"]),
        st.sampled_from(["", ".3", ".64", ".70"]),
        st.sampled_from(["", "d", "f", "e", "g"]),
    ).map(lambda spec: spec if not spec or spec[0] in "<>^" or len(spec) < 2 or spec[1] in "<>^" else spec.lstrip("x.-")),
)
pieces = st.one_of(
    st.builds(lambda field, spec: "{" + field + (":" + spec if spec else "") + "}", st.sampled_from(FIELDS), specs),
    st.text(alphabet=st.sampled_from("ab-_.0 é"), min_size=1, max_size=40),
)


@settings(max_examples=120, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(pieces, min_size=1, max_size=6).map("".join))
def test_a_filename_the_checker_accepts_names_a_usable_folder_at_every_checkpoint(pattern):
    result = run(with_filename(pattern))
    if result.program is None:  # refused: with a positioned E0516, and nothing else
        assert codes(result) == ["E0516"], rendered(result)
        return
    for step, epoch, metric in ((0, 0, 0.0), (10**12 - 1, 10**12 - 1, -3.4028234663852886e38), (7, 1, float("nan"))):
        name = checkpoint_name(pattern, step, epoch, {"val/accuracy": metric, "val/loss": metric})
        assert 0 < len(name.encode("utf-8")) <= 255 and "/" not in name and not name.startswith(".")


@pytest.mark.parametrize("name", ["specc", "my-project.v2", "a" * 128, "Run_1"])
def test_logger_names_every_library_accepts_pass(name):
    text = edit(DIGITS, "max_steps = 20", f'max_steps = 20\n  loggers = [csv, mlflow(experiment = "{name}"), wandb(project = "{name}")]')
    assert rendered(run(text)) == []


@pytest.mark.parametrize("name", ["", "it's", "team/project", "a#b", "a" * 129, "-lead", "tab\\tname"])
def test_logger_names_a_library_may_refuse_are_e0520(name):
    text = edit(DIGITS, "max_steps = 20", f'max_steps = 20\n  loggers = [wandb(project = "{name}")]')
    assert codes(run(text)) == ["E0520"]


@pytest.mark.parametrize(
    "path", ["", "a\\u{0}b.npz", "line\\nbreak.npz", "x" * 256 + ".npz", "/".join(["folder"] * 600)]
)
def test_a_path_no_file_can_have_is_e0519(path):
    text = edit(DIGITS, "data digits {", f'data npz {{\n  path = "{path}"\n  fields = {{ x = "f32[64]", y = "i64[]" }}')
    assert codes(run(text)) == ["E0519"]


def test_paths_of_loss_terms_are_checked_too():
    def read(name):
        return (Path(name) if Path(name).is_absolute() else REPOSITORY / name).read_bytes()

    loss = (
        'objective.loss=cross_entropy(ignore_index = 0) + 0.1 * expected_codebook(modality = image, codebook = "a\\u{0}.npy")'
        ' + 0.1 * expected_scalar(centers = "")'
    )
    result = pipeline.check("specs/astro_lm.mf", read, (loss,))
    assert [(diagnostic.code, diagnostic.message) for diagnostic in result.diagnostics] == [
        ("E0519", '`codebook` holds the character U+0000, which no path can hold: the script could not open "a\\u{0}.npy"'),
        ("E0519", '`centers` is empty: the script could not open ""'),
    ]


def test_ordinary_paths_pass():
    text = edit(DIGITS, "data digits {", 'data npz {\n  path = "../data/train é.npz"\n  fields = { x = "f32[64]", y = "i64[]" }')
    text = edit(text, "max_steps = 20", 'max_steps = 20\n  warm_start = "runs/old/checkpoints/last"')
    assert rendered(run(text)) == []


def test_the_torch_attributes_refused_are_torch_s_own():
    nn = pytest.importorskip("torch.nn")
    public = {name for name in set(dir(nn.Module)) | set(vars(nn.Module())) if not name.startswith("_")}
    assert public <= external_names.TORCH_MODULE_ATTRIBUTES


@pytest.mark.parametrize("name", ["parameters", "training", "forward", "_hidden"])
def test_a_model_of_an_adversarial_objective_named_like_a_torch_attribute_is_e0521(name):
    from tests.checker.helpers import ADVERSARIAL

    text = ADVERSARIAL.replace("critic", name)
    assert codes(run(text)) == ["E0521"]


def test_a_single_model_may_take_any_name():
    text = DIGITS.replace("model mlp(", "model parameters(").replace("model = mlp", "model = parameters")
    assert rendered(run(text)) == []


def test_a_filename_whose_nan_rendering_leads_with_a_fill_dot_is_e0516():
    # found by the property above: a metric can be nan, and "nan" right-aligned in 12 with
    # the fill character "." names a hidden folder
    assert rendered(run(with_filename("{val/accuracy:.>12.64f}")))[0].splitlines()[0] == (
        "spec.mf:23:16: error[E0516]: checkpoint filename `{val/accuracy:.>12.64f}` can name the folder "
        "`.........nan`, which cannot be used"
    )
