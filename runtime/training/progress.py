"""The progress bar of every backend's script (Lightning's through ``torch.lightning_callbacks.ProgressDisplay``).

``step 120/1000 [===>      ] 12% 85.3 it/s 0:01<0:10 loss 0.4123`` on stderr, redrawn in
place every ``refresh_rate`` steps (the JAX and MLX templates call :meth:`ProgressBar.update` then,
Lightning's ``ProgressDisplay`` callback does on Lightning). It is
drawn only when stderr is a terminal (a log file or a pipe gets the log lines alone) and a
spec turns it off with ``train.callbacks`` without ``progress_bar``.

A bar never runs into the lines a run prints: :func:`print_line` (which ``MetricsLog``'s
echo and early stopping use) clears the bar, prints its line and draws the bar again below
it, and :func:`finish` ends the bar's line before a failure's message (``run_main``). The
line is cut to the terminal's width so a redraw always overwrites the whole bar.
"""

from __future__ import annotations

import shutil
import sys
import time

_active: ProgressBar | None = None  # the bar on the terminal now (at most one per process)


class ProgressBar:
    """A one-line progress display of ``total`` steps on ``stream`` (stderr)."""

    def __init__(self, total: int | None, width: int = 30, stream=None, enabled: bool | None = None):
        global _active
        self.total, self.width = total, width
        self.stream = stream or sys.stderr
        self.enabled = _is_terminal(self.stream) if enabled is None else enabled
        self.started = time.time()
        self.first_step: int | None = None  # the step of the first update (a resumed run starts late)
        self.text = ""  # the line as last drawn ("" when not on the screen)
        self.shown = ""  # the line to draw again after a log line
        if self.enabled:
            _active = self

    def update(self, step: int, values: dict | None = None) -> None:
        """Draw ``step`` (of ``total``) and ``values`` (``{"loss": 0.41}``) over the last line."""
        if not self.enabled:
            return
        now = time.time()
        if self.first_step is None:
            self.first_step, self.started = step, now
        self.shown = self.line(step, values or {}, now - self.started)
        self.draw()

    def line(self, step: int, values: dict, elapsed: float) -> str:
        """The bar's text: steps, bar, percentage, rate, elapsed<remaining, values."""
        done = step - (self.first_step or 0)
        rate = done / elapsed if elapsed > 0 and done > 0 else None
        parts = [f"step {step}" + (f"/{self.total}" if self.total else "")]
        if self.total:
            fraction = min(step, self.total) / self.total
            filled = int(self.width * fraction)
            head = ">" if 0 < filled < self.width else ""
            parts.append("[" + "=" * max(filled - len(head), 0) + head + " " * (self.width - filled) + "]")
            parts.append(f"{100.0 * fraction:3.0f}%")
        if rate is not None:
            parts.append(f"{rate:.3g} it/s")
            remaining = (self.total - step) / rate if self.total and step < self.total else None
            parts.append(_clock(elapsed) + ("<" + _clock(remaining) if remaining is not None else ""))
        parts += [f"{name} {float(value):.4g}" for name, value in values.items()]
        return " ".join(parts)

    def draw(self) -> None:
        """The shown line over the previous one, cut to the terminal's width."""
        if not self.enabled or not self.shown:
            return
        columns = shutil.get_terminal_size(fallback=(80, 24)).columns
        text = self.shown[: max(columns - 1, 1)]
        padding = " " * max(len(self.text) - len(text), 0)  # wipe what a longer line left
        self.stream.write("\r" + text + padding)
        self.stream.flush()
        self.text = text

    def clear(self) -> None:
        """Take the bar off the screen (the cursor back at the start of an empty line)."""
        if self.enabled and self.text:
            self.stream.write("\r" + " " * len(self.text) + "\r")
            self.stream.flush()
            self.text = ""

    def close(self) -> None:
        """Leave the last drawn bar on its own line; the bar is no longer redrawn."""
        global _active
        if _active is self:
            _active = None
        if self.enabled and self.text:
            self.stream.write("\n")
            self.stream.flush()
            self.text = ""
        self.enabled = False


def print_line(text: str, stream=None) -> None:
    """Print ``text`` as one line on ``stream`` (stdout) above the progress bar, if one is on
    the screen: the bar is cleared first and drawn again after the line."""
    stream = stream or sys.stdout
    bar = _active
    if bar is not None:
        bar.clear()
    print(text, file=stream, flush=True)
    if bar is not None:
        bar.draw()


def finish() -> None:
    """End the bar's line (a run stopping with a message: the message starts a line)."""
    if _active is not None:
        _active.close()


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def _clock(seconds: float) -> str:
    """``m:ss`` (or ``h:mm:ss``) as tqdm writes it."""
    minutes, second = divmod(int(seconds), 60)
    hours, minute = divmod(minutes, 60)
    return f"{hours}:{minute:02d}:{second:02d}" if hours else f"{minute}:{second:02d}"
