"""The progress bar of the JAX and MLX scripts never runs into the lines a run prints.

A fake terminal records what stdout and stderr write to one screen (both are the terminal),
and ``screen`` replays it as a terminal shows it: ``\\r`` returns to the start of the line and
the next characters overwrite it.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap

import pytest

from specc.runtime.training import EarlyStopping, MetricsLog, ProgressBar, run_main
from specc.runtime.training import progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def screen(text: str) -> list[str]:
    """The lines a terminal shows after printing ``text`` (\\r and \\n handled)."""
    lines, row, column = [[]], 0, 0
    for character in text:
        if character == "\r":
            column = 0
        elif character == "\n":
            row, column = row + 1, 0
            if row == len(lines):
                lines.append([])
        else:
            line = lines[row]
            line.extend(" " * (column + 1 - len(line)))
            line[column] = character
            column += 1
    return ["".join(line).rstrip() for line in lines]


def use_terminal(monkeypatch, columns: int = 100) -> Terminal:
    """stdout and stderr on one fake terminal (set in the test body: pytest sets its own
    capture streams again between a fixture's setup and the test)."""
    shared = Terminal()
    monkeypatch.setattr(sys, "stdout", shared)
    monkeypatch.setattr(sys, "stderr", shared)
    monkeypatch.setattr(progress, "_active", None)
    monkeypatch.setenv("COLUMNS", str(columns))
    return shared


def is_bar(line: str) -> bool:
    return line.startswith("step ") and "[" in line and "%" in line


def test_log_lines_are_printed_above_the_bar(monkeypatch, tmp_path):
    terminal = use_terminal(monkeypatch)
    bar = ProgressBar(100)
    log = MetricsLog(tmp_path / "metrics.csv", echo=sys.stdout)
    for step in range(1, 101):
        if step % 10 == 0:
            bar.update(step, {"loss": 1.0 / step})
        if step % 25 == 0:
            log.write_many(step, 0, "train", {"loss": 0.5})
    log.write_many(100, 0, "val", {"accuracy": 0.75})
    bar.close()
    shown = [line for line in screen(terminal.getvalue()) if line]
    logged = [line for line in shown if not is_bar(line)]
    assert logged == [
        "step 25 train: loss 0.5",
        "step 50 train: loss 0.5",
        "step 75 train: loss 0.5",
        "step 100 train: loss 0.5",
        "step 100 val: accuracy 0.75",
    ]
    assert is_bar(shown[-1]) and shown[-1].startswith("step 100/100 [==============================] 100%")
    assert shown[-1].endswith("loss 0.01")
    assert sum(is_bar(line) for line in shown) == 1  # one bar line, always below the last log line


def test_a_bar_line_fits_the_terminal_and_shows_rate_and_time(monkeypatch):
    terminal = use_terminal(monkeypatch, columns=40)
    bar = ProgressBar(1000)
    bar.update(10)
    bar.update(20, {"loss": 0.25})
    line = screen(terminal.getvalue())[0]
    assert len(line) <= 39 and line.startswith("step 20/1000 [")
    wide = bar.line(20, {"loss": 0.25}, elapsed=2.0)
    assert wide == "step 20/1000 [                              ]   2% 5 it/s 0:02<3:16 loss 0.25"


def test_no_bar_when_stderr_is_not_a_terminal(tmp_path):
    stream = io.StringIO()
    bar = ProgressBar(10, stream=stream)
    bar.update(5, {"loss": 1.0})
    bar.close()
    assert stream.getvalue() == "" and progress._active is None


def test_early_stopping_and_a_failure_start_their_own_lines(monkeypatch):
    terminal = use_terminal(monkeypatch)
    bar = ProgressBar(10)
    bar.update(5, {"loss": 1.0})
    stopping = EarlyStopping("val/loss", patience=1, mode="min", verbose=True)
    stopping.update({"val/loss": 1.0})
    stopping.update({"val/loss": 2.0})
    bar.update(6)

    def failing(argv):
        raise SystemExit("specc: the loss is not finite at step 6")

    with pytest.raises(SystemExit):
        run_main(failing)
    shown = screen(terminal.getvalue())
    assert shown[0].startswith("Monitored metric val/loss did not improve in the last 1 records.")
    assert shown[1].startswith("step 6/10 [") and shown[2] == ""  # the bar's line ended before the message
    assert progress._active is None


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jax", "lightning"])
def test_a_generated_script_on_a_terminal(backend, tmp_path):
    """A real run under a pseudo-terminal: the bar is drawn and every log line starts its own
    screen line (the check the issue asks for: it never runs into the log lines). Lightning
    draws the same bar as JAX (``ProgressDisplay``), not tqdm's."""
    pytest.importorskip({"jax": "jax", "lightning": "lightning"}[backend])
    pty = pytest.importorskip("pty")
    import fcntl
    import struct
    import termios

    from specc.compiler.cli.main import read
    from specc.compiler.emit.render import render
    from specc.compiler.pipeline import check
    from tests.checker.helpers import DIGITS

    spec = tmp_path / "spec.mf"
    spec.write_text(DIGITS)
    overrides = ("train.max_steps=40", "train.log_every=20", "train.eval_every=40")
    result = check(str(spec), read, overrides, backend)
    assert result.program is not None, result.diagnostics
    script = tmp_path / "train.py"
    script.write_text(render(result.program, backend))
    main, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    environment = dict(os.environ, OMP_NUM_THREADS="1")
    process = subprocess.Popen(
        [sys.executable, str(script), "--out-dir", str(tmp_path / "run")],
        stdin=subprocess.DEVNULL, stdout=secondary, stderr=secondary, env=environment, cwd=tmp_path,
    )
    os.close(secondary)
    output = b""
    while True:
        try:
            chunk = os.read(main, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        output += chunk
    assert process.wait(timeout=300) == 0, output.decode(errors="replace")
    shown = [line for line in screen(output.decode().replace("\r\n", "\n")) if line]
    logged = [line for line in shown if line.startswith("step ") and not is_bar(line)]
    assert [line.split(":")[0] for line in logged] == ["step 20 train", "step 40 train", "step 40 val"]
    assert all("[" not in line and "%" not in line for line in logged), textwrap.indent("\n".join(shown), "  ")
    assert is_bar(shown[-1]) and shown[-1].startswith("step 40/40 [")
