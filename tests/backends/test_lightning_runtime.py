"""specc.runtime.torch.training (and the modules it re-exports from) in process: Lion,
precision refusal, the metrics logger, the checkpoint IO round trip and the resumable data
stream."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("lightning")

from specc.runtime import data as specc_data  # noqa: E402
from specc.runtime.torch import lightning_data, training  # noqa: E402
from specc.runtime.training import MetricsLog, read_metrics  # noqa: E402


def test_lion_follows_the_formula():
    """``c = b1 m + (1 - b1) g``; ``p <- p - lr (sign(c) + wd p)``; ``m <- b2 m + (1 - b2) g``."""
    parameter = torch.nn.Parameter(torch.tensor([1.0, -2.0, 0.5]))
    optimizer = training.Lion([parameter], lr=0.1, betas=(0.9, 0.99), weight_decay=0.5)
    moment = np.zeros(3)
    expected = np.array([1.0, -2.0, 0.5])
    for gradient in ([0.3, -0.1, 0.0], [-0.2, 0.4, 1.0]):
        parameter.grad = torch.tensor(gradient)
        optimizer.step()
        gradient = np.array(gradient)
        direction = np.sign(0.9 * moment + 0.1 * gradient)
        expected = expected - 0.1 * (direction + 0.5 * expected)
        moment = 0.99 * moment + 0.01 * gradient
        np.testing.assert_allclose(parameter.detach().numpy(), expected, rtol=1e-6)


def test_fp16_on_cpu_computes_in_float16_with_a_grad_scaler():
    """Lightning's own ``precision="16-mixed"`` turns into bf16 on the CPU; the plugin the
    scripts pass keeps float16 and torch's CPU GradScaler."""
    assert training.lightning_precision("fp32", "cpu") == "32-true"
    assert training.lightning_precision("bf16", "cpu") == "bf16-mixed"
    assert training.lightning_precision("fp16", "cpu") == training.lightning_precision("fp16", "gpu") == "16-mixed"
    plugin = training.precision_plugin("16-mixed", "cpu")
    assert isinstance(plugin.scaler, torch.amp.GradScaler) and plugin.scaler.get_scale() == 65536.0
    with plugin.forward_context():
        product = torch.ones(2, 2) @ torch.ones(2, 2)
    assert product.dtype == torch.float16


def test_metrics_logger_writes_specc_rows(tmp_path):
    log = MetricsLog(tmp_path / "metrics.csv")
    logger = training.MetricsLogger(log)
    logger.log_metrics({"train/loss": 0.5, "train/grad_norm": 2.0, "epoch": 3}, step=9)
    logger.log_metrics({"train/lr": 0.1}, step=9)
    logger.log_metrics({"train/lr": 0.1}, step=9)  # a micro-batch repeat is written once
    logger.log_metrics({"val/accuracy": 0.75, "epoch": 3}, step=9)
    log.close()
    rows = [(row["step"], row["epoch"], row["split"], row["name"], row["value"]) for row in read_metrics(tmp_path / "metrics.csv")]
    assert rows == [
        (10, 3, "train", "grad_norm", 2.0),
        (10, 3, "train", "loss", 0.5),
        (10, 3, "train", "lr", 0.1),
        (10, 3, "val", "accuracy", 0.75),
    ]


def test_checkpoint_io_round_trip_and_atomic_last(tmp_path):
    root = tmp_path / "checkpoints"
    io = training.SpeccCheckpointIO(manifest=lambda: {"seed": 7})
    checkpoint = {
        "global_step": 5,
        "epoch": 0,
        "state_dict": {"model.linear.weight": torch.arange(6.0).reshape(2, 3), "null_buffer": torch.ones(2)},
        "optimizer_states": [{"state": {0: {"step": torch.tensor(5.0), "exp_avg": torch.full((2, 3), 0.25)}}, "param_groups": [{"lr": 0.1, "betas": (0.9, 0.999), "params": [0]}]}],
        "loops": {"fit_loop": {"state_dict": {"combined_loader": [{"epoch": 1, "batch_index": 4}]}}},
        "callbacks": {"EarlyStopping": {"best_score": torch.tensor(float("inf")), "wait_count": 2}},
    }
    io.save_checkpoint(checkpoint, root / "step-000005")
    io.save_checkpoint(checkpoint, root / "last")
    assert (root / "last").is_symlink() and (root / "last").resolve().name == "step-000005"
    loaded = io.load_checkpoint(root / "last")
    assert torch.equal(loaded["state_dict"]["model.linear.weight"], checkpoint["state_dict"]["model.linear.weight"])
    assert torch.equal(loaded["state_dict"]["null_buffer"], torch.ones(2))
    state = loaded["optimizer_states"][0]
    assert torch.equal(state["state"][0]["exp_avg"], torch.full((2, 3), 0.25))
    assert state["param_groups"][0]["betas"] == (0.9, 0.999)
    assert loaded["callbacks"]["EarlyStopping"]["best_score"] == float("inf")
    from specc.runtime.training import read_checkpoint

    written = read_checkpoint(root / "step-000005")
    assert set(written.model) == {"linear.weight"}
    assert written.manifest["seed"] == 7 and written.manifest["data"] == {"epoch": 1, "batch_index": 4}
    io.remove_checkpoint(root / "step-000005")  # the target of last survives pruning
    assert (root / "step-000005").is_dir()


