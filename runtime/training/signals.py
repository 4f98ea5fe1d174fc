"""SIGTERM / Ctrl-C: ask the loop to save a checkpoint and exit at the next step boundary."""

from __future__ import annotations

import signal


class StopRequest:
    """Installs handlers for SIGTERM and SIGINT that set ``requested``.

    A second Ctrl-C while a stop is pending raises ``KeyboardInterrupt`` as usual.
    Use as a context manager; the previous handlers are restored on exit.
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self):
        self.requested = False
        self.signal_name = ""
        self.previous = {}

    def _handle(self, number, frame):
        if self.requested and number == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True
        self.signal_name = signal.Signals(number).name

    def __enter__(self) -> "StopRequest":
        for number in self.SIGNALS:
            self.previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exception) -> None:
        for number, handler in self.previous.items():
            signal.signal(number, handler)
        self.previous.clear()
