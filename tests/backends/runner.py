"""Compile a program for a backend into a temporary folder and run the script (shared by
the backend tests of every backend)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from specc.compiler.emit import render as emit

REPOSITORY = Path(__file__).resolve().parents[2]


def write_script(program, backend: str, directory) -> Path:
    """``<directory>/train_<spec>_<backend>.py`` holding the rendered script."""
    path = Path(directory) / f"train_{program.spec_name}_{backend}.py"
    path.write_text(emit.render(program, backend), encoding="utf-8")
    return path


def run_script(script, *arguments, timeout: float = 240, check: bool = False, env=None) -> subprocess.CompletedProcess:
    """Run ``python script *arguments`` in the script's folder; output captured as text."""
    environment = dict(os.environ)
    environment.setdefault("JAX_PLATFORMS", "cpu")
    # compiled XLA programs are shared between the test runs (the same steps recur)
    environment.setdefault("JAX_COMPILATION_CACHE_DIR", str(Path(tempfile.gettempdir()) / "specc-tests-jax-cache"))
    environment.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    environment.update(env or {})
    result = subprocess.run(
        [sys.executable, str(script), *map(str, arguments)],
        cwd=str(Path(script).parent),
        capture_output=True,
        text=True,
        timeout=timeout,
        env=environment,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"{script} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def compile_spec(path: str, overrides=()):
    """The real pipeline's program for an example spec, or None when it does not compile."""
    try:
        from specc.compiler import pipeline
    except ImportError:
        return None
    result = pipeline.check(path, lambda name: Path(REPOSITORY / name if not os.path.isabs(name) else name).read_bytes(), overrides)
    return result.program
