"""Grammar-aware generation of front-end inputs, driven by one ``random.Random``-like object.

``make_case(rng, seeds)`` returns a :class:`Case`: the bytes of a spec, the ``--set``
overrides, and how to lint it. Half of the cases are mutations of a seed (every ``.mf`` of
the repository: the example specs and the standard library): tokens deleted, duplicated,
swapped, replaced or inserted, fragments of the language (expressions, entries, sections,
statements, blocks) spliced in, lines of another seed copied in, layout and odd characters
changed. The others are written from the grammar (``dsl/grammar.lark``) with the words the
checker knows (sections, components and their keys, layers), so that they get past parsing
into resolution, validation, the model graphs and lowering.

The same functions serve the CI test (``rng`` is hypothesis's ``st.randoms()``: every call is
a draw, so failures shrink and runs are reproducible) and the long coverage-guided run
(``scripts/fuzz_front_end.py``, a plain ``random.Random``).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from specc.compiler.vocabulary import layers, registry

ROOT = Path(__file__).resolve().parents[2]
MAX_INPUT = 20_000  # bytes: the output bound of the harness is stated for inputs this small

TOKEN = re.compile(
    r'#[^\n]*|"(?:[^"\\\n]|\\.)*"?|[A-Za-z_][A-Za-z0-9_]*|[0-9][0-9_]*(?:\.[0-9_]+)?(?:[eE][+-]?[0-9_]+)?'
    r"|\*\*|//|==|!=|<=|>=|->|\s+|.",
    re.DOTALL,
)
KEYWORDS = (
    "spec", "language", "import", "let", "block", "model", "return", "repeat", "for", "in", "if", "else",
    "and", "or", "not", "true", "false", "list", "int", "float", "bool", "str",
)
RESERVED = ("class", "None", "True", "lambda", "def", "__x", "import", "PARAMETERS", "PACKAGES", "objective")
PUNCTUATION = ("{", "}", "(", ")", "[", "]", ",", ":", "=", ".", "->", "+", "-", "*", "/", "//", "%", "**",
               "==", "!=", "<", "<=", ">", ">=", "#", '"', "\n", " ", "\t")
NUMBERS = ("0", "1", "2", "3", "4", "8", "16", "64", "0.0", "0.5", "1.0", "1e-4", "2.5", "3E+2", "100_000",
           "1_000.5", "0.1", "1024", "10_000", "1e308")
ODD_NUMBERS = ("1e309", "12345678901234567890", "1__0", "1_", "0x10", "1.e5", "00", "9" * 400)
STRINGS = ('"val/loss"', '""', '"train/loss"', '"a\\nb"', '"\\u{1F600}"', '"{step}"', '"min"', '"f32[64]"',
           '"data.npz"', '"std/transformer.mf"', '"lib.mf"', '"val/accuracy"')
ODD_STRINGS = ('"\\u{0}"', '"{step:>1000000}"', '"x/y\'z"', '"C:\\\\data"', '"\\q"', '"std/../../x.mf"',
               '"\\u{110000}"', '"unterminated', '"\\u{D800}"', '"' + "a" * 300 + '"')
ODD_CHARACTERS = ("\t", "\r", "\r\n", "\x00", "\x0c", "\u00e9", "\ufeff", "\u2028", "\x7f", "\u200b", "\\", "`", "$", "@")
GRAPH_NAMES = ("x", "h", "c", "t", "y", "z", "a", "b", "B", "D", "C", "T", "k", "n", "i", "hidden", "width")
SHAPE_NAMES = ("B", "D", "C", "T", "H", "W", "k", "2 * D", "D // 2", "64", "8", "1")
DTYPES = ("f32", "f16", "bf16", "i64", "i32", "bool", "", "", "")
LAYER_CALLS = (
    "linear({x}, {n})", "relu({x})", "gelu({x})", "silu({x})", "tanh({x})", "sigmoid({x})", "layernorm({x})",
    "layernorm({x}, affine = false)", "dropout({x}, 0.1)", "softmax({x})", "split(linear({x}, 2 * {n}), 2)",
    "concat([{x}, {x}])", "sinusoidal({x}, {n})", "embedding({x}, 16, {n})", "mean({x})", "{x} * 2",
    "{x} + {x}", "-{x}", "{x} ** 2", "reshape({x}, [B, -1])",
)
IMPORTS = ('"std/transformer.mf"', '"std/flow_mlp.mf"', '"std/classifier.mf"', '"lib.mf"', '"missing.mf"',
           '"std/../../x.mf"', '"../lib.mf"', '"std/nothing.mf"', '"lib.mf\\u{0}"', '"fuzz.mf"', '""', '"/dev/zero"')
OVERRIDE_KEYS = ("train.max_steps", "k", "signal_length", "optimizer.lr", "data.batch_size", "train.log_every",
                 "train.checkpoint.every", "eval.metrics", "x", "data", "train.max_steps.x", "", "lr")
OVERRIDE_VALUES = ("100", "0 ** -1", "(4\n)", "1e-3", "[1, 2]", "true", '"s"', "k * 2", "-1", "1 / 0", "", "(",
                   "2 ** 100000", "99999999999999999999999", "data.k", "linear")
LIBRARY = b"""# lib.mf: a library of blocks, imported by some fuzz cases
block twice(x: [B, D], hidden: int = 8) -> [B, D] {
  h = relu(linear(x, hidden))
  return x + linear(h, D)
}
"""


@dataclasses.dataclass(frozen=True)
class Case:
    """One input of the front end: the spec's bytes and how it is linted."""

    source: bytes
    overrides: tuple[str, ...] = ()
    backend: str | None = None
    output_format: str = "text"
    library: bytes = LIBRARY  # lib.mf beside the spec

    def describe(self) -> str:
        return f"overrides={self.overrides!r} backend={self.backend!r} format={self.output_format!r}"


