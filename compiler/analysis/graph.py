"""A model's graph as a picture: nodes with parameter counts, edges with inferred shapes.

``model_picture(program, graph)`` lists the nodes of the model's own body (its inputs, one
node per statement: a layer, a block instance, a repeat or a parameter-free op, and its
outputs) and the edges between them, each labelled with the shape of the value it carries.
``to_dot`` and ``to_mermaid`` write one or several pictures as Graphviz DOT or Mermaid
flowchart text; ``layered_layout`` places the nodes in rows (longest path from an input)
for drawing without Graphviz.
"""

from __future__ import annotations

from dataclasses import dataclass

from specc.compiler import ir
from specc.compiler.analysis.summary import ModelWalker, bind_dimensions, repeated_block, shape_text


@dataclass(frozen=True)
class Node:
    identifier: str
    lines: tuple[str, ...]
    kind: str  # input | layer | block | repeat | op | output


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    label: str


@dataclass(frozen=True)
class ModelPicture:
    name: str
    parameters: int
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]


def _count(parameters: int) -> str:
    return f"{parameters:,} parameter" + ("" if parameters == 1 else "s")


def _statement_node(identifier: str, statement: ir.Statement, submodules: dict, walker: ModelWalker) -> Node:
    if statement.call == "op":
        return Node(identifier, (statement.function,), "op")
    if statement.call == "extern":  # the user's function: no parameters
        return Node(identifier, (f"extern {statement.function}",), "op")
    submodule = submodules[statement.attribute]
    count = walker.submodule_parameters(submodule)
    parameters = (_count(count),) if count else ()
    if isinstance(submodule, ir.Layer):
        return Node(identifier, (statement.attribute, submodule.kind, *parameters), "layer")
    if isinstance(submodule, ir.ModuleList):
        body = repeated_block(walker.modules[submodule.module])
        return Node(identifier, (statement.attribute, f"{submodule.count} x {body}", *parameters), "repeat")
    return Node(identifier, (statement.attribute, submodule.module, *parameters), "block")


def model_picture(program: ir.Program, graph: ir.ModelGraph, prefix: str = "n") -> ModelPicture:
    """The nodes and edges of ``graph``'s root module; node identifiers start with ``prefix``."""
    dimensions, _ = bind_dimensions(program, graph)
    walker = ModelWalker(graph, dimensions, program.train.precision)
    root = walker.modules[graph.root]
    submodules = {item.attribute: item for item in root.submodules}
    nodes, edges = [], []
    producers: dict[str, str] = {}
    types: dict[str, ir.TensorType] = {}
    for name, tensor_type in root.inputs:
        identifier = f"{prefix}{len(nodes)}"
        nodes.append(Node(identifier, (name, f"{tensor_type.dtype}{shape_text(tensor_type)}"), "input"))
        producers[name], types[name] = identifier, tensor_type
    for statement in root.body:
        identifier = f"{prefix}{len(nodes)}"
        nodes.append(_statement_node(identifier, statement, submodules, walker))
        for operand in statement.inputs:
            if operand.ref in producers:
                edges.append(Edge(producers[operand.ref], identifier, shape_text(types[operand.ref])))
        for target, tensor_type in zip(statement.targets, statement.types):
            producers[target], types[target] = identifier, tensor_type
    identifier = f"{prefix}{len(nodes)}"
    nodes.append(Node(identifier, ("output",), "output"))
    for name, tensor_type in root.outputs:
        if name in producers:
            edges.append(Edge(producers[name], identifier, shape_text(tensor_type)))
    parameters = walker.module_parameters(graph.root)
    return ModelPicture(graph.name, parameters, tuple(nodes), tuple(edges))


def pictures(program: ir.Program, model: str | None = None) -> list[ModelPicture]:
    """The pictures of every model of ``program`` (or of the one named ``model``)."""
    graphs = [graph for graph in program.models if model is None or graph.name == model]
    return [model_picture(program, graph, f"m{index}_n") for index, graph in enumerate(graphs)]


# ----------------------------------------------------------------------------- DOT

DOT_SHAPES = {"input": "ellipse", "output": "ellipse", "op": "box", "layer": "box", "block": "box", "repeat": "box3d"}
DOT_STYLES = {
    "input": 'style=filled, fillcolor="#e8f0fe"',
    "output": 'style=filled, fillcolor="#e8f0fe"',
    "op": 'style="rounded", fontsize=9, color="#888888"',
    "layer": 'style="rounded,filled", fillcolor="#fff4e0"',
    "block": 'style="rounded,filled", fillcolor="#e6f4ea"',
    "repeat": 'style="filled", fillcolor="#e6f4ea"',
}


def dot_string(text: str) -> str:
    """A DOT quoted string (backslashes and quotes escaped)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(items: list[ModelPicture]) -> str:
    """Graphviz DOT text: one cluster per model, top to bottom."""
    lines = [
        "digraph models {",
        "  rankdir=TB;",
        '  graph [fontname="Helvetica", fontsize=12];',
        '  node [fontname="Helvetica", fontsize=11];',
        '  edge [fontname="Helvetica", fontsize=9, color="#555555"];',
    ]
    for index, picture in enumerate(items):
        lines.append(f"  subgraph cluster_{index} {{")
        lines.append(f"    label={dot_string(f'model {picture.name}: {_count(picture.parameters)}')};")
        for node in picture.nodes:
            label = dot_string("\n".join(node.lines))
            lines.append(f"    {node.identifier} [label={label}, shape={DOT_SHAPES[node.kind]}, {DOT_STYLES[node.kind]}];")
        for edge in picture.edges:
            lines.append(f"    {edge.source} -> {edge.target} [label={dot_string(' ' + edge.label)}];")
        lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- Mermaid

MERMAID_SHAPES = {"input": ('(["', '"])'), "output": ('(["', '"])'), "op": ('("', '")'),
                  "layer": ('["', '"]'), "block": ('[["', '"]]'), "repeat": ('[["', '"]]')}


def mermaid_text(text: str) -> str:
    """Text inside a quoted Mermaid label (quotes and angle brackets as entities)."""
    return text.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")


def to_mermaid(items: list[ModelPicture]) -> str:
    """Mermaid flowchart text: one subgraph per model, top to bottom."""
    lines = ["flowchart TD"]
    for index, picture in enumerate(items):
        title = mermaid_text(f"model {picture.name}: {_count(picture.parameters)}")
        lines.append(f'  subgraph model_{index}["{title}"]')
        for node in picture.nodes:
            opening, closing = MERMAID_SHAPES[node.kind]
            label = "<br/>".join(mermaid_text(line) for line in node.lines)
            lines.append(f"    {node.identifier}{opening}{label}{closing}")
        for edge in picture.edges:
            lines.append(f'    {edge.source} -->|"{mermaid_text(edge.label)}"| {edge.target}')
        lines.append("  end")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- layout


def layered_layout(picture: ModelPicture) -> dict[str, tuple[int, int]]:
    """Node -> (column, row): row = longest path from an input (nodes are listed in
    evaluation order, so every edge points to a later node); columns in order of appearance."""
    rows: dict[str, int] = {node.identifier: 0 for node in picture.nodes}
    for edge in picture.edges:  # edges are listed by their target's position
        rows[edge.target] = max(rows[edge.target], rows[edge.source] + 1)
    columns: dict[int, int] = {}
    placed = {}
    for node in picture.nodes:
        row = rows[node.identifier]
        placed[node.identifier] = (columns.get(row, 0), row)
        columns[row] = columns.get(row, 0) + 1
    return placed
