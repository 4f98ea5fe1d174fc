"""The optimizers a generated MLX script builds beyond ``mlx.optimizers``'s own (the scripts
reach them as ``mlx_training.X``): ``CoupledAdam``, Adam with torch's coupled L2 decay, and the
``MatrixDecay*`` optimizers of ``weight_decay_on = matrices``, which decay the parameters of
rank 2 and more only (nanoGPT's choice)."""

from __future__ import annotations

import mlx.optimizers as optim


class CoupledAdam(optim.Adam):
    """Adam with torch's coupled L2 decay: ``g <- g + wd * p`` before the moments."""

    def __init__(self, learning_rate, betas, eps, weight_decay):
        super().__init__(learning_rate, betas=list(betas), eps=eps, bias_correction=True)
        self.weight_decay = weight_decay

    def apply_single(self, gradient, parameter, state):
        return super().apply_single(gradient + self.weight_decay * parameter, parameter, state)


# ``weight_decay_on = matrices``: the decay applies to the parameters of rank >= 2 (linear,
# convolution and embedding weights), not to biases and norm scales (nanoGPT's choice); the
# rest of each update is the optimizer's own.


class MatrixDecayAdam(CoupledAdam):
    """``CoupledAdam`` decaying the parameters of rank >= 2 only."""

    def apply_single(self, gradient, parameter, state):
        if parameter.ndim < 2:
            return optim.Adam.apply_single(self, gradient, parameter, state)
        return super().apply_single(gradient, parameter, state)


class MatrixDecayAdamW(optim.Adam):
    """AdamW (bias correction on) decaying the parameters of rank >= 2 only:
    ``p <- p * (1 - lr * wd)`` before Adam's update, as ``optim.AdamW``."""

    def __init__(self, learning_rate, betas, eps, weight_decay):
        super().__init__(learning_rate, betas=list(betas), eps=eps, bias_correction=True)
        self.weight_decay = weight_decay

    def apply_single(self, gradient, parameter, state):
        if parameter.ndim >= 2:
            parameter = parameter * (1 - self.learning_rate.astype(gradient.dtype) * self.weight_decay)
        return super().apply_single(gradient, parameter, state)


class MatrixDecaySGD(optim.SGD):
    """SGD with torch's semantics (no dampening) and coupled L2 decay
    ``g <- g + wd * p`` on the parameters of rank >= 2 only."""

    def __init__(self, learning_rate, momentum, nesterov, weight_decay):
        super().__init__(learning_rate, momentum=momentum, weight_decay=0.0, dampening=0.0, nesterov=nesterov)
        self.matrix_decay = weight_decay

    def apply_single(self, gradient, parameter, state):
        if parameter.ndim >= 2:
            gradient = gradient + self.matrix_decay * parameter
        return super().apply_single(gradient, parameter, state)


class MatrixDecayLion(optim.Lion):
    """Lion decaying the parameters of rank >= 2 only: ``p <- p * (1 - lr * wd)`` before
    the sign update, as ``optim.Lion``."""

    def __init__(self, learning_rate, betas, weight_decay):
        super().__init__(learning_rate, betas=list(betas), weight_decay=0.0)
        self.matrix_decay = weight_decay

    def apply_single(self, gradient, parameter, state):
        if parameter.ndim >= 2:
            parameter = parameter * (1 - self.learning_rate.astype(gradient.dtype) * self.matrix_decay)
        return super().apply_single(gradient, parameter, state)
