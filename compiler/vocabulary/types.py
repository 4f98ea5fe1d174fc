"""The vocabulary of the registry: parameters, fields, contracts, components and sections.

The tables themselves are in ``components.py`` and ``objectives.py`` (components) and
``registry.py`` (sections), which declare each parameter with :data:`parameter`; see
``registry.py`` for the parameter type vocabulary and range syntax.
"""

from __future__ import annotations

from dataclasses import dataclass

class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED = _Required()


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    default: object = REQUIRED
    doc: str = ""
    range: str = ""
    choices: tuple[str, ...] = ()
    derived: str = ""  # where an unset default comes from: "optimizer.lr", "train.max_steps"

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


parameter = Param  # how the tables declare one: parameter("lr", "float", 1e-3, "learning rate", ">0")


def graph_component(kind: str, doc: str, block: str, example: str, **fields) -> "ComponentDef":
    """The ``graph`` component of ``kind``: a parameter-free block of the spec written in the
    graph language, ``graph("name", arguments = { ... })`` (``block``: what the block takes and
    returns; ``example``: its arguments; ``fields``: more ``ComponentDef`` fields, such as
    ``needs``; checked by ``specc.compiler.check.graph_losses``)."""
    return ComponentDef(
        kind,
        "graph",
        doc,
        (
            Param("name", "str", REQUIRED, f"the block: {block}"),
            Param("arguments", "arguments", (), f"the block's hyperparameters: {example}"),
        ),
        **fields,
    )


def python_component(kind: str, doc: str, extra: tuple[Param, ...] = ()) -> "ComponentDef":
    """The ``python`` component of ``kind``: the user's own code, ``python("file.py", "Name",
    arguments = { ... })`` (docs/language.md "Extending specc"; checked by
    ``specc.compiler.check.extensions`` without running it)."""
    return ComponentDef(
        kind,
        "python",
        doc,
        (
            Param("file", "str", REQUIRED, "the Python file, relative to the spec file"),
            Param("name", "str", REQUIRED, "the function or class the file defines"),
            Param("arguments", "arguments", (), "keyword arguments: { concentration = 0.5 }"),
        )
        + extra,
    )


@dataclass(frozen=True)
class FieldDecl:
    """A per-example field of a data source. ``dims`` are ints or parameter expressions
    (``"2*k"``, ``"signal_length"``) evaluated against the source's resolved parameters; a
    trailing ``?`` (``"channels?"``) drops the axis when it is 1."""

    name: str
    dtype: str
    dims: tuple[object, ...]
    doc: str = ""


@dataclass(frozen=True)
class Contract:
    """What an objective needs from its models and data.

    ``models``: keys naming the models it trains. ``supplies``: model inputs the
    objective feeds itself, with their role (``sample``: shaped like the target; ``time``:
    [B]). ``h``: "none" (never fed), "optional" (fed zeros when declared) or "required".
    ``output``: ``like_target``, ``logits`` ([B, C]) or ``sequence_logits`` ([B, T, V]).
    ``target_dtype``: ``float`` or ``int``. ``optimizers``: names of the optimizers it needs.
    ``losses``, ``single_loss``, ``once``: what its ``loss`` may be (the terms the generated
    scripts render for this objective).
    """

    models: tuple[str, ...] = ("model",)
    supplies: tuple[tuple[str, str], ...] = ()
    h: str = "none"
    output: str = "like_target"
    target_dtype: str = "float"
    optimizers: tuple[str, ...] = ()
    sampler: bool = False  # evaluates by sampling (generative)
    # the loss kinds its ``loss`` terms may name (E0714); ``single_loss``: exactly one term,
    # unweighted (E0715); ``once``: kinds that may appear once (E0715)
    losses: tuple[str, ...] = ()
    single_loss: bool = False
    once: tuple[str, ...] = ()


@dataclass(frozen=True)
class ComponentDef:
    kind: str
    name: str
    doc: str
    params: tuple[Param, ...] = ()
    fields: tuple[FieldDecl, ...] = ()
    contract: Contract | None = None
    # metric: objective families it applies to ("sampler": any generative objective), and
    # "signals": a data source that ``provides`` signals rendered from samples
    needs: tuple[str, ...] = ()
    classes: object = None  # data source: number of classes of its label (an int or a parameter name)
    provides: tuple[str, ...] = ()  # data source: what it can do besides its fields ("signals")
    # Which backends implement a component is the backend tables' fact (``capabilities`` of
    # specc.compiler.backends.<name>), never stated here: see ``registry.backends_of``.

    def param(self, name: str) -> Param | None:
        for parameter in self.params:
            if parameter.name == name:
                return parameter
        return None


@dataclass(frozen=True)
class SectionDef:
    """A top-level (or nested) section: ``data ksin { .. }``, ``train { .. }``."""

    kind: str
    doc: str
    component_kind: str | None = None  # the registry kind named after the keyword
    keys: tuple[Param, ...] = ()
    children: tuple[str, ...] = ()
    named: bool = False  # ``optimizer generator: adam { .. }``
    required: bool = False
    parent: str | None = None
    reserved: bool = False


@dataclass(frozen=True)
class Range:
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    exclusive_maximum: bool = False
    text: str = ""

    def contains(self, value: float) -> bool:
        if self.minimum is not None:
            if value < self.minimum or (self.exclusive_minimum and value == self.minimum):
                return False
        if self.maximum is not None:
            if value > self.maximum or (self.exclusive_maximum and value == self.maximum):
                return False
        return True


def parse_range(text: str) -> Range:
    """``">0"``, ``">=1"``, ``"<1"``, ``"[0,1)"`` -> Range."""
    text = text.replace(" ", "")
    if not text:
        return Range()
    for prefix, exclusive in ((">=", False), (">", True)):
        if text.startswith(prefix):
            return Range(float(text[len(prefix) :]), None, exclusive, False, text)
    for prefix, exclusive in (("<=", False), ("<", True)):
        if text.startswith(prefix):
            return Range(None, float(text[len(prefix) :]), False, exclusive, text)
    low, high = text[1:-1].split(",")
    return Range(float(low), float(high), text[0] == "(", text[-1] == ")", text)


def field_dims(field_decl: FieldDecl, arguments: dict) -> tuple[int, ...] | None:
    """Concrete dims of a data field from the source's arguments (``"2*k"`` -> 8, sums of
    products: ``"block_size+1"``); None when an
    argument is missing or not an integer."""
    dims = []
    for dim in field_decl.dims:
        if isinstance(dim, int):
            dims.append(dim)
            continue
        value, optional = 0, str(dim).endswith("?")  # "channels?": no axis when channels = 1
        for term in str(dim).rstrip("?").split("+"):  # a sum of products: "block_size+1"
            product = 1
            for factor in term.split("*"):
                factor = factor.strip()
                number = int(factor) if factor.isdigit() else arguments.get(factor)
                if not isinstance(number, int) or isinstance(number, bool):
                    return None
                product *= number
            value += product
        if not (optional and value == 1):
            dims.append(value)
    return tuple(dims)
