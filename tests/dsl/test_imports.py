"""load_program: imports resolved relative to the importer or std/, each module once."""

from __future__ import annotations

from specc.dsl.diagnostics import render_text
from specc.dsl.imports import load_program, resolve_import


def reader(files: dict[str, str], directories=()):
    """A read callback over an in-memory tree, raising what the filesystem would."""

    def read(path: str) -> bytes:
        if path in directories:
            raise IsADirectoryError(21, "Is a directory", path)
        if path not in files:
            raise FileNotFoundError(2, "No such file or directory", path)
        return files[path].encode()

    return read


def messages(program):
    return [render_text(d, program.sources) for d in program.diagnostics]


def test_dependency_order_root_last_each_module_once():
    files = {
        "specs/main.mf": 'spec main\nimport "blocks.mf"\nimport "std/mlp.mf"\nimport "sub/b.mf"\n',
        "specs/blocks.mf": 'import "std/mlp.mf"\nlet a = 1\n',
        "specs/sub/b.mf": 'import "../blocks.mf"\nlet b = 2\n',
        "lib/std/mlp.mf": "let m = 3\n",
    }
    program = load_program("specs/main.mf", reader(files), "lib/std")
    assert program.diagnostics == []
    assert [m.file for m in program.modules] == [
        "lib/std/mlp.mf",
        "specs/blocks.mf",
        "specs/sub/b.mf",
        "specs/main.mf",
    ]
    assert sorted(program.sources) == sorted(files)


def test_resolution_keeps_paths_relative():
    assert resolve_import("specs/a.mf", "./x/../b.mf", "std") == "specs/b.mf"
    assert resolve_import("a.mf", "b.mf", "std") == "b.mf"
    assert resolve_import("specs/a.mf", "../up.mf", "std") == "up.mf"
    assert resolve_import("specs/a.mf", "std/t.mf", "pkg/specs/std") == "pkg/specs/std/t.mf"


def test_missing_import_points_at_the_import_line():
    program = load_program("a.mf", reader({"a.mf": 'spec a\nimport "gone.mf"\n'}), "std")
    assert messages(program) == [
        'a.mf:2:1: error[E0201]: cannot find `gone.mf`\n  |\n2 | import "gone.mf"\n  | ^^^^^^^^^^^^^^^^'
    ]
    assert [m.file for m in program.modules] == ["a.mf"]


def test_missing_root_file():
    program = load_program("nope.mf", reader({}), "std")
    assert messages(program) == ["nope.mf:1:1: error[E0201]: cannot find `nope.mf`"]
    assert program.modules == ()


def test_directory_import():
    program = load_program("a.mf", reader({"a.mf": 'import "dir.mf"\n'}, {"dir.mf"}), "std")
    assert messages(program) == [
        'a.mf:1:1: error[E0202]: `dir.mf` is a directory, not a spec file\n  |\n1 | import "dir.mf"\n  | ^^^^^^^^^^^^^^^'
    ]


def test_other_read_errors():
    def read(path):
        raise PermissionError(13, "Permission denied", path)

    program = load_program("a.mf", read, "std")
    assert messages(program) == ["a.mf:1:1: error[E0205]: cannot read `a.mf`: Permission denied"]


def test_cycle_names_the_chain():
    files = {"a.mf": 'import "b.mf"\n', "b.mf": 'import "c.mf"\n', "c.mf": 'import "a.mf"\n'}
    program = load_program("a.mf", reader(files), "std")
    assert messages(program) == [
        'c.mf:1:1: error[E0203]: import cycle: a.mf -> b.mf -> c.mf -> a.mf\n  |\n1 | import "a.mf"\n'
        "  | ^^^^^^^^^^^^^\nhelp: move what the files share into a third file that both import"
    ]
    assert [m.file for m in program.modules] == ["c.mf", "b.mf", "a.mf"]


def test_self_import_is_a_cycle():
    program = load_program("a.mf", reader({"a.mf": 'import "a.mf"\n'}), "std")
    assert [d.code for d in program.diagnostics] == ["E0203"]


def test_non_mf_and_absolute_paths():
    program = load_program("a.mf", reader({"a.mf": 'import "x.yaml"\nimport "/etc/x.mf"\n'}), "std")
    assert messages(program) == [
        'a.mf:1:1: error[E0204]: `x.yaml` is not a spec file: imports name `.mf` files\n  |\n1 | import "x.yaml"\n'
        "  | ^^^^^^^^^^^^^^^",
        'a.mf:2:1: error[E0206]: absolute import path `/etc/x.mf`\n  |\n2 | import "/etc/x.mf"\n'
        "  | ^^^^^^^^^^^^^^^^^^\nhelp: import paths are relative to the importing file, or start with `std/`",
    ]


def test_import_chains_deeper_than_the_limit():
    files = {f"m{i}.mf": f'import "m{i + 1}.mf"\n' for i in range(80)}
    program = load_program("m0.mf", reader(files), "std")
    assert [d.code for d in program.diagnostics] == ["E0207"]
    assert program.diagnostics[0].message == "imports nested more than 64 files deep"


def test_syntax_and_encoding_errors_in_imported_files_are_collected():
    files = {"a.mf": 'import "b.mf"\nimport "c.mf"\nlet x = 1\n', "b.mf": "let = 2\n"}
    read = reader(files)

    def read_with_bad_bytes(path):
        return b'let y = "\xff"\n' if path == "c.mf" else read(path)

    program = load_program("a.mf", read_with_bad_bytes, "std")
    assert [(d.code, d.span.file) for d in program.diagnostics] == [("E0101", "b.mf"), ("E0001", "c.mf")]
    assert "c.mf" in program.sources  # so the caret can still be drawn
    assert [m.file for m in program.modules] == ["a.mf"]


def test_real_files(tmp_path, monkeypatch):
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "main.mf").write_text('import "blocks.mf"\nimport "missing.mf"\n')
    (tmp_path / "specs" / "blocks.mf").write_text("let a = 1\n")
    (tmp_path / "specs" / "dir.mf").mkdir()
    monkeypatch.chdir(tmp_path)

    def read(path):
        with open(path, "rb") as handle:
            return handle.read()

    program = load_program("specs/main.mf", read, "std")
    assert [d.code for d in program.diagnostics] == ["E0201"]
    assert [m.file for m in program.modules] == ["specs/blocks.mf", "specs/main.mf"]
    directory = load_program("specs/dir.mf", read, "std")
    assert [d.code for d in directory.diagnostics] == ["E0202"]
