"""The typer application of ``specc`` (every command, with its ``--help``).

Run by ``specc.compiler.cli.main.main()`` for every command line; ``lint`` and ``fmt`` call
``run_lint`` and ``run_fmt`` of ``main.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer
from typer.core import TyperCommand

from specc.compiler.cli.main import (
    BACKENDS,
    LINT_BACKEND_HELP,
    SET_HELP,
    file_access,
    read,
    run_fmt,
    run_lint,
    unknown_backend,
    write,
)



class PlainUsage(TyperCommand):
    """A command whose usage line reads ``specc compile [OPTIONS] SPEC``, as click writes it
    (typer 0.29 writes a required argument as ``{SPEC}``)."""

    def collect_usage_pieces(self, ctx) -> list[str]:
        return [piece.replace("{", "").replace("}", "") for piece in super().collect_usage_pieces(ctx)]


app = typer.Typer(
    add_completion=True,
    no_args_is_help=True,
    rich_markup_mode=None,
    help="specc: compile declarative training specs (.mf) into standalone training scripts.",
)


def _backends(incomplete: str) -> list[str]:
    """Shell completion of ``--backend``."""
    return [name for name in BACKENDS if name.startswith(incomplete)]


def _print_diagnostics(result, stream=None) -> None:
    from specc.dsl.diagnostics import render_all

    text = render_all(result.diagnostics, result.sources)
    if text:
        write(stream or sys.stderr, text)


def _check(spec: str, overrides, backend=None):
    from specc.compiler.pipeline import check

    return check(spec, read, tuple(overrides or ()), backend, **file_access())


@app.command(cls=PlainUsage)
def compile(
    spec: str = typer.Argument(..., metavar="SPEC", help="The spec file."),
    backend: str = typer.Option(..., "--backend", "-b", help=", ".join(BACKENDS) + ".", autocompletion=_backends),
    output: Optional[str] = typer.Option(None, "--output", "-o", help="Write the script here (default: stdout)."),
    set_: List[str] = typer.Option([], "--set", help=SET_HELP),
    check_only: bool = typer.Option(False, "--check", help="With -o: exit 1 when FILE differs from the output."),
) -> None:
    """Compile SPEC into a training script.

    Example: specc compile specs/ksin_flow.mf --backend jax -o train_ksin.py
    """
    if backend not in BACKENDS:
        typer.echo(unknown_backend(backend), err=True)
        raise typer.Exit(2)
    if check_only and output is None:
        typer.echo("error: --check needs -o FILE (the file to compare against)", err=True)
        raise typer.Exit(2)
    result = _check(spec, set_, backend)
    _print_diagnostics(result)
    if result.program is None:
        raise typer.Exit(1)
    try:
        from specc.compiler.emit.render import EmitError, render
    except ImportError:
        typer.echo("rendering is not available yet: the spec is valid, but no script was written", err=True)
        raise typer.Exit(1)
    try:
        script = render(result.program, backend)
    except EmitError as error:  # the backend cannot render this program (its own message)
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1)
    if check_only:
        try:
            current = Path(output).read_text(encoding="utf-8") if Path(output).is_file() else None
        except (OSError, UnicodeDecodeError) as error:
            current = None
            typer.echo(f"error: cannot read {output}: {error}", err=True)
        if current != script:
            typer.echo(f"{output} is out of date: run `specc compile {spec} --backend {backend} -o {output}`", err=True)
            raise typer.Exit(1)
        typer.echo(f"{output} is up to date", err=True)
        return
    if output is None:
        sys.stdout.write(script)
    else:
        try:
            Path(output).write_text(script, encoding="utf-8")
        except OSError as error:
            typer.echo(f"error: cannot write {output}: {error.strerror or error}", err=True)
            raise typer.Exit(1)
        typer.echo(f"wrote {output}", err=True)


@app.command(cls=PlainUsage)
def lint(
    paths: List[str] = typer.Argument(..., metavar="PATHS", help="Spec files or folders (walked for *.mf)."),
    output_format: str = typer.Option("text", "--format", "-f", help="text, json, github or sarif."),
    strict: bool = typer.Option(False, "--strict", help="Warnings fail the run too."),
    set_: List[str] = typer.Option([], "--set", help=SET_HELP),
    backend: Optional[str] = typer.Option(None, "--backend", "-b", help=LINT_BACKEND_HELP, autocompletion=_backends),
) -> None:
    """Check specs and report every problem with its position. Exit 0 when clean, 1 on errors.

    Files without a `spec` line are libraries of blocks: they are parsed and their imports
    resolved; their blocks are checked where a spec uses them. With --backend NAME, lint runs
    exactly the checks `specc compile --backend NAME` runs; without it, what one backend
    refuses is a warning naming that backend (--strict fails on it).

    Example: specc lint specs/ --format github --backend mlx
    """
    raise typer.Exit(run_lint(paths, output_format, strict, set_, backend))


@app.command(cls=PlainUsage)
def fmt(
    paths: List[str] = typer.Argument(..., metavar="PATHS", help="Spec files or folders (walked for *.mf)."),
    check_only: bool = typer.Option(False, "--check", help="Only report files that would change (exit 1)."),
) -> None:
    """Format specs in the one canonical style (comments kept).

    Example: specc fmt specs/ --check
    """
    raise typer.Exit(run_fmt(paths, check_only))


@app.command(cls=PlainUsage)
def explain(
    spec: str = typer.Argument(..., metavar="SPEC", help="The spec file."),
    key: str = typer.Argument(..., metavar="KEY", help="A constant (k) or a dotted key (optimizer.lr, train.checkpoint.keep)."),
    set_: List[str] = typer.Option([], "--set", help=SET_HELP),
) -> None:
    """Show the resolved value of KEY and where it came from (file:line, import chain, --set or default).

    Example: specc explain specs/ksin_flow.mf optimizer.lr --set k=8
    """
    from specc.compiler.check.explain import explain as explain_key
    from specc.dsl.diagnostics import render_all

    result = _check(spec, set_)
    if result.resolution is None:
        _print_diagnostics(result)
        raise typer.Exit(1)
    text, diagnostics = explain_key(result.resolution, key)
    if text is None:
        write(sys.stderr, render_all(diagnostics, result.sources))
        raise typer.Exit(1)
    write(sys.stdout, text)


@app.command(cls=PlainUsage)
def lsp() -> None:
    """Run the language server on stdin/stdout, for editors (docs/editor.md).

    Example: specc lsp   (started by the VS Code extension in editors/vscode)
    """
    try:
        from specc.compiler.lsp.server import serve
    except ImportError as error:
        if (error.name or "").split(".")[0] not in ("pygls", "lsprotocol"):
            raise
        typer.echo("error: the language server needs pygls: pip install -e '.[editor]'", err=True)
        raise typer.Exit(1)
    serve(read)


@app.command(cls=PlainUsage)
def schema() -> None:
    """Print the JSON Schema of a spec (sections, components, parameters), from the registry.

    Example: specc schema > specc.schema.json
    """
    import json

    from specc.compiler.vocabulary.json_schema import json_schema

    document = json_schema()
    try:
        from specc.compiler.vocabulary import layers

        document["x-specc-layers"] = layers.describe()
    except ImportError:
        pass
    sys.stdout.write(json.dumps(document, indent=2, sort_keys=True, default=str) + "\n")


@app.command(cls=PlainUsage)
def ir(
    spec: str = typer.Argument(..., metavar="SPEC", help="The spec file."),
    set_: List[str] = typer.Option([], "--set", help=SET_HELP),
) -> None:
    """Print the IR of SPEC as canonical JSON (what the backends receive).

    Example: specc ir specs/digits_mlp.mf --set train.max_steps=10
    """
    from specc.compiler import ir as ir_module

    result = _check(spec, set_)
    _print_diagnostics(result)
    if result.program is None:
        raise typer.Exit(1)
    write(sys.stdout, ir_module.to_json(result.program))


@app.command(cls=PlainUsage)
def inspect(
    checkpoint: str = typer.Argument(..., metavar="CHECKPOINT", help="A checkpoint folder, its checkpoints/last link or a run directory."),
    as_json: bool = typer.Option(False, "--json", help="Print the description as JSON."),
) -> None:
    """Describe CHECKPOINT: its spec, step and writer, and per model the block called with its
    hyperparameters, input and output types, layers and parameter count (docs/checkpoints.md).

    Example: specc inspect runs/digits_mlp/checkpoints/last
    """
    import json

    from specc.describe import describe_checkpoint, format_description
    from specc.load import CheckpointError

    try:
        description = describe_checkpoint(checkpoint)
    except CheckpointError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1)
    sys.stdout.write(json.dumps(description, indent=2, sort_keys=True) + "\n" if as_json else format_description(description))


@app.command("import-checkpoint", cls=PlainUsage)
def import_checkpoint(
    plain: str = typer.Argument(..., metavar="PLAIN", help="A plain Lightning .ckpt (or a torch state dict file)."),
    spec: str = typer.Argument(..., metavar="SPEC", help="The spec of the same architecture."),
    out: str = typer.Option(..., "--out", "-o", help="The run directory to write the specc checkpoint into."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Which model of the spec, when it has several."),
    prefix: Optional[str] = typer.Option(None, "--prefix", help="Keys of the network in the file (default: the one attribute all share, model.)."),
    set_: list[str] = typer.Option([], "--set", help="Override a spec value (KEY=VALUE), as for compile."),
) -> None:
    """Turn the weights of a plain Lightning checkpoint of the same architecture into a specc
    checkpoint (OUT/checkpoints/step-N): matched by position and shape, read without running
    code stored in the file; load it with specc.load_model or start a run from it with
    train.warm_start (docs/checkpoints.md, "Importing a plain Lightning checkpoint").

    Example: specc import-checkpoint lightning_logs/version_0/checkpoints/last.ckpt specs/audio_vae_gan.mf --out runs/imported --model vae --prefix vae.
    """
    from specc.lightning_import import import_checkpoint as convert
    from specc.load import CheckpointError

    try:
        written = convert(plain, spec, out, model, prefix, tuple(set_))
    except CheckpointError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1)
    typer.echo(f"wrote {written}")


@app.command(cls=PlainUsage)
def sample(
    checkpoint: str = typer.Argument(..., metavar="CHECKPOINT", help="A checkpoint folder, its checkpoints/last link or a run directory."),
    prompt: str = typer.Option(..., "--prompt", "-p", help="Token ids to start from, comma-separated (0,17,4)."),
    tokens: int = typer.Option(100, "--tokens", "-n", help="How many tokens to add."),
    backend: str = typer.Option("jax", "--backend", "-b", help="jax, torch (lightning) or mlx.", autocompletion=_backends),
    temperature: float = typer.Option(1.0, "--temperature", "-t", help="Softmax temperature; 0 is greedy."),
    top_k: Optional[int] = typer.Option(None, "--top-k", "-k", help="Draw among the k most likely tokens only."),
    seed: int = typer.Option(0, "--seed", help="Seed of the draws (numpy): the same tokens on every backend."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Which model when the spec has several."),
) -> None:
    """Generate tokens from the language model of CHECKPOINT and print the prompt and the new
    tokens, space-separated (docs/language.md, "Sampling").

    Example: specc sample runs/lm --prompt 0,17,4 --tokens 200 --temperature 0.8 --top-k 20
    """
    from specc.sample import sample as draw

    try:
        ids = [int(part) for part in prompt.replace(" ", "").split(",") if part]
    except ValueError:
        typer.echo(f"error: --prompt takes comma-separated token ids, got {prompt!r}", err=True)
        raise typer.Exit(2)
    try:
        result = draw(checkpoint, ids, tokens, backend, temperature, top_k, seed, model)
    except ValueError as error:  # CheckpointError, an unknown backend
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1)
    sys.stdout.write(" ".join(str(token) for token in result) + "\n")


@app.command(cls=PlainUsage)
def graph(
    spec: str = typer.Argument(..., metavar="SPEC", help="The spec file."),
    output: Optional[str] = typer.Option(None, "--output", "-o", help="model.svg, .png, .pdf, .dot or .mmd (default: DOT text on stdout)."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Draw this model only (default: every model)."),
    output_format: Optional[str] = typer.Option(None, "--format", "-f", help="svg, png, pdf, dot or mermaid (default: from -o's suffix)."),
    set_: List[str] = typer.Option([], "--set", help=SET_HELP),
) -> None:
    """Draw the model graph of SPEC: inferred shapes on the edges, parameter counts per node.

    Images need Graphviz's `dot` program (without it the graph is drawn with matplotlib's
    simple layout); --format dot or mermaid writes text.

    Example: specc graph specs/digits_mlp.mf -o model.svg
    """
    from specc.compiler.cli.pictures import run_graph

    result = _check(spec, set_)
    _print_diagnostics(result)
    if result.program is None:
        raise typer.Exit(1)
    raise typer.Exit(run_graph(result.program, model, output, output_format))


@app.command(cls=PlainUsage)
def plot(
    runs: List[str] = typer.Argument(..., metavar="RUNS", help="Run directories (or their metrics.csv files)."),
    output: str = typer.Option("curves.png", "--output", "-o", help="The image: .png, .svg or .pdf."),
    metric: List[str] = typer.Option([], "--metric", help="Draw this metric (repeatable; default: the validated ones and loss)."),
) -> None:
    """Draw the training and validation curves of RUNS from their metrics.csv, runs overlaid.

    Example: specc plot runs/digits runs/digits_wide -o curves.png
    """
    from specc.compiler.cli.pictures import run_plot

    raise typer.Exit(run_plot(runs, output, metric))


@app.command(cls=PlainUsage)
def summary(
    spec: str = typer.Argument(..., metavar="SPEC", help="The spec file."),
    memory: Optional[str] = typer.Option(None, "--memory", help="Also print the largest batch that fits this memory (80GB, 24GiB)."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Show this model's layer table only."),
    depth: int = typer.Option(1, "--depth", help="Levels of nested blocks shown in the layer tables."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    set_: List[str] = typer.Option([], "--set", help=SET_HELP),
) -> None:
    """Show what SPEC costs before training: per-layer output shapes and parameter counts,
    FLOPs per training step, activation, parameter and optimizer-state memory.

    Example: specc summary specs/astro_lm.mf --memory 80GB
    """
    from specc.compiler.cli.cost import run_summary

    result = _check(spec, set_)
    _print_diagnostics(result)
    if result.program is None:
        raise typer.Exit(1)
    raise typer.Exit(run_summary(result.program, memory, model, depth, as_json))
