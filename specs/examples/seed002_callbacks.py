"""Seed 002's custom callback, written for specc (specs/examples/seed002_callbacks.mf).

The seed's version (an mlx_audio ``Callback``)::

    class MyCallback(Callback):
        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
            if batch_idx % 100 == 0:
                print(f"Step {trainer.global_step}: loss = {outputs['loss']:.4f}")

Here the class needs no base class and receives plain Python values: ``on_step_end`` gets
the step and the values of the train row the run logs at that step (``train.log_every``),
on JAX, Lightning and MLX alike.
"""


class PrintEvery:
    """Prints the loss every ``every`` steps (``every`` a multiple of ``train.log_every``)."""

    def __init__(self, every=100):
        self.every = every

    def on_step_end(self, step, values):
        if step % self.every == 0:
            print(f"Step {step}: loss = {values['loss']:.4f}")
