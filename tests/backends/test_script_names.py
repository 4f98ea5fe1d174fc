"""Issue 13: whatever the spec names its models and blocks, the generated script cannot
shadow its own names. A model or block becomes a class (``model mlp`` -> ``class Mlp``); a
class name equal to a global of the script (``PARAMETERS``, ``PACKAGES``, Lightning's
``Objective`` and ``Models``), to a keyword or to a builtin (``None``, ``ValueError``) gets
the suffix ``_`` (compiler/emit/names.py). Each collision class compiles for every backend,
passes ``ruff check``, binds each class name once, and builds its model; JAX trains it.
"""

from __future__ import annotations

import ast
import builtins
import subprocess
import sys

import pytest

from specc.compiler import pipeline
from specc.compiler.emit import render as emit
from specc.compiler.emit import standalone
from tests.backends.runner import run_script
from tests.checker.helpers import ADVERSARIAL, DIGITS, edit, memory_reader, rendered

BACKENDS = ("jax", "lightning", "mlx")
BLOCK = """\
block objective(x: [B, D], width: int) -> [B, width] {
  return relu(linear(x, width))
}

model mlp(x: f32[B, 64]) -> f32[B, 10] {
  return linear(objective(x, hidden), 10)
}
"""


def digits_named(name: str) -> str:
    return DIGITS.replace("model mlp(", f"model {name}(").replace("model = mlp", f"model = {name}")


def adversarial_named(generator: str, discriminator: str) -> str:
    """A small GAN whose discriminator returns (logits, features) as every backend needs."""
    text = ADVERSARIAL.replace("generator_net", generator).replace("critic", discriminator)
    text = text.replace(
        f"model {discriminator}(x: f32[B, 64]) -> f32[B, 1] {{\n  return linear(x, 1)\n}}",
        f"model {discriminator}(x: f32[B, 64]) -> (list, list) {{\n  h = tanh(linear(x, 8))\n  return [linear(h, 1)], [h]\n}}",
    )
    return text.replace("max_steps = 10", "max_steps = 2")


CASES = {
    # globals of the script
    "global_PARAMETERS": digits_named("PARAMETERS"),
    "global_PACKAGES": digits_named("PACKAGES"),  # a global of the JAX script
    "lightning_class_Objective": digits_named("objective"),  # a class of the Lightning script
    "block_named_objective": edit(
        DIGITS, "model mlp(x: f32[B, 64]) -> f32[B, 10] {\n  return linear(relu(linear(x, hidden)), 10)\n}\n", BLOCK
    ),
    "adversarial_Models": adversarial_named("models", "p_a_c_k_a_g_e_s"),  # Models: Lightning's; PACKAGES
    # Python's own names
    "builtin_ValueError": digits_named("value_error"),
    "keyword_None": digits_named("none"),
}


def compiled(text: str, backend: str) -> str:
    result = pipeline.check("spec.mf", memory_reader({"spec.mf": text}), (), backend)
    assert rendered(result) == []
    return emit.render(result.program, backend)


def other_bindings(source: str, name: str) -> list[str]:
    """Every binding of ``name`` in ``source`` other than one top-level class definition."""
    tree = ast.parse(source)
    found, classes = [], 0
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == name and node in tree.body:
            classes += 1
            if classes > 1:
                found.append(f"class {name} (again, line {node.lineno})")
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name == name:
            found.append(f"def/class at line {node.lineno}")
        elif isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, ast.Store):
            found.append(f"assignment at line {node.lineno}")
        elif isinstance(node, ast.arg) and node.arg == name:
            found.append(f"parameter at line {node.lineno}")
        elif isinstance(node, (ast.Import, ast.ImportFrom)) and any(
            (alias.asname or alias.name.split(".")[0]) == name for alias in node.names
        ):
            found.append(f"import at line {node.lineno}")
    return found


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_a_spec_name_never_rebinds_a_name_of_the_script(case, backend, tmp_path):
    text = CASES[case]
    result = pipeline.check("spec.mf", memory_reader({"spec.mf": text}), (), backend)
    assert rendered(result) == []
    source = emit.render(result.program, backend)
    roots = []  # every top-level class
    for line in source.split("\n"):
        if line.startswith("class "):
            roots.append(line[len("class ") : line.index("(")])
    assert len(roots) >= len({module.name for graph in result.program.models for module in graph.modules})
    for name in set(roots):  # the spec's classes and the script's own: each bound once
        assert name not in dir(builtins), name
        assert other_bindings(source, name) == [], (name, other_bindings(source, name))
    path = tmp_path / "train.py"
    path.write_text(source, encoding="utf-8")
    lint = subprocess.run([sys.executable, "-m", "ruff", "check", "--isolated", str(path)], capture_output=True, text=True, check=False)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_the_class_names_that_collide_get_the_suffix():
    assert "class PARAMETERS_(nnx.Module):" in compiled(CASES["global_PARAMETERS"], "jax")
    assert "class PACKAGES_(nnx.Module):" in compiled(CASES["global_PACKAGES"], "jax")
    assert "class PACKAGES(nn.Module):" in compiled(CASES["global_PACKAGES"], "mlx")  # no PACKAGES there
    assert "class Objective_(nn.Module):" in compiled(CASES["lightning_class_Objective"], "lightning")
    assert "class Objective(nnx.Module):" in compiled(CASES["lightning_class_Objective"], "jax")
    lightning = compiled(CASES["adversarial_Models"], "lightning")
    assert "class Models_(nn.Module):" in lightning and "self.models = Models_()" in lightning
    assert "class None_(nn.Module):" in compiled(CASES["keyword_None"], "mlx")
    assert "class ValueError_(nn.Module):" in compiled(CASES["builtin_ValueError"], "lightning")


def test_a_spec_that_collides_with_nothing_keeps_its_names():
    source = compiled(DIGITS, "jax")
    assert "class Mlp(nnx.Module):" in source and "model = Mlp()" in source


def test_the_checkpoint_loader_gets_the_renamed_classes():
    result = pipeline.check("spec.mf", memory_reader({"spec.mf": CASES["builtin_ValueError"]}), ())
    models = standalone.render_models(result.program, "torch")
    assert models.roots == {"value_error": "ValueError_"}
    assert "class ValueError_(nn.Module):" in models.source


BUILD = """\
import importlib.util, sys
for path in sys.argv[1:]:
    spec = importlib.util.spec_from_file_location("generated", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    build = getattr(module, "build_model", None) or getattr(module, "build_models")
    built = build(0)
    print(path, type(built).__name__)
"""


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_every_collision_builds_its_model(backend, tmp_path):
    paths = []
    for case, text in sorted(CASES.items()):
        path = tmp_path / f"{case}.py"
        path.write_text(compiled(text, backend), encoding="utf-8")
        paths.append(str(path))
    driver = tmp_path / "build.py"
    driver.write_text(BUILD, encoding="utf-8")
    result = run_script(driver, *paths, env={"OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(result.stdout.strip().split("\n")) == len(paths)


@pytest.mark.slow
def test_a_model_named_parameters_trains_on_jax(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(compiled(CASES["global_PARAMETERS"], "jax"), encoding="utf-8")
    result = run_script(script, "--out-dir", tmp_path / "run", "--max-steps", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "run" / "metrics.csv").is_file()
