"""Generated Lightning scripts choose torch's thread count and drop framework noise
(``specc.runtime.torch.threads``, ``specc.runtime.torch.quiet``; docs/backends.md)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import warnings

import pytest

torch = pytest.importorskip("torch")

from specc.runtime.torch import quiet, threads  # noqa: E402


@pytest.fixture
def eight_cores(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)


@pytest.mark.parametrize(
    ("cpu_max", "expected"),
    [("max 100000\n", 8), ("150000 100000\n", 2), ("200000 100000\n", 2), ("50000 100000\n", 1), (None, 8), ("junk", 8)],
)
def test_available_cores_are_the_affinity_bounded_by_the_cgroup_quota(tmp_path, eight_cores, cpu_max, expected):
    path = tmp_path / "cpu.max"
    if cpu_max is not None:
        path.write_text(cpu_max)
    assert threads.available_cores(path, tmp_path / "no-cgroup-v1") == expected


@pytest.mark.parametrize(("quota", "expected"), [("-1", 8), ("300000", 3), ("50000", 1)])
def test_a_cgroup_v1_quota(tmp_path, eight_cores, quota, expected):
    (tmp_path / "cpu.cfs_quota_us").write_text(quota + "\n")
    (tmp_path / "cpu.cfs_period_us").write_text("100000\n")
    assert threads.available_cores(tmp_path / "no-cpu.max", tmp_path) == expected


def test_the_thread_count_follows_the_cores_unless_omp_num_threads_is_set(monkeypatch, eight_cores):
    monkeypatch.setattr(threads, "available_cores", lambda: 3)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert threads.use_available_cores({"OMP_NUM_THREADS": "1"}) == 1  # the user's choice stands
        assert torch.get_num_threads() == 1
        assert threads.use_available_cores({}) == 3
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)


def test_only_the_named_framework_messages_are_dropped():
    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    logger = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    handler, level = Keep(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            quiet.silence_framework_noise()
            for message in ("GPU available: False, used: False", "TPU available: False, using: 0 TPU cores",
                            "💡 Tip: For seamless cloud logging", "`Trainer.fit` stopped: `max_steps=5` reached.",
                            "Restoring states from the checkpoint path at x"):
                logger.info(message)
            warnings.warn_explicit("`isinstance(treespec, LeafSpec)` is deprecated", FutureWarning, "_pytree.py", 21,
                                   module="lightning.pytorch.utilities._pytree")
            warnings.warn_explicit("old call", DeprecationWarning, "x.py", 1, module="torch.nn.modules.module")
            warnings.warn_explicit("The number of training batches (19) is smaller than the logging interval "
                                   "Trainer(log_every_n_steps=50).", UserWarning, "fit_loop.py", 321,
                                   module="lightning.pytorch.loops.fit_loop")
            warnings.warn_explicit("GPU available but not used.", UserWarning, "setup.py", 176,
                                   module="lightning.pytorch.trainer.setup")
            warnings.warn_explicit("your own deprecation", DeprecationWarning, "train.py", 3, module="__main__")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.filters = [item for item in logger.filters if not isinstance(item, quiet.DropMessages)]
    assert records == ["Restoring states from the checkpoint path at x"]
    assert [str(warning.message) for warning in caught] == ["GPU available but not used.", "your own deprecation"]


@pytest.mark.slow
def test_a_generated_lightning_script_prints_no_framework_noise(tmp_path):
    pytest.importorskip("lightning")
    from specc.compiler.cli.main import read
    from specc.compiler.emit.render import render
    from specc.compiler.pipeline import check
    from tests.checker.helpers import DIGITS

    spec = tmp_path / "spec.mf"
    spec.write_text(DIGITS)
    result = check(str(spec), read, ("train.max_steps=4", "train.log_every=50"), "lightning")
    assert result.program is not None, result.diagnostics
    script = tmp_path / "train.py"
    script.write_text(render(result.program, "lightning"))
    assert script.read_text().count("torch_training.prepare_process(accelerator)") == 1
    environment = dict(os.environ, OMP_NUM_THREADS="1")
    shown = subprocess.run(
        [sys.executable, str(script), "--out-dir", str(tmp_path / "run")],
        cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=300,
    )
    output = shown.stdout + shown.stderr
    assert shown.returncode == 0, output
    for noise in ("GPU available:", "TPU available:", "Tip:", "is deprecated", "smaller than the logging interval",
                  "`Trainer.fit` stopped"):
        assert noise not in output
    assert "step 4 train: " in output and "step 4 val: " in output
