"""``specc graph`` and ``specc plot``: pictures of a model and of runs.

``run_graph`` draws the model graph of a spec (:mod:`specc.compiler.analysis.graph`) with
Graphviz (the ``graphviz`` package and its ``dot`` program); without ``dot`` it draws the
same nodes and edges in rows with matplotlib and says so; ``--format dot`` and ``--format
mermaid`` write the graph as text instead. ``run_plot`` draws the training and validation
curves of one or several runs' ``metrics.csv`` with matplotlib (Agg backend), runs overlaid,
one panel per metric.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

IMAGE_FORMATS = ("svg", "png", "pdf")
TEXT_FORMATS = ("dot", "mermaid")
SUFFIX_FORMATS = {".svg": "svg", ".png": "png", ".pdf": "pdf", ".dot": "dot", ".gv": "dot", ".mmd": "mermaid",
                  ".mermaid": "mermaid"}
NODE_COLOURS = {"input": "#e8f0fe", "output": "#e8f0fe", "op": "#ffffff", "layer": "#fff4e0", "block": "#e6f4ea",
                "repeat": "#e6f4ea"}
MAX_LABELLED_INPUTS = 3  # the matplotlib drawing labels the edges into a node with at most this many
SPLIT_STYLES = {"train": ("-", None), "val": ("--", "o"), "test": (":", "s")}


def _say(text: str) -> None:
    sys.stderr.write(text + "\n")


def output_format(output: str | None, given: str | None) -> str | None:
    """The format asked for: ``--format``, else the output's suffix (None: an unknown one),
    else DOT text."""
    if given is not None:
        return given
    if output is None:
        return "dot"
    return SUFFIX_FORMATS.get(Path(output).suffix.lower())


def _write(output: str | None, data: bytes | str) -> bool:
    if output is None:
        sys.stdout.write(data if isinstance(data, str) else data.decode())
        return True
    try:
        if isinstance(data, str):
            Path(output).write_text(data, encoding="utf-8")
        else:
            Path(output).write_bytes(data)
    except OSError as error:
        _say(f"error: cannot write {output}: {error.strerror or error}")
        return False
    return True


def render_with_graphviz(dot_text: str, image_format: str) -> bytes | None:
    """The image Graphviz's ``dot`` draws, or None when the package or the program is missing."""
    try:
        import graphviz
    except ImportError:
        return None
    try:
        return graphviz.Source(dot_text).pipe(format=image_format)
    except graphviz.ExecutableNotFound:
        return None


