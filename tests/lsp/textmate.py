"""A small TextMate grammar tokenizer for the tests: the subset the specc grammar uses.

Rules: ``match`` (with ``name`` and ``captures``), ``begin``/``end`` (with ``name``,
``beginCaptures``, ``endCaptures`` and inner ``patterns``), ``patterns`` lists and
``include`` of ``#name`` (the repository) or ``$self``. Lines are scanned one at a time, as
TextMate does; at each position the rule whose match starts first wins, the open rule's
``end`` first on a tie, then the patterns in order. ``$1`` in a capture's name is replaced by
that group's text. Regular expressions are Python's (the grammar keeps to the common
subset of Python and Oniguruma syntax).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Token:
    text: str
    scopes: tuple[str, ...]  # outermost first; the grammar's scopeName is first


class Grammar:
    def __init__(self, path: Path):
        self.document = json.loads(path.read_text(encoding="utf-8"))
        self.root = self.document["scopeName"]
        self.repository = self.document.get("repository", {})
        self.compiled: dict[str, re.Pattern] = {}

    def regex(self, source: str) -> re.Pattern:
        if source not in self.compiled:
            self.compiled[source] = re.compile(source)
        return self.compiled[source]

    def flatten(self, patterns: list[dict], seen: tuple = ()) -> list[dict]:
        """The rules of a ``patterns`` list with every ``include`` expanded, in order."""
        rules = []
        for pattern in patterns:
            if "include" in pattern:
                target = pattern["include"]
                if target in seen:
                    continue
                if target == "$self":
                    rules += self.flatten(self.document["patterns"], seen + (target,))
                elif target.startswith("#"):
                    rules += self.flatten([self.repository[target[1:]]], seen + (target,))
                else:
                    raise ValueError(f"include {target!r} is outside the supported subset")
            elif "match" in pattern or "begin" in pattern:
                rules.append(pattern)
            elif "patterns" in pattern:
                rules += self.flatten(pattern["patterns"], seen)
            else:
                raise ValueError(f"rule {pattern!r} is outside the supported subset")
        return rules

    def tokenize(self, text: str) -> list[list[Token]]:
        """The tokens of every line of ``text`` (a begin/end rule may span lines)."""
        stack: list[tuple[dict, tuple[str, ...]]] = []  # open begin/end rules and their scopes
        return [[token for token in self._line(line, stack) if token.text] for line in text.split("\n")]

    def _line(self, line: str, stack: list) -> list[Token]:
        tokens: list[Token] = []
        position = 0
        for _ in range(10 * len(line) + 10):  # every round consumes text or closes a rule
            open_rule, scopes = stack[-1] if stack else (None, (self.root,))
            rules = self.flatten(open_rule.get("patterns", []) if open_rule else self.document["patterns"])
            found = self._first(line, position, rules, open_rule)
            if found is None:
                tokens.append(Token(line[position:], scopes))
                return tokens
            rule, match, is_end = found
            tokens.append(Token(line[position : match.start()], scopes))
            if is_end:
                tokens += self._captured(match, rule.get("endCaptures", {}), scopes)
                stack.pop()
            else:
                inner = scopes + ((rule["name"],) if "name" in rule else ())
                tokens += self._captured(match, rule.get("beginCaptures" if "begin" in rule else "captures", {}), inner)
                if "begin" in rule:
                    stack.append((rule, inner))
            position = match.end()
            if match.end() == match.start() and not is_end and "begin" not in rule:
                raise ValueError(f"rule {rule!r} matches the empty string")
            if position >= len(line) and (not stack or not _ends_at_line_end(stack[-1][0])):
                return tokens
        raise ValueError(f"the grammar loops on line {line!r}")

    def _first(self, line: str, position: int, rules: list[dict], open_rule: dict | None):
        best = None
        candidates = [(open_rule, "end", True)] if open_rule is not None else []
        candidates += [(rule, "match" if "match" in rule else "begin", False) for rule in rules]
        for rule, key, is_end in candidates:
            match = self.regex(rule[key]).search(line, position)
            if match is not None and (best is None or match.start() < best[1].start()):
                best = (rule, match, is_end)
        return best

    def _captured(self, match: re.Match, captures: dict, scopes: tuple[str, ...]) -> list[Token]:
        """The matched text split into tokens: captured groups get their scope added."""
        if not captures:
            return [Token(match.group(), scopes)]
        whole = captures.get("0", {}).get("name")
        base = scopes + ((whole,) if whole else ())
        groups = sorted(
            (match.start(int(number)), match.end(int(number)), self._name(capture["name"], match))
            for number, capture in captures.items()
            if number != "0" and match.group(int(number)) is not None
        )
        tokens, position = [], match.start()
        for start, end, name in groups:
            if start > position:
                tokens.append(Token(match.string[position:start], base))
            tokens.append(Token(match.string[start:end], base + (name,)))
            position = end
        if position < match.end():
            tokens.append(Token(match.string[position : match.end()], base))
        return tokens

    @staticmethod
    def _name(name: str, match: re.Match) -> str:
        return re.sub(r"\$(\d+)", lambda found: match.group(int(found.group(1))) or "", name)


def _ends_at_line_end(rule: dict) -> bool:
    """A rule whose ``end`` can match the empty string at the end of a line (``"|$``)."""
    return re.search(rule["end"], "") is not None
