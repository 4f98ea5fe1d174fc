"""Output formats of ``specc lint``: text, json, github (workflow commands) and sarif 2.1.0.

Each formatter takes the diagnostics of every file (already sorted) and the sources, and
returns the whole output as one string.
"""

from __future__ import annotations

import json

import specc
from specc.dsl.diagnostics import Diagnostic, printable, render_all

FORMATS = ("text", "json", "github", "sarif")


def _record(diagnostic: Diagnostic) -> dict:
    span = diagnostic.span
    return {
        "file": printable(span.file),
        "line": span.line,
        "column": span.column,
        "end_line": span.end_line,
        "end_column": span.end_column,
        "severity": diagnostic.severity,
        "code": diagnostic.code,
        "message": diagnostic.message,
        "help": diagnostic.help,
        "notes": list(diagnostic.notes),
    }


def as_json(diagnostics: list[Diagnostic], sources: dict[str, str]) -> str:
    return json.dumps([_record(diagnostic) for diagnostic in diagnostics], indent=2) + "\n"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def as_github(diagnostics: list[Diagnostic], sources: dict[str, str]) -> str:
    """GitHub Actions workflow commands: ``::error file=..,line=..,col=..::message``."""
    lines = []
    for diagnostic in diagnostics:
        span = diagnostic.span
        properties = {
            "file": printable(span.file),
            "line": span.line,
            "col": span.column,
            "endLine": span.end_line,
            "endColumn": span.end_column,
            "title": diagnostic.code,
        }
        text = ",".join(f"{key}={_escape_property(str(value))}" for key, value in properties.items())
        message = diagnostic.message + (f"\nhelp: {diagnostic.help}" if diagnostic.help else "")
        level = "error" if diagnostic.severity == "error" else "warning"
        lines.append(f"::{level} {text}::{_escape_data(message)}")
    return "\n".join(lines) + ("\n" if lines else "")


def as_sarif(diagnostics: list[Diagnostic], sources: dict[str, str]) -> str:
    """SARIF 2.1.0: one run, one rule per code used, one result per diagnostic."""
    codes = sorted({diagnostic.code for diagnostic in diagnostics})
    results = []
    for diagnostic in diagnostics:
        span = diagnostic.span
        text = diagnostic.message + (f" (help: {diagnostic.help})" if diagnostic.help else "")
        results.append(
            {
                "ruleId": diagnostic.code,
                "ruleIndex": codes.index(diagnostic.code),
                "level": "error" if diagnostic.severity == "error" else "warning",
                "message": {"text": text},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": printable(span.file)},
                            "region": {
                                "startLine": span.line,
                                "startColumn": span.column,
                                "endLine": span.end_line,
                                "endColumn": span.end_column,
                            },
                        }
                    }
                ],
            }
        )
    document = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "specc",
                        "version": specc.__version__,
                        "informationUri": "https://example.invalid/specc",
                        "rules": [{"id": code, "helpUri": f"docs/diagnostics.md#{code.lower()}"} for code in codes],
                    }
                },
                "results": results,
            }
        ],
    }
    return json.dumps(document, indent=2) + "\n"


FORMATTERS = {"text": render_all, "json": as_json, "github": as_github, "sarif": as_sarif}
