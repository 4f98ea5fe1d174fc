"""Training helpers for generated PyTorch Lightning scripts (``torch_training.X`` in a script).

Defined here:

- ``Lion``: torch has none (the scripts build every other optimizer with ``torch.optim``);
  ``matrix_decay_groups``: nanoGPT's two parameter groups (``weight_decay_on = matrices``);
- ``lightning_precision``: the spec's precision as a Trainer ``precision``; ``accelerator_for``:
  ``--device`` as a Lightning accelerator (default: a CUDA GPU when torch finds one);
- ``prepare_process``: torch's thread count from the cores this process may use
  (``threads``), glibc's malloc keeping freed memory (``allocator``), TF32 on GPUs that
  have it (``use_tf32``) and no framework output a user
  cannot act on (``quiet``);
- ``RunningSums``: on-device sums of per-step values for the means of each log row;
  ``note_non_finite`` / ``check_finite``: the first non-finite loss, noted on the device.

Re-exported from sibling modules, so the scripts find them here:

- ``lightning_logging``: ``MetricsLogger``, a Lightning ``Logger`` writing ``metrics.csv``;
- ``lightning_callbacks``: ``ProgressDisplay``, the progress bar of every backend, and
  ``UserCallbackHooks``, the user's callbacks (``train.callbacks``) on Lightning;
- ``lightning_checkpoints``: ``SpeccCheckpointIO`` (specc checkpoint directories),
  ``SpeccModelCheckpoint`` (``step-000123`` names, a save at the end of the run) and
  ``ExactResume``;
- ``lightning_data``: ``NumpyData``, the dataloaders over ``specc.runtime.data.Loader``
  (resumable mid-epoch) and the callback that keeps their position;
- ``parameters``: ``freeze_parameters``, ``ema_update``, ``parameter_penalty``;
- ``objectives``: ``gradient_norm``, the global norm logged before clipping;
- ``precision``: ``precision_plugin`` (fp16: ``16-mixed`` with torch's ``GradScaler`` on the
  CPU too, where Lightning's own ``16-mixed`` turns into bf16) and ``LossScaleLog``.
"""

from __future__ import annotations

import math

import torch

from specc.runtime import checks, training
from specc.runtime.torch.lightning_callbacks import ProgressDisplay, UserCallbackHooks
from specc.runtime.torch.lightning_checkpoints import ExactResume, SpeccCheckpointIO, SpeccModelCheckpoint
from specc.runtime.torch.lightning_data import NumpyData
from specc.runtime.torch.lightning_logging import MetricsLogger
from specc.runtime.torch.objectives import gradient_norm
from specc.runtime.torch.parameters import ema_update, freeze_parameters, parameter_penalty
from specc.runtime.torch.precision import LossScaleLog, precision_plugin

__all__ = [
    "ExactResume",
    "Lion",
    "LossScaleLog",
    "MetricsLogger",
    "NumpyData",
    "PRECISIONS",
    "ProgressDisplay",
    "RunningSums",
    "SpeccCheckpointIO",
    "SpeccModelCheckpoint",
    "UserCallbackHooks",
    "accelerator_for",
    "check_finite",
    "ema_update",
    "freeze_parameters",
    "gradient_norm",
    "lightning_precision",
    "matrix_decay_groups",
    "note_non_finite",
    "parameter_penalty",
    "precision_plugin",
    "prepare_process",
    "use_tf32",
]

# ----------------------------------------------------------------------------- optimizers


def matrix_decay_groups(parameters) -> list[dict]:
    """nanoGPT's parameter groups, in the model's parameter order: the parameters of rank
    >= 2 (linear, convolution and embedding weights) with the optimizer's weight decay, then
    the others (biases, norm scales) with none (``weight_decay_on = matrices``)."""
    parameters = list(parameters)
    decay = [parameter for parameter in parameters if parameter.ndim >= 2]
    no_decay = [parameter for parameter in parameters if parameter.ndim < 2]
    return [{"params": decay}, {"params": no_decay, "weight_decay": 0.0}]


