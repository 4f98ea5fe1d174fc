"""Flow paths, time maps, time embedding, guidance and ODE samplers (torch).

The composites of ``specc.runtime.composites.flows`` bound to ``specc.runtime.torch.ops``:
same names, signatures, defaults and error text as ``specc.runtime.reference.flows`` (the
oracle). The samplers run a Python loop over steps.
"""

from __future__ import annotations

from specc.runtime.composites import binder
from specc.runtime.composites import flows as composite
from specc.runtime.torch import ops

__all__ = [
    "PATHS",
    "STEP_RULES",
    "broadcast_time",
    "cfg_combine",
    "euler",
    "heun",
    "integrate",
    "logit_normal_time",
    "mean_flow_sample",
    "mean_flow_time",
    "path_sample",
    "rk4",
    "sinusoidal",
    "uniform_time",
]

_bind = binder(ops, __name__)

PATHS = composite.PATHS
broadcast_time = _bind(composite.broadcast_time)
path_sample = _bind(composite.path_sample)
uniform_time = _bind(composite.uniform_time)
logit_normal_time = _bind(composite.logit_normal_time)
mean_flow_time = _bind(composite.mean_flow_time)
sinusoidal = _bind(composite.sinusoidal)
cfg_combine = _bind(composite.cfg_combine)

_samplers = composite.samplers(ops)
STEP_RULES = _samplers.STEP_RULES
integrate = _samplers.integrate
euler = _samplers.euler
heun = _samplers.heun
rk4 = _samplers.rk4
mean_flow_sample = _samplers.mean_flow_sample
