"""The run directory: guard against overwriting a run, resolve ``--resume``, and write
``spec.resolved.mf``, a copy of the script and the package versions."""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from specc.runtime.training import checkpoints

SPEC_FILE = "spec.resolved.mf"
SCRIPT_FILE = "train.py"
PACKAGES_FILE = "packages.json"


@dataclass
class RunStart:
    """Where the run lives and which checkpoint (if any) it starts from."""

    run_dir: Path
    checkpoint: Path | None


def resolve_start(out_dir, resume: str | None, eval_only: bool = False) -> RunStart:
    """Apply the rules of ``--out-dir`` / ``--resume``; exit with a message when refused.

    - no ``--resume``: a run directory that already holds checkpoints is refused;
    - ``--resume auto``: the checkpoint ``last`` points at, or a fresh start (with a message);
    - ``--resume PATH``: that checkpoint directory;
    - ``--eval-only``: ``--resume`` defaults to auto and a checkpoint is required.
    """
    run_dir = Path(out_dir)
    if eval_only and resume is None:
        resume = "auto"
    if resume is None:
        if checkpoints.list_checkpoints(run_dir) or checkpoints.latest_checkpoint(run_dir):
            sys.exit(
                f"run directory {str(run_dir)!r} already holds checkpoints; pass --resume auto to "
                f"continue that run, or choose another --out-dir"
            )
        return RunStart(run_dir, None)
    if resume == "auto":
        found = checkpoints.latest_checkpoint(run_dir)
        if found is None:
            if eval_only:
                sys.exit(f"--eval-only: no checkpoint in {str(run_dir)!r}; pass --resume PATH")
            print(f"specc: no checkpoint in {str(run_dir)!r}: starting a fresh run", file=sys.stderr)
        return RunStart(run_dir, found)
    path = Path(resume)
    if not (path / checkpoints.MANIFEST).is_file():
        sys.exit(f"--resume {resume!r}: not a checkpoint directory (no {checkpoints.MANIFEST})")
    return RunStart(run_dir, path.resolve())


def prepare_run_directory(run_dir, resolved_spec: str, script_path, packages: dict) -> None:
    """Create the run directory, clear temporaries of a killed writer, write the run files."""
    run_dir = Path(run_dir)
    (run_dir / checkpoints.CHECKPOINTS).mkdir(parents=True, exist_ok=True)
    checkpoints.remove_temporaries(run_dir)
    (run_dir / SPEC_FILE).write_text(resolved_spec, encoding="utf-8")
    if script_path is not None and Path(script_path).is_file():
        source = Path(script_path).resolve()
        target = (run_dir / SCRIPT_FILE).resolve()
        if source != target:
            shutil.copyfile(source, target)
    with open(run_dir / PACKAGES_FILE, "w", encoding="utf-8") as handle:
        json.dump(packages, handle, indent=2, sort_keys=True)
        handle.write("\n")
