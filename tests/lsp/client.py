"""A minimal LSP client for the tests: ``specc lsp`` as a subprocess, spoken to with
Content-Length framed JSON-RPC over its stdin and stdout.

A reader thread parses every message the server writes; ``request`` waits for the
response with its id, ``notification`` for the next notification of a method (optionally
one matching a predicate). Every wait has a deadline, so a silent server fails the test
instead of hanging it.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path

DEADLINE_SECONDS = 30.0


def uri_of(path: Path) -> str:
    return path.resolve().as_uri()


class Client:
    def __init__(self, command: list[str] | None = None, cwd: str | None = None):
        command = command or [sys.executable, "-m", "specc", "lsp"]
        environment = dict(os.environ, PYTHONUNBUFFERED="1")
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd, env=environment
        )
        self.next_id = 0
        self.responses: dict[int, dict] = {}
        self.notifications: list[dict] = []
        self.arrived: queue.Queue = queue.Queue()
        self.requests_from_server: list[dict] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    # ------------------------------------------------------------------ wire

    def send(self, message: dict) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode("utf-8")
        self.process.stdin.write(f"Content-Length: {len(body)}\r\n\r\n".encode("ascii") + body)
        self.process.stdin.flush()

    def _read(self) -> None:
        stream = self.process.stdout
        while True:
            headers = {}
            while True:
                line = stream.readline()
                if not line:
                    self.arrived.put(None)
                    return
                line = line.strip()
                if not line:
                    break
                name, _, value = line.decode("ascii").partition(":")
                headers[name.strip().lower()] = value.strip()
            body = stream.read(int(headers["content-length"]))
            self.arrived.put(json.loads(body))

    def _wait(self, found):
        """Take messages until ``found(message)`` returns something; every message is kept."""
        import time

        deadline = time.monotonic() + DEADLINE_SECONDS
        for message in self.notifications + list(self.responses.values()):
            result = found(message)
            if result is not None:
                return result
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no answer from the server within {DEADLINE_SECONDS} s; stderr: {self.stderr()}")
            try:
                message = self.arrived.get(timeout=remaining)
            except queue.Empty:
                continue
            if message is None:
                raise AssertionError(f"the server closed its output; stderr: {self.stderr()}")
            if "id" in message and "method" in message:  # a request from the server
                self.requests_from_server.append(message)
                self.send({"id": message["id"], "result": None})
                continue
            if "id" in message:
                self.responses[message["id"]] = message
            else:
                self.notifications.append(message)
            result = found(message)
            if result is not None:
                return result

    def stderr(self) -> str:
        if self.process.poll() is None:
            return "(still running)"
        return self.process.stderr.read().decode("utf-8", "replace")[-3000:]

    # ------------------------------------------------------------------ protocol

    def request(self, method: str, params) -> dict:
        """The response (``result`` or ``error``) of one request."""
        self.next_id += 1
        number = self.next_id
        self.send({"id": number, "method": method, "params": params})
        return self._wait(lambda message: message if message.get("id") == number and "method" not in message else None)

    def result(self, method: str, params):
        response = self.request(method, params)
        assert "error" not in response, response
        return response["result"]

    def notify(self, method: str, params) -> None:
        self.send({"method": method, "params": params})

    def notification(self, method: str, predicate=lambda params: True) -> dict:
        """The params of the first notification of ``method`` matching ``predicate``; it is
        consumed, so the next call waits for a later one."""

        def found(message):
            if message.get("method") == method and message in self.notifications and predicate(message["params"]):
                self.notifications.remove(message)
                return message["params"]
            return None

        return self._wait(found)

    def diagnostics(self, uri: str) -> list[dict]:
        return self.notification("textDocument/publishDiagnostics", lambda params: params["uri"] == uri)["diagnostics"]

    def initialize(self, root: Path) -> dict:
        result = self.result(
            "initialize",
            {"processId": os.getpid(), "rootUri": uri_of(root), "capabilities": {}, "workspaceFolders": None},
        )
        self.notify("initialized", {})
        return result

    def open(self, path: Path, text: str | None = None, version: int = 1) -> str:
        uri = uri_of(path)
        text = path.read_text(encoding="utf-8") if text is None else text
        self.notify(
            "textDocument/didOpen",
            {"textDocument": {"uri": uri, "languageId": "specc", "version": version, "text": text}},
        )
        return uri

    def change(self, uri: str, version: int, text: str, change_range: dict | None = None) -> None:
        change = {"text": text} if change_range is None else {"range": change_range, "text": text}
        self.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version}, "contentChanges": [change]})

    def close(self) -> int:
        """shutdown, exit; the server's exit status."""
        if self.process.poll() is None:
            self.result("shutdown", None)
            self.notify("exit", None)
        try:
            return self.process.wait(timeout=DEADLINE_SECONDS)
        finally:
            for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
                stream.close()


def position(line: int, character: int) -> dict:
    return {"line": line, "character": character}


def text_position(uri: str, line: int, character: int) -> dict:
    return {"textDocument": {"uri": uri}, "position": position(line, character)}
