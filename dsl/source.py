"""``decode(data, file)``: the bytes of a spec file -> text the parser reads, or a diagnostic.

- UTF-8 only. A UTF-8 byte order mark is dropped. Bytes that are not UTF-8 are reported at
  the line and column of the first bad byte (columns count characters, as everywhere).
- A file holding NUL bytes, or mostly control characters, is not a text file: one diagnostic,
  no attempt to parse it. A UTF-16 or UTF-32 file (byte order mark) gets a help line.
- Line ends: CRLF and lone CR become LF, so positions are the same on every platform.
- Tabs are kept as they are; a tab counts as one column.
- Empty input decodes to ``""``; the parser reports it (E0003).

Reading is not done here (the command line's ``read`` does it), but its rules are stated
here: a spec file is a regular file of at most ``MAX_FILE_BYTES``; a ``read`` that refuses a
file raises ``Unreadable`` with the diagnostic's code and reason (``dsl/imports.py`` turns
it into a diagnostic at the ``import`` statement).
"""

from __future__ import annotations

from specc.dsl.diagnostics import Diagnostic, Span

MAX_FILE_BYTES = 16 * 1024 * 1024  # 16 MiB: the largest spec file read (lint reads ~0.3 MB/s: under a minute)
_UTF8_BOM = b"\xef\xbb\xbf"
_WIDE_BOMS = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")
_ALLOWED_CONTROLS = frozenset(b"\t\n\r\f")
_SAMPLE = 8192


class Unreadable(Exception):
    """Raised by a ``read`` callback for a file it will not read: the diagnostic's code and
    the reason, which completes "cannot read `FILE`: ..." (``it is a named pipe, ...``)."""

    def __init__(self, code: str, reason: str, help: str | None = None):
        super().__init__(reason)
        self.code, self.reason, self.help = code, reason, help


def decode(data: bytes, file: str) -> tuple[str | None, list[Diagnostic]]:
    """Decode a spec file. Returns the text with LF line ends, or None and one diagnostic."""
    if _looks_binary(data):
        return None, [_binary(data, file)]
    if data.startswith(_UTF8_BOM):
        data = data[len(_UTF8_BOM) :]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        return None, [_not_utf8(data, error, file)]
    return text.replace("\r\n", "\n").replace("\r", "\n"), []


def _looks_binary(data: bytes) -> bool:
    if b"\x00" in data:
        return True
    sample = data[:_SAMPLE]
    controls = sum(1 for byte in sample if byte < 32 and byte not in _ALLOWED_CONTROLS)
    return len(sample) > 0 and controls * 10 > len(sample)


def _binary(data: bytes, file: str) -> Diagnostic:
    help = "a spec is a UTF-8 text file"
    if data.startswith(_WIDE_BOMS):
        help = "the file looks UTF-16 or UTF-32 encoded: save it as UTF-8"
    return Diagnostic("E0002", "this does not look like a text file", Span.point(file), help=help)


def _not_utf8(data: bytes, error: UnicodeDecodeError, file: str) -> Diagnostic:
    good = data[: error.start].decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
    line = good.count("\n") + 1
    column = len(good) - (good.rfind("\n") + 1) + 1
    return Diagnostic(
        "E0001",
        f"the file is not valid UTF-8: byte 0x{data[error.start]:02x} at offset {error.start}",
        Span.point(file, line, column),
        help="save the file as UTF-8",
    )