class Lion(torch.optim.Optimizer):
    """Lion (Chen et al. 2023) with decoupled weight decay, as optax's ``lion``:

    ``c = b1 * m + (1 - b1) * g``; ``p <- p - lr * (sign(c) + wd * p)``;
    ``m <- b2 * m + (1 - b2) * g``.
    """

    def __init__(self, params, lr, betas=(0.9, 0.99), weight_decay=0.0):
        checks.check_positive("lion", "lr", lr)
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            first, second = group["betas"]
            for parameter in group["params"]:
                if parameter.grad is None:
                    continue
                state = self.state[parameter]
                if not state:
                    state["exp_avg"] = torch.zeros_like(parameter)
                average = state["exp_avg"]
                direction = (average * first + parameter.grad * (1 - first)).sign_()
                if group["weight_decay"] != 0:
                    direction.add_(parameter, alpha=group["weight_decay"])
                parameter.add_(direction, alpha=-group["lr"])
                average.mul_(second).add_(parameter.grad, alpha=1 - second)
        return loss


# ----------------------------------------------------------------------------- precision

PRECISIONS = {"fp32": "32-true", "bf16": "bf16-mixed", "fp16": "16-mixed"}


def lightning_precision(precision: str, accelerator: str) -> str:
    """The Trainer's ``precision`` for the spec's (every one runs on every accelerator).

    On the CPU Lightning's own ``16-mixed`` turns into bf16 without asking: the scripts pass
    :func:`precision_plugin` (float16 with torch's CPU ``GradScaler``) instead.
    """
    checks.check_choice("precision", "precision", precision, tuple(PRECISIONS))
    return PRECISIONS[precision]


def prepare_process(accelerator: str = "cpu", tf32: bool = True) -> None:
    """What a script sets up before torch and Lightning do any work: the thread count
    (``threads.use_available_cores``: the cores available to the process, unless
    ``OMP_NUM_THREADS`` is set), glibc keeping the memory freed between steps
    (``allocator.keep_freed_memory``), TF32 on GPUs that have it (``use_tf32``,
    ``train.tf32``) and the filters of framework noise (``quiet``)."""
    from specc.runtime.torch.allocator import keep_freed_memory
    from specc.runtime.torch.quiet import silence_framework_noise
    from specc.runtime.torch.threads import use_available_cores

    use_available_cores()
    keep_freed_memory()
    use_tf32(accelerator, tf32)
    silence_framework_noise()


def use_tf32(accelerator: str, enabled: bool = True) -> bool:
    """TF32 for float32 matmuls and cuDNN convolutions (``train.tf32``: on unless false) when
    the run is on a CUDA GPU that has it (compute capability 8.0 and later); ``enabled`` False
    turns both off there (cuDNN's own default is on). On the CPU and other accelerators nothing
    changes. Returns whether TF32 is on."""
    if accelerator != "gpu" or not torch.cuda.is_available():
        return False
    on = bool(enabled) and torch.cuda.get_device_capability()[0] >= 8
    torch.backends.cuda.matmul.allow_tf32 = on
    torch.backends.cudnn.allow_tf32 = on
    return on


def accelerator_for(device: str | None, cuda_available=None) -> str:
    """``--device`` (``cpu``, ``cuda``, ``gpu``, ``mps``) as a Lightning accelerator. Without
    ``--device``: the CUDA GPU torch finds, else the CPU (Apple's ``mps`` only when asked: it
    lacks float64 and some of torch's operations). ``cuda_available``: torch's answer, for tests."""
    if device is None:
        found = torch.cuda.is_available() if cuda_available is None else cuda_available
        return "gpu" if found else "cpu"
    name = device.split(":")[0]
    checks.check_choice("--device", "device", name, ("cpu", "cuda", "gpu", "mps"))
    return "gpu" if name == "cuda" else name


def placement(arguments, sharded: bool = False) -> dict:
    """The Trainer's ``devices``, ``num_nodes`` and ``strategy`` from ``--devices`` /
    ``--num-nodes``: one device runs as before; several run Lightning's ``ddp`` (gloo on the
    CPU, NCCL on GPUs), launched by Lightning itself, ``torchrun`` or SLURM. ``NumpyData``
    hands each rank its rows of the global batch (``NumpyData.setup``). ``sharded``
    (``train.parallel = sharded``): Lightning's FSDP on GPUs (``specc.runtime.torch.sharding``)."""
    devices, nodes = arguments.devices or 1, getattr(arguments, "num_nodes", 1) or 1
    if sharded:
        from specc.runtime.torch.sharding import fsdp_placement

        return fsdp_placement(accelerator_for(arguments.device), devices, nodes)
    return {"devices": devices, "num_nodes": nodes, "strategy": "ddp" if devices * nodes > 1 else "auto"}


