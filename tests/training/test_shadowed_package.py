"""A generated script run from the folder that holds the checkout, named ``specc``.

``git clone ... specc && pip install -e specc`` (the README's editable install), then a
script in the parent folder: Python puts the script's folder first on ``sys.path``, finds
the checkout folder ``specc`` (no ``__init__.py`` at its top) and imports it as a namespace
package before setuptools' editable finder is asked, so ``specc.__version__`` is missing.
The runtime must not need it (``training.installed_version``)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import specc.runtime

CHECKOUT = Path(specc.runtime.__file__).resolve().parents[1]  # the folder holding runtime/

SCRIPT = textwrap.dedent(
    """
    import numpy as np
    import specc
    from specc.runtime import training
    from specc.runtime.parameters import IR_VERSION

    assert getattr(specc, "__file__", None) is None, "the folder named specc was not imported"
    training.check_runtime({version!r}, IR_VERSION)
    path = training.write_checkpoint({run!r}, 1, {{"w": np.zeros(2, np.float32)}}, {{}}, {{"metrics": {{}}}})
    print(training.read_checkpoint(path).manifest["specc_version"])
    """
)


@pytest.mark.skipif(not (CHECKOUT / "pyproject.toml").exists(), reason="specc is not installed from a checkout")
def test_a_script_beside_a_checkout_named_specc_runs(tmp_path):
    parent = tmp_path / "parent"
    parent.mkdir()
    os.symlink(CHECKOUT, parent / "specc", target_is_directory=True)  # the checkout, named specc
    script = parent / "train.py"
    script.write_text(SCRIPT.format(version=specc.__version__, run=str(tmp_path / "run")))
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, str(script)], cwd=parent, env=environment, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == specc.__version__
