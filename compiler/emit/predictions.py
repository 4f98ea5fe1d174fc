"""Predict mode in a generated script (``data { predict = "predict.npz" }``): the call of
``specc_data.write_predictions`` that ``--predict`` makes after loading the checkpoint
(runtime/data/predict.py), and the default file of the flag.

The call names what the runtime cannot know: the declared fields it reads (the model's
inputs bound to data fields) and the target's (zeros in the batches; a flow's noise is
drawn like it), the evaluation batch size, the deterministic transforms, and the backend's
``predict(batch)`` (given by each backend: the objective's sampler, ``test_sampler`` when
set, for a flow; the model's forward pass otherwise) with how it moves numpy arrays to the
device and back.
"""

from __future__ import annotations

from specc.compiler.emit.configuration import plain
from specc.compiler.emit.filters import literal

FLOWS = frozenset({"flow_matching", "mean_flow", "improved_mean_flow"})


def predict_file(program) -> str | None:
    """The spec's ``data.predict`` (absolute, as lowering resolved it), or None."""
    value = (plain(program.data.source.arguments) or {}).get("predict")
    return value if isinstance(value, str) else None


def parse_keyword(program) -> str:
    """``, predict="/abs/predict.npz"``: what ``parse_arguments`` needs for ``--predict``."""
    path = predict_file(program)
    return f", predict={literal(path)}" if path is not None else ""


def input_fields(program) -> list[str]:
    """The data fields the objective's models read, the target excepted."""
    found = []
    for _, source in program.objective.inputs:
        name = source.split(".", 1)[1] if source.startswith("data.") else None
        if name is not None and name != program.objective.target and name not in found:
            found.append(name)
    return found


def predict_call(program, output: str, to_device: str, to_host: str) -> str | None:
    """``specc_data.write_predictions(...)`` with ``predict`` = ``lambda batch: <output>``, or
    None without ``data.predict``."""
    if predict_file(program) is None:
        return None
    target = program.objective.target
    names = [*input_fields(program), target]
    fields = {item.name: (item.type.dtype, tuple(item.type.shape)) for item in program.data.fields if item.name in names}
    batch_size = program.evaluation.batch_size or program.data.batch_size
    transforms = (plain(program.data.source.arguments) or {}).get("transforms") or []
    keywords = [f"noise={literal(program.objective.kind in FLOWS)}"]
    if transforms:
        keywords.append(f"transforms={literal(list(transforms))}")
    keywords += [f"to_device={to_device}", f"to_host={to_host}"]
    return (
        f"specc_data.write_predictions(start.run_dir, arguments.predict, {literal(fields)}, "
        f"{literal(input_fields(program))}, {literal(target)}, {literal(batch_size)}, run_seed, "
        f"lambda batch: {output}, {', '.join(keywords)})"
    )


def is_flow(program) -> bool:
    return program.objective.kind in FLOWS


# per backend: a flow's samples (``{split}``: how the script's ``sample`` picks the test
# sampler), a model's output (``{arguments}``: the model call's), numpy to device, and back
BACKEND_CODE = {
    "jax": ("sample(model, batch{split})", "model({arguments})", "jnp.asarray", "np.asarray"),
    "lightning": (
        "torch.no_grad()(objective.sample)(model, batch{split})",
        "torch.no_grad()(model)({arguments})",
        "torch.from_numpy",
        "lambda tensor: tensor.detach().float().cpu().numpy()",
    ),
    "mlx": ("sample(model, batch{split})", "model({arguments})", "mx.array", "np.array"),
}


def predict_view(program, backend: str, model_arguments, split: str = "") -> dict | None:
    """``{"call", "parse"}`` of ``--predict`` on ``backend`` (the ``write_predictions`` call
    and the keyword of ``parse_arguments``), or None without ``data.predict``. ``split``: the
    arguments after ``batch`` that make ``sample`` use the test sampler, when there is one."""
    flow, output, to_device, to_host = BACKEND_CODE[backend]
    code = flow.format(split=split) if is_flow(program) else output.format(arguments=", ".join(model_arguments))
    call = predict_call(program, code, to_device, to_host)
    return None if call is None else {"call": call, "parse": parse_keyword(program)}
