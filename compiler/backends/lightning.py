"""The PyTorch Lightning backend: torch ``nn.Module`` models inside a ``LightningModule``,
a ``LightningDataModule`` over the numpy loaders, and Lightning's ``Trainer`` with its own
ModelCheckpoint, EarlyStopping and LearningRateMonitor plus specc's Logger and CheckpointIO."""

from __future__ import annotations

from specc.compiler.backends import Backend
from specc.compiler.emit import plain

# Arguments a schedule takes from elsewhere when the spec leaves them out: ``"lr"`` is the
# optimizer's learning rate, ``"total"`` the run's total number of steps.
SCHEDULE_DEFAULTS = {
    "constant": {"lr": "lr"},
    "warmup_cosine": {"peak": "lr", "total": "total"},
    "warmup_linear": {"peak": "lr", "total": "total"},
    "step": {"initial": "lr"},
    "exponential": {"initial": "lr"},
}
# Evaluation metrics computed on samples of a flow: the quantity each compares.
SAMPLE_METRICS = frozenset({"log_spectral_distance", "chamfer", "linear_assignment", "mse", "mae"})


def script_context(program) -> dict:
    """Template fields shared by the Lightning and MLX scripts (decisions made here)."""
    plan = program.optimizers[0]
    schedule_kind = plan.schedule.kind if plan.schedule else "constant"
    given = plain(plan.schedule.arguments) or {} if plan.schedule else {}
    defaults = {name: source for name, source in SCHEDULE_DEFAULTS.get(schedule_kind, {}).items() if name not in given}
    fields = {item.name: tuple(item.type.shape) for item in program.data.fields}
    objective = program.objective
    conditions = [
        {"input": name, "field": source.partition(".")[2], "shape": fields.get(source.partition(".")[2], ())}
        for name, source in objective.inputs
        if source.startswith("data.") and source.partition(".")[2] != objective.target
    ]
    metrics = [{"kind": metric.kind, "arguments": plain(metric.arguments) or {}} for metric in program.evaluation.metrics]
    source = program.data.source
    return {
        "script": {
            "schedule_defaults": defaults,
            "resolved_source": program.resolved_source,
            "fields": {item.name: (item.type.dtype, tuple(item.type.shape)) for item in program.data.fields},
            "conditions": conditions,
            "metrics": metrics,
            "renders_signal": source.kind == "ksin",
            "eval_batch_size": program.evaluation.batch_size or program.data.batch_size,
            "loggers": sorted({component.kind for component in program.train.loggers} | {"csv"}),
        }
    }


BACKEND = Backend(
    name="lightning",
    template="lightning/train.py.j2",
    imports=(
        "import lightning.pytorch as pl",
        "import numpy as np",
        "import torch",
        "from torch import nn",
    ),
    layers_module="specc.runtime.torch.layers",
    module_base="nn.Module",
    forward_name="forward",
    module_list="nn.ModuleList",
    call_super_init=True,
    capabilities={
        "precision": frozenset({"fp32", "bf16", "fp16"}),
        "objective": frozenset({"classification", "regression", "flow_matching"}),
        "optimizer": frozenset({"adam", "adamw", "sgd", "lion"}),
        "schedule": frozenset({"constant", "warmup_cosine", "warmup_linear", "step", "exponential"}),
        "sampler": frozenset({"euler", "heun", "rk4"}),
        "logger": frozenset({"csv", "tensorboard"}),
    },
    context=script_context,
)
