"""The mlflow and wandb loggers, for real (both are in the ``loggers`` extra), and the
message a script prints when one is not installed."""

from __future__ import annotations

import json
import struct
import sys

import pytest

from specc.runtime.training import loggers
from specc.runtime.training.loggers import FanOut, MlflowLogger, WandbLogger, make_loggers


def mlflow_history(run_dir, run_id, key):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=(run_dir / "mlflow").resolve().as_uri())
    return client, [(metric.step, metric.value) for metric in client.get_metric_history(run_id, key)]


def test_mlflow_writes_a_file_store_under_the_run_and_resumes_the_same_run(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    run_dir = tmp_path / "run-a"
    logger = MlflowLogger(run_dir, experiment="exp")
    logger.write_many(10, 0, "train", {"loss": 1.5, "grad_norm": 3.0})
    logger.write_many(20, 1, "val", {"loss": 2.25})
    logger.close()
    client, history = mlflow_history(run_dir, logger.run_id, "train/loss")
    assert history == [(10, 1.5)]
    run = client.get_run(logger.run_id)
    assert (run.info.status, run.info.run_name) == ("FINISHED", "run-a")
    assert client.get_experiment(run.info.experiment_id).name == "exp"
    assert run.data.metrics == {"train/loss": 1.5, "train/grad_norm": 3.0, "val/loss": 2.25, "epoch": 1.0}
    assert (run_dir / "mlflow" / "run_id").read_text().strip() == logger.run_id
    resumed = MlflowLogger(run_dir, experiment="exp")
    assert resumed.run_id == logger.run_id
    resumed.write_many(30, 1, "train", {"loss": 0.5})
    resumed.close()
    assert mlflow_history(run_dir, logger.run_id, "train/loss")[1] == [(10, 1.5), (30, 0.5)]


def wandb_history(run_dir):
    """History rows of the offline run file (a LevelDB-style log of ``Record`` protobufs:
    7-byte file header, 32 KiB blocks, records of ``crc32 u32, length u16, type u8`` + data,
    type 1 = full, 2 / 3 / 4 = first / middle / last piece)."""
    from wandb.proto import wandb_internal_pb2

    (path,) = sorted((run_dir / "wandb").glob("wandb/offline-run-*/run-*.wandb"))
    data, position, pending, rows = path.read_bytes(), 7, b"", []
    while position + 7 <= len(data):
        left = 32768 - position % 32768
        if left < 7:
            position += left
            continue
        _, length, kind = struct.unpack("<IHB", data[position : position + 7])
        if length == 0 and kind == 0:
            position += left
            continue
        pending += data[position + 7 : position + 7 + length]
        position += 7 + length
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            pending = b""
            if record.WhichOneof("record_type") == "history":
                items = {
                    item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in record.history.item
                }
                rows.append({key: value for key, value in items.items() if not key.startswith("_") or key == "_step"})
    return rows


def test_wandb_writes_an_offline_run_under_the_run_directory(tmp_path):
    run_dir = tmp_path / "run-b"
    logger = WandbLogger(run_dir, project="proj")
    logger.write_many(5, 0, "train", {"loss": 1.25})
    logger.write_many(5, 0, "val", {"loss": 2.5})  # same step: one W&B row
    logger.write_many(8, 1, "train", {"loss": 0.75})
    logger.close()
    assert logger.run.project == "proj" and logger.run.name == "run-b"
    assert wandb_history(run_dir) == [
        {"_step": 5, "train/loss": 1.25, "val/loss": 2.5, "epoch": 0},
        {"_step": 8, "train/loss": 0.75, "epoch": 1},
    ]
    assert (run_dir / "wandb" / "run_id").read_text().strip() == logger.run.id


@pytest.mark.parametrize("kind,package", [("mlflow", "mlflow"), ("wandb", "wandb")])
def test_a_missing_package_stops_the_script_with_one_line(kind, package, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, package, None)  # import raises ImportError
    with pytest.raises(SystemExit) as stopped:
        make_loggers(["csv", kind], tmp_path)
    install = {"mlflow": "mlflow-skinny", "wandb": "wandb"}[kind]
    assert str(stopped.value) == (
        f"the {kind} logger needs `{install}` installed (pip install {install}, or pip install 'specc[loggers]'); "
        f"remove {kind} from train.loggers to run without it"
    )


class Recorder:
    def __init__(self, run_dir, **arguments):
        self.arguments, self.rows, self.closed = arguments, [], False

    def write_many(self, step, epoch, split, values):
        self.rows.append((step, epoch, split, dict(values)))

    def close(self):
        self.closed = True


def test_make_loggers_takes_names_pairs_and_mappings(tmp_path, monkeypatch):
    monkeypatch.setitem(loggers.LOGGERS, "recorder", Recorder)
    made = make_loggers(
        ["csv", "recorder", ("recorder", {"project": "p", "unused": None}), {"kind": "recorder", "project": "q"}],
        tmp_path,
    )
    assert [logger.arguments for logger in made] == [{}, {"project": "p"}, {"project": "q"}]
    with pytest.raises(ValueError, match="logger 'neptune' is not available in this runtime; available: csv, "):
        make_loggers(["neptune"], tmp_path)


def test_fan_out_writes_every_row_to_the_log_and_the_loggers():
    log, extra = Recorder(None), Recorder(None)
    fan = FanOut(log, [extra])
    fan.write_many(3, 0, "val", {"loss": 1.0})
    fan.close()
    assert log.rows == extra.rows == [(3, 0, "val", {"loss": 1.0})]
    assert log.closed and extra.closed and fan.arguments == {}  # other attributes are the log's


def test_logger_options_as_seed_002_names_them(tmp_path, monkeypatch):
    """W&B `name` and `config`, MLflow `run_name`, TensorBoard `log_dir` and `name`."""
    monkeypatch.chdir(tmp_path)
    run_dir = tmp_path / "run-c"
    wandb_logger = WandbLogger(run_dir, project="proj", name="experiment-1", config={"lr": 1e-4, "batch_size": 32})
    wandb_logger.write_many(1, 0, "train", {"loss": 1.0})
    wandb_logger.close()
    assert wandb_logger.run.name == "experiment-1"
    assert dict(wandb_logger.run.config) == {"lr": 1e-4, "batch_size": 32}
    mlflow_logger = MlflowLogger(run_dir, experiment="exp", run_name="run-1")
    mlflow_logger.close()
    client, _ = mlflow_history(run_dir, mlflow_logger.run_id, "train/loss")
    assert client.get_run(mlflow_logger.run_id).info.run_name == "run-1"
    board = loggers.TensorBoardLogger(run_dir, log_dir="tb_logs", name="experiment-1")
    board.write_many(1, 0, "train", {"loss": 1.0})
    board.close()
    assert list((tmp_path / "tb_logs" / "experiment-1").glob("events.out.tfevents.*"))
    assert not (run_dir / "tensorboard").exists()
