"""Decoding spec files: encodings, line ends, binary garbage."""

from __future__ import annotations

from specc.dsl.diagnostics import Span, render_text
from specc.dsl.parser import parse
from specc.dsl.source import decode


def test_plain_utf8_passes_through():
    assert decode('let a = "é"\n'.encode(), "a.mf") == ('let a = "é"\n', [])


def test_byte_order_mark_is_dropped():
    text, diagnostics = decode(b"\xef\xbb\xbfspec a\n", "a.mf")
    assert (text, diagnostics) == ("spec a\n", [])


def test_crlf_and_lone_cr_become_lf_so_positions_agree():
    text, _ = decode(b'spec a\r\nlet b = 1\rlet c = "x"\r\n', "a.mf")
    assert text == 'spec a\nlet b = 1\nlet c = "x"\n'
    module, diagnostics = parse(text, "a.mf")
    assert diagnostics == [] and module.items[1].span == Span("a.mf", 3, 1, 3, 12)


def test_tabs_are_kept_and_count_as_one_column():
    text, _ = decode(b"data d {\n\tk =\t@\n}", "a.mf")
    assert "\t" in text
    _, diagnostics = parse(text, "a.mf")
    assert [(d.code, d.span.line, d.span.column) for d in diagnostics][0] == ("E0102", 2, 6)
    assert render_text(diagnostics[0], {"a.mf": text}).splitlines()[2:4] == ["2 |  k = @", "  |      ^"]


def test_invalid_utf8_is_reported_at_the_first_bad_byte():
    text, diagnostics = decode(b'spec a\r\nlet b = "ok\xff"\n', "a.mf")
    assert text is None
    (diagnostic,) = diagnostics
    assert diagnostic.code == "E0001"
    assert diagnostic.span == Span("a.mf", 2, 12, 2, 13)
    assert render_text(diagnostic, {}) == (
        "a.mf:2:12: error[E0001]: the file is not valid UTF-8: byte 0xff at offset 19\nhelp: save the file as UTF-8"
    )


def test_latin1_after_multibyte_characters_counts_characters_not_bytes():
    _, (diagnostic,) = decode("let é = 1\nlet ü".encode() + b"\xe9", "a.mf")
    assert (diagnostic.span.line, diagnostic.span.column) == (2, 6)


def test_binary_garbage_is_one_diagnostic():
    text, diagnostics = decode(bytes(range(256)) * 4, "model.bin")
    assert text is None
    assert [render_text(d, {}) for d in diagnostics] == [
        "model.bin:1:1: error[E0002]: this does not look like a text file\nhelp: a spec is a UTF-8 text file"
    ]


def test_control_characters_without_nul_are_binary_too():
    _, (diagnostic,) = decode(b"\x01\x02\x03\x04 abc", "a.mf")
    assert diagnostic.code == "E0002"


def test_utf16_gets_a_hint():
    _, (diagnostic,) = decode("spec a\n".encode("utf-16"), "a.mf")
    assert diagnostic.code == "E0002"
    assert diagnostic.help == "the file looks UTF-16 or UTF-32 encoded: save it as UTF-8"


def test_empty_file_decodes_and_the_parser_reports_it():
    assert decode(b"", "a.mf") == ("", [])
    module, (diagnostic,) = parse("", "a.mf")
    assert module is None and diagnostic.code == "E0003"


def test_a_file_of_comments_only_is_a_valid_empty_module():
    module, diagnostics = parse("# nothing yet\n", "a.mf")
    assert diagnostics == [] and module.items == () and len(module.comments) == 1