def draw_without_graphviz(items, output: str, image_format: str) -> None:
    """The pictures drawn in rows (longest path from an input) with matplotlib."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from specc.compiler.analysis.graph import layered_layout

    layouts = [layered_layout(picture) for picture in items]
    widths = [max(2, max(column for column, _ in layout.values()) + 1) for layout in layouts]
    rows = max(max(row for _, row in layout.values()) + 1 for layout in layouts)
    figure = plt.figure(figsize=(2.6 * sum(widths) + 0.4, 0.95 * rows + 0.9))
    axes = figure.add_axes((0, 0, 1, 1))
    axes.axis("off")
    axes.set_xlim(0, sum(widths))
    axes.set_ylim(rows - 0.4, -1.0)
    offset = 0
    for picture, layout, width in zip(items, layouts, widths):
        counts = {}
        for _, row in layout.values():
            counts[row] = counts.get(row, 0) + 1
        centres = {name: (offset + column + 0.5 + (width - counts[row]) / 2, row) for name, (column, row) in layout.items()}
        incoming = Counter(edge.target for edge in picture.edges)
        for edge in picture.edges:
            (x0, y0), (x1, y1) = centres[edge.source], centres[edge.target]
            axes.annotate("", xy=(x1, y1), xytext=(x0, y0),
                          arrowprops={"arrowstyle": "->", "color": "#555555", "shrinkA": 16, "shrinkB": 16})
            if incoming[edge.target] <= MAX_LABELLED_INPUTS:  # more would overlap
                axes.text((x0 + x1) / 2 + 0.04, (y0 + y1) / 2, edge.label, fontsize=7, color="#444444", va="center")
        for node in picture.nodes:
            x, y = centres[node.identifier]
            axes.text(x, y, "\n".join(node.lines), ha="center", va="center", fontsize=8,
                      bbox={"boxstyle": "round,pad=0.4", "facecolor": NODE_COLOURS[node.kind], "edgecolor": "#666666"})
        title = f"model {picture.name}: {picture.parameters:,} parameters"
        axes.text(offset + width / 2, -0.75, title, ha="center", va="center", fontsize=10, weight="bold")
        offset += width
    figure.savefig(output, format=image_format)
    plt.close(figure)


def run_graph(program, model: str | None, output: str | None, given_format: str | None) -> int:
    """Write the model graph of ``program``; the exit code."""
    from specc.compiler.analysis.graph import pictures, to_dot, to_mermaid

    names = [graph.name for graph in program.models]
    if model is not None and model not in names:
        _say(f"error: the spec has no model `{model}` (its models: {', '.join(names)})")
        return 2
    chosen = output_format(output, given_format)
    if chosen is None:
        _say(f"error: cannot tell the format of {output} from its name: name a .svg, .png, .pdf, .dot or .mmd file, "
             "or give --format")
        return 2
    if chosen not in IMAGE_FORMATS + TEXT_FORMATS:
        _say(f"error: unknown format `{chosen}` (choose one of {', '.join(IMAGE_FORMATS + TEXT_FORMATS)})")
        return 2
    items = pictures(program, model)
    if chosen in TEXT_FORMATS or output is None:
        text = to_mermaid(items) if chosen == "mermaid" else to_dot(items)
        return 0 if _write(output, text) else 1
    image = render_with_graphviz(to_dot(items), chosen)
    if image is not None:
        if not _write(output, image):
            return 1
        _say(f"wrote {output}")
        return 0
    try:
        draw_without_graphviz(items, output, chosen)
    except ImportError:
        _say("error: drawing the graph needs Graphviz or matplotlib: pip install 'specc[pictures]' "
             "(or write text: --format dot, --format mermaid)")
        return 1
    except OSError as error:
        _say(f"error: cannot write {output}: {error.strerror or error}")
        return 1
    _say(f"wrote {output} with matplotlib's simple layout: Graphviz's `dot` program was not found "
         "(install Graphviz for its layout, or write text with --format dot or --format mermaid)")
    return 0


# ----------------------------------------------------------------------------- curves


def _metrics_path(run: str) -> Path:
    path = Path(run)
    return path if path.is_file() else path / "metrics.csv"


def read_runs(runs: list[str]) -> dict[str, dict] | None:
    """Run label -> its series; None after printing why a run cannot be read."""
    from specc.compiler.analysis.curves import MetricsError, read_series

    labels = [Path(run).resolve().name if Path(run).is_dir() else Path(run).resolve().parent.name for run in runs]
    if len(set(labels)) < len(labels):
        labels = list(runs)
    found = {}
    for label, run in zip(labels, runs):
        path = _metrics_path(run)
        try:
            found[label] = read_series(path.read_text(encoding="utf-8"), str(path))
        except (OSError, UnicodeDecodeError) as error:
            _say(f"error: cannot read {path}: {getattr(error, 'strerror', None) or error}")
            return None
        except MetricsError as error:
            _say(f"error: {error}")
            return None
    return found


def chosen_metrics(runs: dict[str, dict], given: list[str]) -> list[str] | None:
    from specc.compiler.analysis.curves import default_metrics

    logged = sorted({name for series in runs.values() for _, name in series})
    if not given:
        names = sorted({name for series in runs.values() for name in default_metrics(series)},
                       key=lambda name: (name != "loss", name))
        return names or logged
    unknown = [name for name in given if name not in logged]
    if unknown:
        _say(f"error: no run logged {', '.join(unknown)} (logged: {', '.join(logged)})")
        return None
    return list(given)


def draw_curves(runs: dict[str, dict], names: list[str], output: str, image_format: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from specc.compiler.analysis.curves import finite

    columns = 1 if len(names) == 1 else 2
    panel_rows = (len(names) + columns - 1) // columns
    figure, grid = plt.subplots(panel_rows, columns, figsize=(6.0 * columns, 3.6 * panel_rows), squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for axes, name in zip(grid.flat, names):
        for index, (label, series) in enumerate(runs.items()):
            for (split, metric), values in series.items():
                if metric != name:
                    continue
                steps, points = finite(values)
                style, marker = SPLIT_STYLES.get(split, ("-.", "^"))
                axes.plot(steps, points, linestyle=style, marker=marker, markersize=3,
                          color=colours[index % len(colours)], label=f"{label} {split}")
        axes.set_title(name)
        axes.set_xlabel("step")
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8)
    for axes in list(grid.flat)[len(names):]:
        axes.axis("off")
    figure.tight_layout()
    figure.savefig(output, format=image_format)
    plt.close(figure)


def run_plot(runs: list[str], output: str, metrics: list[str]) -> int:
    """Draw the curves of ``runs`` into ``output``; the exit code."""
    image_format = Path(output).suffix.lower().lstrip(".") or "png"
    if image_format not in IMAGE_FORMATS:
        _say(f"error: cannot draw {output}: name a .png, .svg or .pdf file")
        return 2
    found = read_runs(runs)
    if found is None:
        return 1
    names = chosen_metrics(found, metrics)
    if names is None:
        return 2
    if not names:
        _say("error: the runs logged no metrics yet")
        return 1
    try:
        draw_curves(found, names, output, image_format)
    except ImportError:
        _say("error: plotting needs matplotlib: pip install 'specc[pictures]'")
        return 1
    except OSError as error:
        _say(f"error: cannot write {output}: {error.strerror or error}")
        return 1
    _say(f"wrote {output}: {', '.join(names)} of {len(found)} run{'s' if len(found) > 1 else ''}")
    return 0