def seed_paths() -> list[Path]:
    """Every spec of the repository: specs/**.mf (examples and std) and tests/**.mf."""
    found = sorted(ROOT.glob("specs/**/*.mf")) + sorted(ROOT.glob("tests/**/*.mf"))
    return [path for path in found if "golden" not in path.parts]


def seed_texts() -> list[str]:
    return [path.read_text(encoding="utf-8") for path in seed_paths()]


# ---------------------------------------------------------------------------- vocabulary


def _vocabulary():
    sections = {}
    for kind, section in registry.SECTIONS.items():
        keys = [param.name for param in section.keys]
        components = registry.components(section.component_kind) if section.component_kind else {}
        sections[kind] = (section, keys, {name: [p.name for p in c.params] for name, c in components.items()})
    component_names = {kind: list(registry.components(kind)) for kind in registry.COMPONENT_KINDS}
    return sections, component_names, sorted(layers.names())


SECTIONS, COMPONENT_NAMES, LAYER_NAMES = _vocabulary()
WORDS = tuple(
    sorted({*GRAPH_NAMES, *LAYER_NAMES, *SECTIONS, "model", "spec", "repeat", "list",
            *(name for names in COMPONENT_NAMES.values() for name in names),
            *(key for _, keys, _ in SECTIONS.values() for key in keys)})
)
ODD_WORDS = (*KEYWORDS, *RESERVED)


# ---------------------------------------------------------------------------- generation


def chance(rng, probability: float) -> bool:
    """True with ``probability`` (an integer draw: hypothesis biases float draws to 0)."""
    return rng.randint(0, 999) < probability * 1000


