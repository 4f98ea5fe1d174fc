"""Steps per second of the generated JAX digits script against a hand-written idiomatic
flax.nnx + optax script (same model, batch size, data and optimizer), printed as a ratio.

    python benchmarks/steps_per_second.py [--steps 600]

The generated script's rate is the mean of its ``steps_per_s`` rows after the first (which
includes compilation). Not asserted anywhere: performance is measured, not tested.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]


def generated_rate(steps: int, backend: str = "jax") -> float:
    from specc.compiler import emit, pipeline
    from specc.runtime import training

    overrides = [f"train.max_steps={steps}", "train.log_every=100", f"train.eval_every={steps}", f"train.checkpoint.every={steps}"]
    result = pipeline.check("specs/digits_mlp.mf", lambda name: (REPOSITORY / name).read_bytes(), overrides)
    if result.program is None:
        raise SystemExit(f"digits_mlp does not compile: {[d.message for d in result.diagnostics]}")
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "train.py"
        script.write_text(emit.render(result.program, backend))
        subprocess.run([sys.executable, str(script), "--out-dir", str(Path(folder) / "run")], check=True, capture_output=True)
        rates = [row["value"] for row in training.read_metrics(Path(folder) / "run" / "metrics.csv") if row["name"] == "steps_per_s"]
    return sum(rates[1:]) / max(1, len(rates) - 1)


def handwritten_jax_rate(steps: int, batch_size: int = 64) -> float:
    """The idiomatic version: nnx model, optax adam, a jitted functional step with donation."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax
    from flax import nnx
    from sklearn.datasets import load_digits

    digits = load_digits()
    x, y = (digits.data / 16.0).astype(np.float32), digits.target.astype(np.int32)

    class Mlp(nnx.Module):
        def __init__(self, rngs):
            self.linear_0 = nnx.Linear(64, 128, rngs=rngs)
            self.linear_1 = nnx.Linear(128, 128, rngs=rngs)
            self.linear_2 = nnx.Linear(128, 10, rngs=rngs)

        def __call__(self, x):
            return self.linear_2(jax.nn.relu(self.linear_1(jax.nn.relu(self.linear_0(x)))))

    graphdef, params = nnx.split(Mlp(nnx.Rngs(0)))
    optimizer = optax.adam(1e-3)
    opt_state = optimizer.init(params)

    def step(params, opt_state, x, y):
        def loss_fn(params):
            logits = nnx.merge(graphdef, params)(x)
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    step = jax.jit(step, donate_argnums=(0, 1))
    per_epoch = len(x) // batch_size

    def batch(index):  # a fresh permutation per epoch, numpy slicing per step
        order = np.random.default_rng([0, index // per_epoch]).permutation(len(x))
        rows = order[(index % per_epoch) * batch_size : (index % per_epoch + 1) * batch_size]
        return x[rows], y[rows]

    params, opt_state, loss = step(params, opt_state, *batch(0))
    loss.block_until_ready()
    start = time.perf_counter()
    for index in range(steps):
        params, opt_state, loss = step(params, opt_state, *batch(index))
        if index % 100 == 99:
            float(loss)  # the loss is read at log intervals, as any script does
    loss.block_until_ready()
    return steps / (time.perf_counter() - start)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=600)
    arguments = parser.parse_args(argv)
    generated = generated_rate(arguments.steps)
    handwritten = handwritten_jax_rate(arguments.steps)
    print(f"digits MLP, jax: generated {generated:.1f} steps/s, hand-written {handwritten:.1f} steps/s, "
          f"ratio {generated / handwritten:.2f}x")


if __name__ == "__main__":
    main()
