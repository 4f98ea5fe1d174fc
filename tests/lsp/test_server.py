"""``specc lsp`` driven over a pipe with real LSP messages (Content-Length framed JSON-RPC):
initialize, didOpen, didChange, completion, hover, definition, formatting, codeAction,
shutdown and exit. One server serves the whole module; each test opens its own files."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from specc.compiler.pipeline import std_root
from specc.dsl.formatter import format_source
from tests.lsp.client import Client, position, text_position, uri_of

pytest.importorskip("pygls", reason="the language server needs the `editor` extra (pygls)")

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "specs"
ERROR, WARNING = 1, 2


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    found = tmp_path_factory.mktemp("workspace")
    for name in ("ksin_flow.mf", "ksin_flow_transformer.mf", "digits_mlp.mf"):
        shutil.copy(SPECS / name, found / name)
    return found


@pytest.fixture(scope="module")
def client(folder):
    started = Client([sys.executable, "-m", "specc", "lsp"], cwd=str(folder))
    started.initialize(folder)
    yield started
    if started.process.poll() is None:
        started.process.kill()
        started.process.wait()


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").split("\n")


def _line_of(lines: list[str], text: str) -> int:
    return next(number for number, line in enumerate(lines) if text in line)


def _range(line: int, start: int, end: int) -> dict:
    return {"start": position(line, start), "end": position(line, end)}


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------------- diagnostics


def test_initialize_advertises_every_feature(folder):
    started = Client([sys.executable, "-m", "specc", "lsp"], cwd=str(folder))
    try:
        capabilities = started.initialize(folder)["capabilities"]
        assert capabilities["hoverProvider"] is True
        assert capabilities["definitionProvider"] is True
        assert capabilities["documentFormattingProvider"] is True
        assert capabilities["codeActionProvider"] == {"codeActionKinds": ["quickfix"]}
        assert "(" in capabilities["completionProvider"]["triggerCharacters"]
        assert capabilities["textDocumentSync"]["openClose"] is True
    finally:
        assert started.close() == 0  # shutdown then exit ends the server with status 0


def test_open_publishes_the_diagnostics_specc_lint_reports(client, folder):
    text = (SPECS / "ksin_flow.mf").read_text().replace("  lr = 1e-4", "  lrr = 1e-4")
    path = _write(folder, "misspelt.mf", text)
    line = _line_of(text.split("\n"), "lrr = 1e-4")
    uri = client.open(path)
    diagnostics = client.diagnostics(uri)
    assert diagnostics == [
        {
            "range": _range(line, 2, 5),
            "message": "unknown key `lrr` in optimizer adamw\nhelp: did you mean `lr`?",
            "severity": ERROR,
            "code": "E0401",
            "source": "specc",
            "data": {"help": "did you mean `lr`?", "notes": []},
        }
    ]
    linted = subprocess.run(
        [sys.executable, "-m", "specc", "lint", "--format", "json", str(path)], capture_output=True, text=True, check=False
    )
    records = json.loads(linted.stdout)
    assert [(record["code"], record["message"], record["help"]) for record in records] == [
        (diagnostic["code"], diagnostic["message"].split("\nhelp: ")[0], diagnostic["data"]["help"]) for diagnostic in diagnostics
    ]
    assert [(record["line"] - 1, record["column"] - 1, record["end_column"] - 1) for record in records] == [
        (line, 2, 5)
    ]


def test_a_library_is_checked_like_lint_checks_it_and_warnings_are_warnings(client, folder):
    path = _write(folder, "library.mf", "block twice(x: [B, D]) -> [B, D] {\n  return x + x\n}\n")
    assert client.diagnostics(client.open(path)) == []
    # refused by the jax and mlx tables: a warning per backend in lint, which checks every backend
    warned = (SPECS / "digits_mlp.mf").read_text().replace("batch_size = 64", "batch_size = 64\n  pin_memory = false")
    uri = client.open(_write(folder, "warned.mf", warned))
    linted = subprocess.run(
        [sys.executable, "-m", "specc", "lint", "--format", "json", str(folder / "warned.mf")],
        capture_output=True, text=True, check=False,
    )
    expected = [(record["code"], record["severity"]) for record in json.loads(linted.stdout)]
    shown = [(item["code"], "error" if item["severity"] == ERROR else "warning") for item in client.diagnostics(uri)]
    assert shown == expected == [("E0801", "warning"), ("E0801", "warning")]


def test_diagnostics_follow_unsaved_edits(client, folder):
    path = folder / "digits_mlp.mf"
    on_disk = path.read_text()
    uri = client.open(path)
    assert client.diagnostics(uri) == []
    broken = on_disk.replace("optimizer adam", "optimizer adan")
    client.change(uri, 2, broken)
    line = _line_of(broken.split("\n"), "optimizer adan")
    diagnostics = client.diagnostics(uri)
    assert [(item["code"], item["range"], item["message"]) for item in diagnostics] == [
        ("E0306", _range(line, 10, 14), "unknown optimizer `adan`\nhelp: did you mean `adam`?")
    ]
    column = broken.split("\n")[line].index("adan")
    client.change(uri, 3, "m", _range(line, column + 3, column + 4))  # an incremental edit: adan -> adam
    assert client.diagnostics(uri) == []
    assert path.read_text() == on_disk  # checked from the editor's text, never written


def test_an_open_import_is_read_from_the_editor(client, folder):
    library = _write(folder, "blocks.mf", "block doubled(x: [B, D]) -> [B, D] {\n  return x + x\n}\n")
    spec_text = (SPECS / "digits_mlp.mf").read_text()
    spec_text = spec_text.replace("language 1", 'language 1\nimport "blocks.mf"', 1)
    spec_text = spec_text.replace("return linear(", "return tripled(linear(", 1)
    spec_text = spec_text.replace(", 10)\n}", ", 10))\n}", 1)
    spec_uri = client.open(_write(folder, "uses_blocks.mf", spec_text))
    assert [item["code"] for item in client.diagnostics(spec_uri)] != []  # `tripled` is not defined on disk
    unsaved = library.read_text().replace("doubled", "tripled").replace("x + x", "x + x + x")
    client.open(library, unsaved)
    client.diagnostics(uri_of(library))
    client.change(spec_uri, 2, spec_text + "\n")
    assert client.diagnostics(spec_uri) == []


def test_columns_are_utf16_code_units(client, folder):
    text = (SPECS / "digits_mlp.mf").read_text().replace("  log_every = 50", '  warm_start = "😀", sed = 1')
    line = _line_of(text.split("\n"), "sed = 1")
    column = text.split("\n")[line].index("sed")  # in characters; 😀 is one character, two UTF-16 code units
    uri = client.open(_write(folder, "emoji.mf", text))
    assert [(item["code"], item["range"]) for item in client.diagnostics(uri)] == [
        ("E0401", _range(line, column + 1, column + 4))
    ]


# ---------------------------------------------------------------------- completion


def _labels(items) -> dict[str, dict]:
    return {item["label"]: item for item in items}


def test_completion_of_section_keys_components_and_parameters(client, folder):
    text = "spec s\noptimizer adamw {\n  \n}\neval {\n  sampler = rk4(\n}\noptimizer \n"
    uri = client.open(_write(folder, "typing.mf", text))
    client.diagnostics(uri)
    keys = _labels(client.result("textDocument/completion", text_position(uri, 2, 2))["items"])
    assert keys["lr"]["detail"] == "float = 0.001"
    assert keys["weight_decay"]["detail"] == "float = 0.01"
    assert keys["betas"]["detail"] == "pair[float] = [0.9, 0.999]"
    assert keys["models"]["detail"] == "list[model] = []"
    assert keys["lr"]["insertText"] == "lr = "
    arguments = _labels(client.result("textDocument/completion", text_position(uri, 5, 16))["items"])
    assert set(arguments) == {"steps", "cfg_scale"}
    assert arguments["steps"]["detail"] == "int = 50"
    optimizers = _labels(client.result("textDocument/completion", text_position(uri, 7, 10))["items"])
    assert {"adam", "adamw", "sgd"} <= set(optimizers)
    assert optimizers["adamw"]["detail"] == "optimizer: Adam with decoupled weight decay."


def test_completion_of_sections_values_and_layers(client, folder):
    text = (
        "spec s\n\ntrain {\n  precision = \n  checkpoint {\n    mode = \n  }\n}\n"
        "block b(x: [B, D]) -> [B, D] {\n  h = linear(x, \n}\n"
    )
    uri = client.open(_write(folder, "typing2.mf", text))
    client.diagnostics(uri)
    top = _labels(client.result("textDocument/completion", text_position(uri, 1, 0))["items"])
    assert {"data", "objective", "optimizer", "schedule", "train", "eval", "let", "block", "model", "import"} <= set(top)
    assert "checkpoint" not in top  # a section of `train`, not of the top level
    precision = _labels(client.result("textDocument/completion", text_position(uri, 3, 14))["items"])
    assert set(precision) == {"fp32", "bf16", "fp16"}
    mode = _labels(client.result("textDocument/completion", text_position(uri, 5, 11))["items"])
    assert set(mode) == {"min", "max"}
    in_graph = _labels(client.result("textDocument/completion", text_position(uri, 9, 16))["items"])
    assert in_graph["out"]["detail"] == "int (required)"
    assert in_graph["bias"]["detail"] == "bool = true"
    assert in_graph["gelu"]["detail"] == "gelu(x, approximate = none)"
    assert "x" not in in_graph  # the tensor input is positional


# ---------------------------------------------------------------------- hover


def _hover(client, uri: str, line: int, character: int) -> str | None:
    found = client.result("textDocument/hover", text_position(uri, line, character))
    return found["contents"]["value"] if found else None


def test_hover_shows_what_specc_explain_prints(client, folder):
    path = folder / "ksin_flow.mf"
    lines = _lines(path)
    uri = client.open(path)
    client.diagnostics(uri)
    explained = subprocess.run(
        [sys.executable, "-m", "specc", "explain", str(path), "optimizer.lr"], capture_output=True, text=True, check=True
    ).stdout
    line = _line_of(lines, "  lr = 1e-4")
    shown = _hover(client, uri, line, 3)
    assert shown == f"```\n{explained}```\n\n`lr`: float = 0.001 — learning rate"
    assert explained == f"optimizer.lr = 0.0001\n  from: {path}:{line + 1}\n"
    constant = _hover(client, uri, _line_of(lines, "  k = k"), 6)
    assert constant == f"```\nk = 4\n  from: {path}:{_line_of(lines, 'let k = 4') + 1}\n```"


def test_hover_shows_a_components_doc(client, folder):
    path = folder / "ksin_flow.mf"
    lines = _lines(path)
    uri = client.open(path)
    client.diagnostics(uri)
    optimizer = _hover(client, uri, _line_of(lines, "optimizer adamw"), 12)
    assert optimizer.startswith("**adamw** (optimizer)\n\nAdam with decoupled weight decay.\n\nParameters:\n")
    assert "- `lr` (float = 0.001, >0): learning rate" in optimizer
    sampler_line = _line_of(lines, "sampler = rk4")
    sampler = _hover(client, uri, sampler_line, lines[sampler_line].index("rk4") + 1)
    assert sampler.startswith("**rk4** (sampler)\n\nClassical Runge-Kutta steps.")
    layer_line = _line_of(lines, "h = linear(x, d_model)")
    layer = _hover(client, uri, layer_line, lines[layer_line].index("linear") + 2)
    assert layer.startswith("**linear(x, out, bias = true, init = uniform_fan_in, bias_init = auto, weight = none, trainable = true)** (layer)\n\nAffine map of the last axis")


def test_hover_shows_the_inferred_shapes_of_a_graph_line(client, folder):
    path = folder / "ksin_flow.mf"
    lines = _lines(path)
    uri = client.open(path)
    client.diagnostics(uri)
    line = _line_of(lines, "h = linear(x, d_model)")
    assert _hover(client, uri, line, 2) == f"**Shapes** (line {line + 1})\n\n- `h`: f32[B, 512]"
    split = _line_of(lines, "scale, shift = split(")
    assert _hover(client, uri, split, 3) == (
        f"**Shapes** (line {split + 1})\n\n- `linear(…)`: f32[B, 1024]\n- `scale, shift`: f32[B, 512], f32[B, 512]"
    )
    header = _line_of(lines, "block film_mlp(")
    assert _hover(client, uri, header, 8).endswith("- `film_mlp(x: f32[B, 512], c: f32[B, 256]) -> f32[B, 512]`")
    broken = _write(folder, "broken_elsewhere.mf", path.read_text().replace("  lr = 1e-4", "  lrr = 1e-4"))
    broken_uri = client.open(broken)
    assert [item["code"] for item in client.diagnostics(broken_uri)] == ["E0401"]
    assert _hover(client, broken_uri, line, 2) == f"**Shapes** (line {line + 1})\n\n- `h`: f32[B, 512]"


# ---------------------------------------------------------------------- definition


def test_definition_of_blocks_lets_and_imports(client, folder):
    path = folder / "ksin_flow.mf"
    lines = _lines(path)
    uri = client.open(path)
    client.diagnostics(uri)
    call = _line_of(lines, "h = film_mlp(h, c, d_ff)")
    block = client.result("textDocument/definition", text_position(uri, call, lines[call].index("film_mlp") + 1))
    assert block == {"uri": uri, "range": _range(_line_of(lines, "block film_mlp("), 6, 14)}
    use = _line_of(lines, "  k = k")
    constant = client.result("textDocument/definition", text_position(uri, use, 6))
    assert constant == {"uri": uri, "range": _range(_line_of(lines, "let k = 4"), 4, 5)}
    transformer = folder / "ksin_flow_transformer.mf"
    other = client.open(transformer)
    client.diagnostics(other)
    lines = _lines(transformer)
    library = Path(std_root()) / "transformer.mf"
    imported = client.result("textDocument/definition", text_position(other, _line_of(lines, 'import "std/'), 12))
    assert imported == {"uri": uri_of(library), "range": _range(0, 0, 1)}
    instance = _line_of(lines, "model vector_field = approx_equiv_transformer(")
    std_block = client.result("textDocument/definition", text_position(other, instance, 25))
    library_lines = _lines(library)
    found = _line_of(library_lines, "block approx_equiv_transformer(")
    assert std_block == {"uri": uri_of(library), "range": _range(found, 6, 30)}


# ---------------------------------------------------------------------- formatting and quick fixes


def test_formatting_replaces_the_document_with_specc_fmt_output(client, folder):
    text = "spec s\nlet  k=4\ndata digits {batch_size=16}\n"
    uri = client.open(_write(folder, "unformatted.mf", text))
    client.diagnostics(uri)
    options = {"tabSize": 2, "insertSpaces": True}
    edits = client.result("textDocument/formatting", {"textDocument": {"uri": uri}, "options": options})
    formatted, _ = format_source(text, "unformatted.mf")
    assert edits == [{"range": _range(3, 0, 0) | {"start": position(0, 0)}, "newText": formatted}]
    assert formatted == "spec s\nlet k = 4\ndata digits {\n  batch_size = 16\n}\n"
    client.change(uri, 2, formatted)
    client.diagnostics(uri)
    assert client.result("textDocument/formatting", {"textDocument": {"uri": uri}, "options": options}) == []


def test_code_action_applies_the_did_you_mean(client, folder):
    text = (SPECS / "digits_mlp.mf").read_text().replace("log_every", "log_evry")
    uri = client.open(_write(folder, "fixable.mf", text))
    diagnostics = client.diagnostics(uri)
    assert [item["code"] for item in diagnostics] == ["E0401"]
    wanted = diagnostics[0]["range"]
    actions = client.result(
        "textDocument/codeAction", {"textDocument": {"uri": uri}, "range": wanted, "context": {"diagnostics": diagnostics}}
    )
    assert [(action["title"], action["kind"], action["isPreferred"]) for action in actions] == [
        ("Replace `log_evry` with `log_every`", "quickfix", True)
    ]
    assert actions[0]["edit"] == {"changes": {uri: [{"range": wanted, "newText": "log_every"}]}}
    elsewhere = client.result(
        "textDocument/codeAction",
        {"textDocument": {"uri": uri}, "range": _range(0, 0, 1), "context": {"diagnostics": []}},
    )
    assert elsewhere == []


def test_specc_lsp_console_script_starts_and_exits(folder):
    script = Path(sys.executable).parent / "specc"
    if not script.exists():
        pytest.skip("the specc console script is not installed beside this Python")
    started = Client([str(script), "lsp"], cwd=str(folder))
    assert started.initialize(folder)["serverInfo"]["name"] == "specc"
    assert started.close() == 0


def test_specc_lsp_has_help_and_says_what_to_install_without_pygls():
    shown = subprocess.run([sys.executable, "-m", "specc", "lsp", "--help"], capture_output=True, text=True, check=False)
    assert shown.returncode == 0 and "Example: specc lsp" in shown.stdout
    without = "import sys; sys.modules['pygls'] = None; sys.argv = ['specc', 'lsp']; from specc.compiler.cli.main import main; main()"
    refused = subprocess.run([sys.executable, "-c", without], capture_output=True, text=True, check=False)
    assert (refused.returncode, refused.stderr) == (1, "error: the language server needs pygls: pip install -e '.[editor]'\n")
