"""Where the cursor is in a spec, read from the text alone (it need not parse while typing).

``cursor_context(text, offset) -> Context``: the text before ``offset`` is scanned once for
brackets (strings and comments skipped); each open ``{``, ``(`` or ``[`` is a ``Frame`` that
knows what it holds: a section's entries (``data ksin {``), a graph's statements (``block``,
``model`` and the ``repeat``/``for``/``if`` inside them), the arguments of a call
(``rk4(``, ``linear(``) or a list's items, each with the registry kind its values name.
Completion and hover read the result; nothing here imports the checker.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from specc.compiler.vocabulary import registry

_TOKEN = re.compile(r'#[^\n]*|"(?:[^"\\\n]|\\[^\n])*"?|[{}()\[\],\n]')
_SECTION_HEAD = re.compile(r"^\s*([A-Za-z_]\w*)(?:\s+([A-Za-z_]\w*)\s*:)?(?:\s*([A-Za-z_]\w*))?\s*$")
_GRAPH_HEAD = re.compile(r"^\s*(block|model)\b")
_GRAPH_STATEMENT = re.compile(r"^\s*(repeat|for|if|else)\b")
_KEY = re.compile(r"^\s*([A-Za-z_]\w*)\s*=")
_CALLEE = re.compile(r"([A-Za-z_]\w*)\s*$")
WORD = re.compile(r"[A-Za-z_]\w*")


@dataclass
class Frame:
    """An open bracket. ``role``: ``top``, ``section``, ``graph``, ``mapping``, ``call`` or
    ``list``. A section knows its ``kind`` and ``component``; a call its ``callee`` and the
    registry ``component`` it names (None in a graph: a layer); a call or list the registry
    ``value_kind`` of what it holds (``metric``, ``sampler``)."""

    role: str
    start: int  # offset just after the bracket: where the current item began, updated at `,` and newlines
    kind: str | None = None
    component: str | None = None
    callee: str | None = None
    value_kind: str | None = None
    in_graph: bool = False
    bracket: str = ""  # the bracket that opened it


@dataclass
class Context:
    frames: list[Frame]
    prefix: str  # the current item's text up to the cursor (from the last `{`, `(`, `[`, `,` or newline)
    in_comment_or_string: bool = False

    @property
    def frame(self) -> Frame:
        return self.frames[-1]

    @property
    def section(self) -> Frame | None:
        return next((frame for frame in reversed(self.frames) if frame.role == "section"), None)

    @property
    def sections(self) -> list[Frame]:
        return [frame for frame in self.frames if frame.role == "section"]


def section_parameters(kind: str, component: str | None) -> list[registry.Param]:
    """The keys a section ``kind [component] { }`` may hold: its own and its component's."""
    definition = registry.SECTIONS.get(kind)
    if definition is None:
        return []
    found = list(definition.keys)
    if definition.component_kind and component:
        chosen = registry.lookup(definition.component_kind, component)
        found += list(chosen.params) if chosen else []
    return found


def value_kind(type_name: str) -> str | None:
    """The registry kind a value of this parameter type names (``list[metric]`` -> metric)."""
    bare = type_name.rstrip("?")
    if bare.startswith("list[") and bare.endswith("]"):
        bare = bare[len("list[") : -1]
    if bare == "terms":
        return "loss"
    return bare if bare in registry.COMPONENT_KINDS or bare == "model" else None


def _parameter(parameters, name: str) -> registry.Param | None:
    return next((parameter for parameter in parameters if parameter.name == name), None)


def _frame_parameters(frame: Frame) -> list:
    if frame.role == "section":
        return section_parameters(frame.kind, frame.component)
    if frame.role == "call" and frame.component is not None:
        chosen = registry.lookup(frame.value_kind or "", frame.component)
        return list(chosen.params) if chosen else []
    return []


def _opened(parent: Frame, bracket: str, head: str, start: int) -> Frame:
    """The frame a bracket opens, given its enclosing frame and the text before it."""
    in_graph = parent.in_graph or parent.role == "graph"
    if bracket == "{":
        if parent.role == "top" and _GRAPH_HEAD.match(head):
            return Frame("graph", start, in_graph=True)
        if parent.role == "graph" and _GRAPH_STATEMENT.match(head):
            return Frame("graph", start, in_graph=True)
        match = _SECTION_HEAD.match(head)
        if parent.role in ("top", "section") and match and match.group(1) in registry.SECTIONS:
            return Frame("section", start, kind=match.group(1), component=match.group(3))
        return Frame("mapping", start, in_graph=in_graph)
    expected = _expected_kind(parent, head)
    if bracket == "[":
        return Frame("list", start, value_kind=expected, in_graph=in_graph)
    callee = _CALLEE.search(head)
    name = callee.group(1) if callee else None
    if in_graph:
        return Frame("call", start, callee=name, in_graph=True)
    component = name if name and expected and registry.lookup(expected, name) else None
    return Frame("call", start, callee=name, component=component, value_kind=expected)


def _expected_kind(parent: Frame, head: str) -> str | None:
    """The registry kind named by a value written where ``head`` ends, inside ``parent``."""
    if parent.role == "list":
        return parent.value_kind
    key = _KEY.match(head)
    if key is None:
        return None
    parameter = _parameter(_frame_parameters(parent), key.group(1))
    return value_kind(parameter.type) if parameter else None


def cursor_context(text: str, offset: int) -> Context:
    """What encloses ``offset`` in ``text``."""
    before = text[:offset]
    frames = [Frame("top", 0)]
    in_comment_or_string = False
    for match in _TOKEN.finditer(before):
        token, end = match.group(), match.end()
        frame = frames[-1]
        if token[0] in "#\"":
            if end == len(before) and (token[0] == "#" or not token.endswith('"') or len(token) == 1):
                in_comment_or_string = True
            continue
        if token in "{([":
            head = _without_comments(before[frame.start : match.start()])
            opened = _opened(frame, token, head, end)
            opened.bracket = token
            frames.append(opened)
        elif token in "})]":
            _close(frames, "{([" ["})]".index(token)])
            if token == "}":  # a section, a graph or a statement ended: the next item starts here
                frames[-1].start = end
        elif token == "," or (token == "\n" and frame.role not in ("call", "list")):
            frame.start = end
    prefix = _without_comments(before[frames[-1].start :])
    return Context(frames, prefix, in_comment_or_string)


def _close(frames: list[Frame], bracket: str) -> None:
    """Close the innermost frame opened by ``bracket`` and every frame left open inside it
    (``rk4(`` not yet closed when the section's ``}`` comes); a bracket nothing opened
    closes nothing."""
    for index in range(len(frames) - 1, 0, -1):
        if frames[index].bracket == bracket:
            del frames[index:]
            return


def _without_comments(text: str) -> str:
    return re.sub(r"#[^\n]*", "", text)


def word_at(line: str, character: int) -> tuple[str, int, int] | None:
    """(word, start, end) of the identifier ``line[character]`` is in or just after."""
    for match in WORD.finditer(line):
        if match.start() <= character <= match.end():
            return match.group(), match.start(), match.end()
    return None