class Writer:
    """Writes language constructs with ``rng``'s choices; ``budget`` bounds the size."""

    def __init__(self, rng, budget: int = 60, wild: float = 0.05):
        self.rng = rng
        self.budget = budget
        self.wild = wild  # how often a word, number or string is an odd one

    def chance(self, probability: float) -> bool:
        return chance(self.rng, probability)

    def pick(self, options):
        return options[self.rng.randint(0, len(options) - 1)]

    def spend(self) -> bool:
        self.budget -= 1
        return self.budget > 0

    def name(self) -> str:
        if self.chance(self.wild):
            return self.pick(ODD_WORDS)
        return self.pick(GRAPH_NAMES) if self.chance(0.6) else self.pick(WORDS)

    def odd_or(self, odd, usual) -> str:
        return self.pick(odd) if self.chance(self.wild) else self.pick(usual)

    def expression(self, depth: int = 0) -> str:
        if depth > 4 or not self.spend() or self.chance(0.35):
            return self.atom()
        choice = self.rng.randint(0, 9)
        if choice <= 2:
            operator = self.pick(("+", "-", "*", "/", "//", "%", "**", "==", "<", ">=", "and", "or"))
            return f"{self.expression(depth + 1)} {operator} {self.expression(depth + 1)}"
        if choice == 3:
            return self.pick(("-", "+", "not ")) + self.expression(depth + 1)
        if choice == 4:
            return f"({self.expression(depth + 1)})"
        if choice == 5:
            return "[" + self.separated(lambda: self.expression(depth + 1)) + "]"
        if choice == 6:
            return "{ " + self.separated(lambda: self.entry(depth + 1)) + " }"
        if choice == 7:
            return f"{self.name()}.{self.name()}"
        if choice == 8 and self.chance(0.3):
            return " + ".join(self.atom() for _ in range(self.rng.randint(2, 400)))  # a long flat chain
        arguments = [self.expression(depth + 1) for _ in range(self.rng.randint(0, 2))]
        arguments += [f"{self.name()} = {self.expression(depth + 1)}" for _ in range(self.rng.randint(0, 2))]
        return f"{self.name()}(" + self.layout(arguments) + ")"

    def atom(self) -> str:
        choice = self.rng.randint(0, 5)
        if choice <= 1:
            return self.odd_or(ODD_NUMBERS, NUMBERS)
        if choice == 2:
            return self.odd_or(ODD_STRINGS, STRINGS)
        if choice == 3:
            return self.pick(("true", "false"))
        return self.name()

    def separated(self, element) -> str:
        return self.layout([element() for _ in range(self.rng.randint(0, 3))])

    def layout(self, parts: list[str]) -> str:
        """On one line, one per line with a trailing comma, or with comments between."""
        style = self.rng.randint(0, 3)
        if style <= 1 or not parts:
            return ", ".join(parts)
        if style == 2:
            return "\n" + "".join(f"  {part},\n" for part in parts)
        return "\n" + "".join(f"  {part},  # note {index}\n" for index, part in enumerate(parts))

    def entry(self, depth: int = 0, keys=()) -> str:
        key = self.pick(keys) if keys and self.chance(0.8) else self.name()
        return f"{key} = {self.expression(depth)}"

    def section(self, depth: int = 0) -> str:
        kind = self.pick(sorted(SECTIONS)) if self.chance(0.9) else self.name()
        definition, keys, components = SECTIONS.get(kind, (None, [], {}))
        head = kind
        if definition is not None and definition.named and self.chance(0.3):
            head += f" {self.pick(GRAPH_NAMES)}:"
        parameters = list(keys)
        if components and self.chance(0.9):
            component = self.pick(sorted(components))
            head += f" {component}"
            parameters += components[component]
        body = [self.entry(0, parameters) for _ in range(self.rng.randint(0, 4)) if self.spend()]
        if definition is not None and definition.children and depth < 2:
            for child in definition.children:
                if self.chance(0.4):
                    _, child_keys, _ = SECTIONS[child]
                    body.append(f"{child} {{ " + ", ".join(self.entry(0, child_keys) for _ in range(2)) + " }")
        if self.chance(0.3):
            return head + " { " + ", ".join(body) + " }"
        return head + " {\n" + "".join(f"  {line}\n" for line in body) + "}"

    def tensor_type(self) -> str:
        dims = ", ".join(self.pick(SHAPE_NAMES) for _ in range(self.rng.randint(0, 3)))
        return f"{self.pick(DTYPES)}[{dims}]"

    def parameter(self) -> str:
        if self.chance(0.6):
            return f"{self.pick(('x', 'c', 't', 'signal', 'mask'))}: {self.tensor_type()}"
        scalar = self.odd_or(("tensor", "f32", "model"), ("int", "float", "bool", "str", "list"))
        default = f" = {self.expression(3)}" if self.chance(0.7) else ""
        return f"{self.pick(('hidden', 'width', 'depth', 'n', 'scale'))}: {scalar}{default}"

    def statement(self, depth: int = 0, indent: str = "  ") -> str:
        choice = self.rng.randint(0, 9)
        if depth < 3 and choice == 0:
            return f"{indent}repeat {self.pick(('2', '3', 'n', '0', '-1', '10_001', 'depth'))} {{\n" + self.statements(depth + 1, indent + "  ") + f"{indent}}}\n"
        if depth < 3 and choice == 1:
            return f"{indent}for i in {self.pick(('[1, 2]', '[]', 'n', '[8, 16, 32]'))} {{\n" + self.statements(depth + 1, indent + "  ") + f"{indent}}}\n"
        if depth < 3 and choice == 2:
            orelse = f" else {{\n{self.statements(depth + 1, indent + '  ')}{indent}}}" if self.chance(0.5) else ""
            return f"{indent}if {self.expression(3)} {{\n" + self.statements(depth + 1, indent + "  ") + f"{indent}}}{orelse}\n"
        if choice == 3:
            return f"{indent}return {self.pick(GRAPH_NAMES)}\n"
        if choice == 4:
            return f"{indent}{self.pick(GRAPH_NAMES)} = {self.expression(2)}\n"
        call = self.pick(LAYER_CALLS).format(x=self.pick(("x", "h", "c", "h")), n=self.pick(SHAPE_NAMES))
        targets = "a, b" if call.startswith("split") else self.pick(("h", "h", "x", "y"))
        return f"{indent}{targets} = {call}\n"

    def statements(self, depth: int, indent: str) -> str:
        return "".join(self.statement(depth, indent) for _ in range(self.rng.randint(0, 4)) if self.spend())

    def graph(self) -> str:
        keyword = self.pick(("block", "model"))
        name = self.pick(("mlp", "net", "twice", "lm", "vector_field", "b", "linear", "PARAMETERS"))
        parameters = ", ".join(self.parameter() for _ in range(self.rng.randint(0, 3)))
        outputs = self.tensor_type() if self.chance(0.8) else f"({self.tensor_type()}, list)"
        body = self.statements(0, "  ") + f"  return {self.pick(('h', 'x', 'y'))}\n"
        return f"{keyword} {name}({parameters}) -> {outputs} {{\n{body}}}"

    def item(self) -> str:
        choice = self.rng.randint(0, 7)
        if choice <= 2:
            return self.section()
        if choice <= 4:
            return self.graph()
        if choice == 5:
            return f"let {self.name()} = {self.expression()}"
        if choice == 6:
            return f"model {self.name()} = {self.pick(('twice', 'mlp', 'causal_lm', 'b'))}({self.separated(lambda: self.entry(2))})"
        return f"# {self.pick(WORDS)} comment"

    def spec(self) -> str:
        lines = []
        if self.chance(0.85):
            lines.append(f"spec {self.pick(('fuzz', 'a', 'model', 'spec', 'x1'))}")
        if self.chance(0.3):
            lines.append(f"language {self.odd_or(('2', '0', '1.5', 'x', '99999999999999999999'), ('1',))}")
        lines += [f"import {self.pick(IMPORTS)}" for _ in range(self.rng.randint(0, 2))]
        while self.spend():
            lines.append(self.item())
            if self.chance(0.3):
                lines.append("")
        return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------- mutation


