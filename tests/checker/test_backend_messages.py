"""What a backend implements is stated once, in its table; every message about it agrees.

- E0801 names the backend and, as help, the backends that have the component (read from
  the tables): the same sentence on every backend (fp16 used to be explained two ways).
- E0803: a table's ``ParameterRefusal`` (a component parameter it does not implement).
- ``specc lint`` without ``--backend``: what some backends refuse is a warning naming each;
  what every backend refuses stays an error.
"""

from __future__ import annotations

import dataclasses

import pytest

from specc.compiler import backends, pipeline
from specc.compiler.vocabulary import layers, registry
from tests.checker.helpers import DIGITS, edit, memory_reader, rendered, run

FP16 = edit(DIGITS, "max_steps = 20", "max_steps = 20\n  precision = fp16")


@pytest.fixture
def fp16_on_lightning_only(monkeypatch):
    """The tables as they were before jax and mlx had fp16 (every backend has it now): a
    component some backends lack, for the messages about it."""
    for name in ("jax", "mlx"):
        module = __import__(f"specc.compiler.backends.{name}", fromlist=["BACKEND"])
        capabilities = dict(module.BACKEND.capabilities, precision=frozenset({"fp32", "bf16"}))
        monkeypatch.setattr(module, "BACKEND", dataclasses.replace(module.BACKEND, capabilities=capabilities))


def test_fp16_compiles_on_every_backend():
    assert registry.backends_of("precision", "fp16") == backends.BACKEND_NAMES
    for backend in backends.BACKEND_NAMES:
        assert rendered(run(FP16, backend=backend)) == []


@pytest.mark.usefixtures("fp16_on_lightning_only")
@pytest.mark.parametrize("backend", ["jax", "mlx"])
def test_fp16_is_explained_the_same_way_on_every_backend_without_it(backend):
    assert rendered(run(FP16, backend=backend)) == [
        f"spec.mf:21:15: error[E0801]: precision `fp16` is not available on backend `{backend}`\n"
        "   |\n"
        "21 |   precision = fp16\n"
        "   |               ^^^^\n"
        "help: backends with it: lightning"
    ]


@pytest.mark.usefixtures("fp16_on_lightning_only")
def test_fp16_compiles_on_the_backend_that_has_it():
    assert rendered(run(FP16, backend="lightning")) == []


@pytest.mark.usefixtures("fp16_on_lightning_only")
def test_which_backends_have_a_component_is_read_from_the_tables():
    assert registry.backends_of("precision", "fp16") == ("lightning",)
    assert registry.backends_of("precision", "bf16") == backends.BACKEND_NAMES
    assert layers.backends_of("linear") == backends.BACKEND_NAMES
    for name in backends.BACKEND_NAMES:
        table = backends.get_backend(name)
        assert table.name == name
        assert table.runtime in ("jax", "torch", "mlx")


def test_runtime_names_come_from_the_tables():
    assert [backends.runtime_name(name) for name in backends.BACKEND_NAMES] == ["jax", "torch", "mlx"]
    assert backends.runtime_name("torch") == "torch"
    with pytest.raises(ValueError, match="unknown backend 'tpu'; choose one of jax, lightning, mlx, torch"):
        backends.runtime_name("tpu")


def test_the_checkpoint_loader_reads_the_runtimes_from_the_tables():
    import specc.load as load

    runtimes = {backends.get_backend(name).runtime for name in backends.BACKEND_NAMES}
    assert set(load.ATTACH_PARAMETER) == runtimes
    assert [load.loader_runtime(name) for name in ("torch", "lightning", "jax", "mlx")] == ["torch", "torch", "jax", "mlx"]
    with pytest.raises(ValueError, match="^unknown backend 'tensorflow'; choose one of torch, jax, mlx$"):
        load.loader_runtime("tensorflow")


def _refusing(monkeypatch, name: str, *refusals):
    module = __import__(f"specc.compiler.backends.{name}", fromlist=["BACKEND"])
    table = dataclasses.replace(module.BACKEND, refusals=module.BACKEND.refusals + refusals)
    monkeypatch.setattr(module, "BACKEND", table)


