"""fp16 training for Lightning: ``16-mixed`` with torch's ``GradScaler`` on the run's device.

Lightning's ``Trainer(precision="16-mixed")`` silently turns into bf16 on the CPU
(Lightning 2.6); the plugin built here is ``MixedPrecision("16-mixed", device, scaler)``
with ``torch.amp.GradScaler(device)`` (torch >= 2.3 has one for the CPU), so a CPU run
computes in float16 with dynamic loss scaling as a GPU run does. The scaler's scheme is the
one ``specc.runtime.composites.precision`` writes out for JAX and MLX: scale ``2^16`` at the
start, ``g = grad(s * loss) / s``, a step with a non-finite ``g`` skipped and ``s <- s / 2``,
``s <- 2 s`` after 2000 finite steps in a row. Lightning saves the scaler in its checkpoints
(``MixedPrecision.state_dict``), so ``--resume`` continues with the saved scale.

``LossScaleLog`` counts the skipped steps (the scale went down) without a host
synchronisation per step and gives the values logged as ``train/loss_scale`` and
``train/skipped_steps``.
"""

from __future__ import annotations

import torch
from specc.runtime.composites.precision import INITIAL_SCALE

__all__ = ["LossScaleLog", "precision_plugin"]

DEVICES = {"gpu": "cuda", "cuda": "cuda", "cpu": "cpu", "mps": "mps"}


def precision_plugin(precision: str, accelerator: str):
    """Lightning's precision plugin for the Trainer's ``precision`` string ``16-mixed`` on
    ``accelerator`` (``cpu``, ``gpu``, ``mps``): float16 autocast and a ``GradScaler``."""
    from lightning.pytorch.plugins.precision import MixedPrecision

    device = DEVICES.get(accelerator, accelerator)
    return MixedPrecision(precision, device, torch.amp.GradScaler(device, init_scale=INITIAL_SCALE))


class LossScaleLog:
    """The loss scale and the number of skipped steps of a run (``state_dict`` goes into
    the checkpoint, so the count continues on ``--resume``)."""

    def __init__(self):
        self.skipped = torch.zeros((), dtype=torch.float64)
        self.previous = None

    @staticmethod
    def scale_of(scaler) -> torch.Tensor:
        """The scale as a tensor on its device (no host read once the scaler has one)."""
        scale = scaler._get_scale_async() if hasattr(scaler, "_get_scale_async") else None
        return torch.tensor(scaler.get_scale(), dtype=torch.float64) if scale is None else scale.detach().double()

    def after_step(self, scaler) -> None:
        """Count the step as skipped when the scale went down (a skip halves it)."""
        scale = self.scale_of(scaler)
        previous = self.previous if self.previous is not None else torch.tensor(INITIAL_SCALE, dtype=torch.float64)
        self.skipped = self.skipped.to(scale.device) + (scale < previous.to(scale.device)).double()
        self.previous = scale.clone()

    def values(self, scaler) -> dict:
        """``{"loss_scale", "skipped_steps"}`` as float64 tensors (for ``log_dict``)."""
        return {"loss_scale": self.scale_of(scaler).cpu(), "skipped_steps": self.skipped.detach().cpu()}

    def state_dict(self) -> dict:
        return {"skipped": float(self.skipped), "previous": None if self.previous is None else float(self.previous)}

    def load_state_dict(self, state: dict) -> None:
        self.skipped = torch.tensor(float(state.get("skipped", 0.0)), dtype=torch.float64)
        previous = state.get("previous")
        self.previous = None if previous is None else torch.tensor(float(previous), dtype=torch.float64)