def tokens(text: str) -> list[str]:
    return TOKEN.findall(text)


ENTRY = re.compile(r"^(\s+)([A-Za-z_][A-Za-z0-9_]*)(\s*=\s*)(.*)$")


def items(text: str) -> list[str]:
    """``text`` cut before every line that starts a top-level construct (a word in column 1)."""
    cuts = [0] + [match.start() + 1 for match in re.finditer(r"\n(?=[A-Za-z_])", text)]
    return [text[start:end] for start, end in zip(cuts, cuts[1:] + [len(text)])]


def mutate(rng, text: str, seeds: list[str]) -> str:
    """``text`` changed one to eight times, at the level of tokens, lines or top-level items."""
    for _ in range(rng.randint(1, 4)):
        level = rng.randint(0, 9)
        if level <= 4:
            text = mutate_tokens(rng, text, seeds)
        elif level <= 7:
            text = mutate_lines(rng, text)
        else:
            text = mutate_items(rng, text, seeds)
    return text


def mutate_items(rng, text: str, seeds: list[str]) -> str:
    """Whole items deleted, duplicated, swapped, taken from another seed or written anew."""
    writer = Writer(rng, budget=20)
    parts = items(text) or [""]
    index = rng.randint(0, len(parts) - 1)
    choice = rng.randint(0, 4)
    if choice == 0:
        del parts[index]
    elif choice == 1:
        parts.insert(index, parts[index])
    elif choice == 2:
        other = rng.randint(0, len(parts) - 1)
        parts[index], parts[other] = parts[other], parts[index]
    elif choice == 3:
        parts.insert(index, writer.pick(items(writer.pick(seeds)) or [""]))
    else:
        parts.insert(index, writer.item() + "\n")
    return "".join(parts)


def mutate_lines(rng, text: str) -> str:
    """A line deleted or duplicated, or an entry given another key or a written value."""
    writer = Writer(rng, budget=10, wild=0.1)
    lines = text.split("\n")
    index = rng.randint(0, len(lines) - 1)
    entry = ENTRY.match(lines[index])
    choice = rng.randint(0, 5)
    if choice == 0:
        del lines[index]
    elif choice == 1:
        lines.insert(index, lines[index])
    elif entry and choice == 2:
        lines[index] = entry.group(1) + writer.pick(WORDS) + entry.group(3) + entry.group(4)
    elif entry:
        lines[index] = entry.group(1) + entry.group(2) + entry.group(3) + writer.expression(1)
    else:
        lines.insert(index, writer.statement(0) if writer.chance(0.5) else "  " + writer.entry(0, WORDS))
    return "\n".join(lines)