def test_parameter_refusal_is_positioned_at_the_value(monkeypatch):
    _refusing(monkeypatch, "mlx", backends.ParameterRefusal("loss", "cross_entropy", "ignore_index"))
    text = edit(DIGITS, "target = data.y", "target = data.y\n  loss = cross_entropy(ignore_index = 0)")
    assert rendered(run(text, backend="jax")) == []
    assert rendered(run(edit(text, "ignore_index = 0", "ignore_index = none"), backend="mlx")) == []
    assert rendered(run(text, backend="mlx")) == [
        "spec.mf:15:39: error[E0803]: `ignore_index` of loss `cross_entropy` is not implemented by backend `mlx`\n"
        "   |\n"
        "15 |   loss = cross_entropy(ignore_index = 0)\n"
        "   |                                       ^\n"
        "help: backends with it: jax, lightning"
    ]


def test_parameter_refusal_of_a_section_component_and_of_one_objective(monkeypatch):
    _refusing(
        monkeypatch,
        "jax",
        backends.ParameterRefusal("optimizer", "adam", "eps"),
        backends.ParameterRefusal("optimizer", "adam", "betas", objective="regression"),
    )
    text = edit(DIGITS, "{ lr = 1e-3 }", "{ lr = 1e-3, eps = 1e-6, betas = [0.8, 0.9] }")
    assert rendered(run(text, backend="jax")) == [
        "spec.mf:17:35: error[E0803]: `eps` of optimizer `adam` is not implemented by backend `jax`\n"
        "   |\n"
        "17 | optimizer adam { lr = 1e-3, eps = 1e-6, betas = [0.8, 0.9] }\n"
        "   |                                   ^^^^\n"
        "help: backends with it: lightning, mlx"
    ]


def _lint(text: str):
    return pipeline.check("spec.mf", memory_reader({"spec.mf": text}), (), None, backend_warnings=True)


@pytest.mark.usefixtures("fp16_on_lightning_only")
def test_lint_without_a_backend_warns_of_each_backend_refusal():
    result = _lint(FP16)
    assert result.errors == [] and result.program is not None
    assert [(d.severity, d.code, d.message) for d in result.diagnostics] == [
        ("warning", "E0801", "precision `fp16` is not available on backend `jax`"),
        ("warning", "E0801", "precision `fp16` is not available on backend `mlx`"),
    ]


def test_lint_without_a_backend_errs_on_what_every_backend_refuses(monkeypatch):
    for name in backends.BACKEND_NAMES:
        _refusing(monkeypatch, name, backends.ParameterRefusal("optimizer", "adam", "eps"))
    result = _lint(edit(DIGITS, "{ lr = 1e-3 }", "{ lr = 1e-3, eps = 1e-6 }"))
    assert [(d.severity, d.code) for d in result.diagnostics] == [("error", "E0803")] * 3
    assert result.program is None
    assert result.diagnostics[0].help == "remove `eps`"


@pytest.mark.usefixtures("fp16_on_lightning_only")
def test_lint_with_a_backend_runs_exactly_the_compile_checks():
    for backend in backends.BACKEND_NAMES:
        linted = pipeline.check("spec.mf", memory_reader({"spec.mf": FP16}), (), backend, library_ok=True)
        assert rendered(linted) == rendered(run(FP16, backend=backend))


@pytest.mark.usefixtures("fp16_on_lightning_only")
def test_lint_cli_strict_fails_on_a_backend_warning(tmp_path, monkeypatch, capsys):
    from specc.compiler.cli.main import run_lint

    (tmp_path / "spec.mf").write_text(FP16)
    monkeypatch.chdir(tmp_path)
    assert run_lint(["spec.mf"], "text", False, []) == 0
    assert "warning[E0801]: precision `fp16` is not available on backend `mlx`" in capsys.readouterr().out
    assert run_lint(["spec.mf"], "text", True, []) == 1
    assert run_lint(["spec.mf"], "text", False, [], "lightning") == 0
    assert run_lint(["spec.mf"], "text", False, [], "mlx") == 1
    assert run_lint(["spec.mf"], "text", False, [], "tpu") == 2
    assert "error: unknown backend `tpu` (choose one of jax, lightning, mlx)" in capsys.readouterr().err