def test_epoch_stream_counts_consumed_batches_not_prefetched_ones():
    source = specc_data.make_source("digits")
    loader = specc_data.Loader(source, "train", 64, 0)
    stream = lightning_data.EpochStream(loader)
    iterator = iter(stream)
    next(iterator)
    second = next(iterator)  # Lightning prefetches one batch ahead
    stream.consume()
    assert stream.state_dict() == {"epoch": 0, "batch_index": 1, "served": 1}
    resumed = lightning_data.EpochStream(loader)
    resumed.load_state_dict(stream.state_dict())
    np.testing.assert_array_equal(next(iter(resumed))["x"], second["x"])
    for _ in range(len(loader) - 1):
        stream.consume()
    assert stream.state_dict() == {"epoch": 1, "batch_index": 0, "served": len(loader)}
    np.testing.assert_array_equal(next(iter(stream))["x"], loader.batch(1, 0)["x"])


def test_epoch_stream_keeps_accumulation_windows_inside_lightning_epochs():
    """Accumulate 3: Lightning epochs of ``(n // 3) * 3`` batches that follow the loader's
    order across its epochs (as ``Loader.forever()`` does)."""
    source = specc_data.make_source("digits")
    loader = specc_data.Loader(source, "train", 64, 0)
    stream = lightning_data.EpochStream(loader, accumulate=3)
    count = len(loader)
    assert count % 3 != 0 and len(stream) == (count // 3) * 3
    expected = loader.forever()
    for _ in range(3):  # three Lightning epochs
        served = list(stream)
        assert len(served) == len(stream)
        for batch in served:
            np.testing.assert_array_equal(batch["x"], next(expected)["x"])
            stream.consume()
    consumed = 3 * len(stream)
    assert (stream.state_dict()["epoch"], stream.state_dict()["batch_index"]) == divmod(consumed, count)


def test_non_finite_losses_are_noted_on_the_device_and_checked_at_log_steps(tmp_path):
    bad = torch.tensor(-1)
    bad = training.note_non_finite(bad, torch.tensor(0.5), 1)
    training.check_finite(bad, tmp_path)  # every loss finite so far
    bad = training.note_non_finite(bad, torch.tensor(float("nan")), 2)
    bad = training.note_non_finite(bad, torch.tensor(float("inf")), 3)  # the first bad step stays
    assert int(bad) == 2
    with pytest.raises(Exception, match="not finite at step 2"):
        training.check_finite(bad, tmp_path)


def test_gradient_norm_is_the_global_norm_of_the_gradients():
    first, second, unused = (torch.nn.Parameter(torch.zeros(2)) for _ in range(3))
    first.grad, second.grad = torch.tensor([3.0, 0.0]), torch.tensor([0.0, 4.0])
    assert float(training.gradient_norm([first, second, unused])) == pytest.approx(5.0)
    assert float(training.gradient_norm([unused])) == 0.0


def test_exact_resume_keeps_torch_s_generator_in_the_checkpoint():
    callback = training.ExactResume()
    torch.manual_seed(3)
    state = callback.state_dict()
    expected = torch.rand(4)
    torch.manual_seed(99)
    callback.load_state_dict(state)
    assert torch.equal(torch.rand(4), expected)


def test_metrics_logger_writes_an_evaluated_checkpoint_s_step_and_epoch(tmp_path):
    from types import SimpleNamespace

    log = MetricsLog(tmp_path / "metrics.csv")
    logger = training.MetricsLogger(log, evaluated=SimpleNamespace(step=40, manifest={"epoch": 2}))
    logger.log_metrics({"val/loss": 0.25}, step=0)
    log.close()
    rows = [(row["step"], row["epoch"], row["split"], row["name"]) for row in read_metrics(tmp_path / "metrics.csv")]
    assert rows == [(40, 2, "val", "loss")]


def test_checkpoint_io_completes_a_manifest_of_run_fields(tmp_path):
    """A dict manifest: the run's fields, plus ``backend`` and the evaluation metrics the
    keeper saw when it saved."""
    from types import SimpleNamespace

    from specc.runtime.training import read_checkpoint

    keeper = SimpleNamespace(scores={"val/loss": 0.5}, best_k_models={})
    io = training.SpeccCheckpointIO(manifest={"seed": 7, "spec_name": "x"}, keeper=keeper)
    checkpoint = {"global_step": 3, "epoch": 0, "state_dict": {"model.w": torch.ones(2)}}
    io.save_checkpoint(checkpoint, tmp_path / "checkpoints" / "step-000003")
    manifest = read_checkpoint(tmp_path / "checkpoints" / "step-000003").manifest
    assert (manifest["seed"], manifest["spec_name"], manifest["backend"]) == (7, "x", "lightning")
    assert manifest["metrics"] == {"val/loss": 0.5}