def mutate_values(rng, text: str) -> str:
    """A few numbers, booleans or enum words changed: the spec most likely still checks."""
    parts = tokens(text)
    places = [index for index, part in enumerate(parts) if part[:1].isdigit() or part in ("true", "false", "min", "max")]
    for _ in range(rng.randint(1, 3) if places else 0):
        index = places[rng.randint(0, len(places) - 1)]
        alternatives = ("true", "false") if parts[index] in ("true", "false") else NUMBERS + ("min", "max")
        parts[index] = alternatives[rng.randint(0, len(alternatives) - 1)]
    return "".join(parts)


def mutate_tokens(rng, text: str, seeds: list[str]) -> str:
    """Tokens deleted, duplicated, swapped, replaced, inserted; fragments spliced in."""
    writer = Writer(rng, budget=12, wild=0.3)
    parts = tokens(text) or [""]
    for _ in range(rng.randint(1, 4)):
        index = rng.randint(0, len(parts) - 1)
        choice = rng.randint(0, 10)
        if choice == 0:
            del parts[index]
        elif choice == 1:
            parts.insert(index, parts[index])
        elif choice == 2:
            other = rng.randint(0, len(parts) - 1)
            parts[index], parts[other] = parts[other], parts[index]
        elif choice == 3:
            parts[index] = writer.pick((*PUNCTUATION, *ODD_WORDS, *NUMBERS, *ODD_NUMBERS, *STRINGS, *ODD_STRINGS, *WORDS))
        elif choice == 4:
            parts.insert(index, " " + writer.pick((*PUNCTUATION, *ODD_WORDS, *NUMBERS, *WORDS)) + " ")
        elif choice == 5:
            fragment = writer.pick((writer.expression, writer.entry, writer.statement, writer.section, writer.graph))
            parts.insert(index, "\n" + fragment() + "\n")
        elif choice == 6:
            donor = tokens(writer.pick(seeds)) or [""]
            start = rng.randint(0, len(donor) - 1)
            parts[index:index] = donor[start : start + rng.randint(1, 60)]
        elif choice == 7:
            parts[index] = {"\n": " ", " ": "\n"}.get(parts[index], parts[index] + "\n")
        elif choice == 8:
            parts.insert(index, writer.pick(ODD_CHARACTERS))
        elif choice == 9 and parts[index][:1].isdigit():
            parts[index] = writer.odd_or(ODD_NUMBERS, NUMBERS)
        else:
            parts.insert(index, f"  # {writer.pick(WORDS)}\n")
        if not parts:
            parts = [""]
    return "".join(parts)


def encode(rng, text: str) -> bytes:
    """UTF-8, now and then damaged: invalid bytes, a BOM, CRLF line ends, a UTF-16 file."""
    data = text.encode("utf-8", "surrogatepass")
    choice = rng.randint(0, 24)
    if choice == 0 and data:
        position = rng.randint(0, len(data) - 1)
        data = data[:position] + bytes([rng.randint(0x80, 0xFF)]) + data[position:]
    elif choice == 1:
        data = b"\xef\xbb\xbf" + data
    elif choice == 2:
        data = data.replace(b"\n", b"\r\n")
    elif choice == 3:
        data = text.encode("utf-16", "surrogatepass")
    return data[:MAX_INPUT]


def make_case(rng, seeds: list[str], parent: str | None = None) -> Case:
    """One case: a mutation of ``parent`` (when given) or of a seed, or a spec written from
    the grammar."""
    choice = rng.randint(0, 9)
    seed = parent if parent is not None else seeds[rng.randint(0, len(seeds) - 1)]
    if choice <= 4:
        text = mutate(rng, seed, seeds)
    elif choice <= 6:
        text = mutate_values(rng, seed)
    else:
        text = Writer(rng, budget=rng.randint(5, 60), wild=(0.0, 0.02, 0.2)[rng.randint(0, 2)]).spec()
    overrides = ()
    if chance(rng, 0.1):
        overrides = tuple(
            f"{OVERRIDE_KEYS[rng.randint(0, len(OVERRIDE_KEYS) - 1)]}={OVERRIDE_VALUES[rng.randint(0, len(OVERRIDE_VALUES) - 1)]}"
            for _ in range(rng.randint(1, 2))
        )
    backend = (None, None, "jax", "lightning", "mlx")[rng.randint(0, 4)]
    output_format = ("text", "text", "json", "github", "sarif")[rng.randint(0, 4)]
    return Case(encode(rng, text), overrides, backend, output_format)
