"""``make demo`` (scripts/demo.py): commands echoed shell-quoted, training progress streamed."""

from __future__ import annotations

import importlib.util
import shlex
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo():
    spec = importlib.util.spec_from_file_location("demo_script", ROOT / "scripts" / "demo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_an_echoed_command_can_be_copied(demo, tmp_path, capsys):
    words = demo.command(sys.executable, "-c", "import sys; print(sys.argv[1:])", "eval.sampler=rk4(steps = 4)", "a b")
    with open(tmp_path / "demo.log", "w") as log:
        demo.run(words, log)
    echoed = capsys.readouterr().out.splitlines()[0]
    assert echoed == "$ " + shlex.join(words)
    assert shlex.split(echoed[2:]) == words  # the shell reads back the very same words
    assert "'eval.sampler=rk4(steps = 4)' 'a b'" in echoed
    assert "['eval.sampler=rk4(steps = 4)', 'a b']" in (tmp_path / "demo.log").read_text()


def test_paths_inside_the_repository_are_shown_relative_to_it(demo):
    assert demo.command("specc", ROOT / "runs" / "demo" / "train_x.py") == ["specc", "runs/demo/train_x.py"]
    assert demo.command(Path("/elsewhere/x.py")) == ["/elsewhere/x.py"]


def test_training_progress_is_streamed_as_it_comes(demo, tmp_path, capsys):
    program = "; ".join(
        f"print({line!r}, flush=True)"
        for line in ("compiling...", "step 50 train: loss 1.9, lr 0.001", "step 100 val: accuracy 0.9", "done")
    )
    with open(tmp_path / "demo.log", "w") as log:
        demo.run(demo.command(sys.executable, "-c", program), log, prefix="  digits_mlp: ")
    shown = capsys.readouterr().out.splitlines()
    assert shown[1:] == ["  digits_mlp: step 50 train: loss 1.9, lr 0.001", "  digits_mlp: step 100 val: accuracy 0.9"]
    assert "compiling...\n" in (tmp_path / "demo.log").read_text()


def test_a_failing_command_shows_its_last_lines(demo, tmp_path, capsys):
    program = "import sys; print('step 5 train: loss nan'); sys.exit('the loss is not finite')"
    with open(tmp_path / "demo.log", "w") as log, pytest.raises(SystemExit) as stopped:
        demo.run(demo.command(sys.executable, "-c", program), log)
    assert "the loss is not finite" in capsys.readouterr().out
    assert str(stopped.value).startswith("failed (1): ")