# ----------------------------------------------------------------------------- logging


def checkpointed(module: torch.nn.Module, *inputs):
    """``module(*inputs)`` with activation checkpointing (``train.remat``):
    ``torch.utils.checkpoint`` keeps the inputs and recomputes the pass in the backward pass
    (the RNG state replayed: the same dropout masks); a plain call without gradients."""
    if not torch.is_grad_enabled():
        return module(*inputs)
    from torch.utils.checkpoint import checkpoint

    return checkpoint(module, *inputs, use_reentrant=False)


class RunningSums:
    """Sums of per-step values, read without waiting for the device.

    ``add(values)`` adds one value per name (names may be added at different rates: the loss
    once per micro-batch, the gradient norm once per update); ``means()`` returns the mean of
    each name since the last call, as tensors, and resets. ``steps`` counts the steps of the
    window (the script increments it).

    Where a value lives decides how it is summed (a fact of the device, not a choice): a CPU
    tensor is computed by the time its operation returns, so its value is read at once
    (``item()``, well under a microsecond) and summed on the host in float64; a tensor on an
    accelerator is added on the device as a detached float32 tensor, so the step never waits
    for the device's queue. On the CPU that saves the three small kernels a value costs a step
    (``detach``, ``float``, ``add``: about 10 us each through torch's dispatcher).
    """

    def __init__(self):
        self.totals: dict = {}
        self.counts: dict[str, int] = {}
        self.steps = 0

    def add(self, values: dict) -> None:
        for name, value in values.items():
            value = value.detach()
            value = value.item() if value.device.type == "cpu" else value.float()
            self.totals[name] = self.totals[name] + value if name in self.totals else value
            self.counts[name] = self.counts.get(name, 0) + 1

    def means(self) -> dict[str, torch.Tensor]:
        means = {name: torch.as_tensor(value / self.counts[name], dtype=torch.float64 if isinstance(value, float) else None)
                 for name, value in self.totals.items()}
        self.totals, self.counts = {}, {}
        return means


def note_non_finite(bad_step: torch.Tensor, loss: torch.Tensor, step: int) -> torch.Tensor:
    """``bad_step`` (0-d, -1 while every loss was finite) set to ``step`` at the first loss that
    is not finite, in place (moved to the loss's device first when it is elsewhere: keep the
    returned tensor). On an accelerator it is computed there (three small kernels, no new
    tensor), so the step never waits for the host; a CPU loss is read at once (see
    ``RunningSums``) and ``bad_step`` is touched only at a bad loss."""
    if bad_step.device != loss.device:
        bad_step = bad_step.to(loss.device)
    if loss.device.type == "cpu":
        if not math.isfinite(loss.item()) and bad_step.item() < 0:
            bad_step.fill_(step)
        return bad_step
    not_finite = torch.isfinite(loss.detach()).logical_not_()
    return bad_step.masked_fill_(not_finite.logical_and_(bad_step < 0), step)


def check_finite(bad_step: torch.Tensor, run_dir) -> None:
    """``NonFiniteLoss`` naming the first bad step and the last good checkpoint of ``run_dir``
    (read at log steps and before every checkpoint: never save weights after a bad loss).
    Under DDP every rank calls it at the same steps and it takes the first bad step of any
    rank: all ranks stop together (a rank stopping alone would leave the others waiting in
    the next gradient all-reduce)."""
    bad = training.first_bad_step(first_bad_step_of_any_rank(bad_step))
    if bad is not None:
        raise training.NonFiniteLoss(bad, training.newest_checkpoint(run_dir))


def first_bad_step_of_any_rank(bad_step: torch.Tensor) -> int:
    """The smallest ``bad_step`` >= 0 over the ranks of the process group, -1 when none is
    (``bad_step`` itself in a single process)."""
    distributed = torch.distributed
    if not (distributed.is_available() and distributed.is_initialized()):
        return int(bad_step)
    never = torch.iinfo(torch.int64).max
    value = torch.where(bad_step < 0, never, bad_step).to(torch.int64).reshape(1)  # on the loss device
    distributed.all_reduce(value, op=distributed.ReduceOp.MIN)
    return -1 if int(value) == never else int(value)
