"""The run directory: lock it, guard against overwriting a run or its history, resolve
``--resume`` (verifying the checkpoint, falling back past damaged ones, refusing another
spec's), and write ``spec.resolved.mf``, a copy of the script and the package versions."""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from specc.runtime.training import checkpoints
from specc.runtime.training.failures import DamagedCheckpoint, storage_failure
from specc.runtime.training.distributed import is_main_process
from specc.runtime.training.lock import lock_run_directory

SPEC_FILE = "spec.resolved.mf"
SCRIPT_FILE = "train.py"
PACKAGES_FILE = "packages.json"
METRICS_FILE = "metrics.csv"
CHECKPOINTS = checkpoints.CHECKPOINTS  # the default checkpoint folder (train.checkpoint.dirpath)


@dataclass
class RunStart:
    """Where the run lives and which checkpoint (if any) it starts from; ``loaded``: that
    checkpoint read and verified (``start_run``)."""

    run_dir: Path
    checkpoint: Path | None
    loaded: checkpoints.Checkpoint | None = None


def start_run(arguments, spec_name: str, spec_hash: str, checkpoint_folder: str | None = CHECKPOINTS) -> RunStart:
    """The start of every script: lock the run directory (``--out-dir``) for this process,
    link its ``checkpoints`` to the spec's checkpoint folder (``checkpoint_folder``:
    ``train.checkpoint.dirpath``; None: ``enable = false``, the run writes none), then
    :func:`resolve_start` with the script's spec and ``--allow-different-spec``."""
    if is_main_process():  # the other ranks of a data-parallel run share rank 0's directory
        lock_run_directory(arguments.out_dir)
        if checkpoint_folder is not None:
            link_checkpoint_folder(arguments.out_dir, checkpoint_folder)
    predicting = getattr(arguments, "predict", None) is not None  # --predict reads a checkpoint as --eval-only does
    return resolve_start(
        arguments.out_dir,
        arguments.resume,
        arguments.eval_only or predicting,
        spec=(spec_name, spec_hash),
        allow_different_spec=getattr(arguments, "allow_different_spec", False),
        checkpointing=checkpoint_folder is not None,
        flag="--predict" if predicting else "--eval-only",
    )


def link_checkpoint_folder(run_dir, folder: str) -> None:
    """Make ``<run>/checkpoints`` a symbolic link to ``folder`` (``train.checkpoint.dirpath``:
    relative to the run directory, or absolute), creating the folder: whatever finds a run's
    checkpoints through ``<run>/checkpoints`` (``--resume auto``, ``last``, top-k, ``specc
    inspect RUN``, ``specc.load_model(RUN)``) follows it. Nothing is done for the default
    folder; an empty ``checkpoints`` folder is replaced, one holding files is refused."""
    run_dir = Path(run_dir)
    link = run_dir / checkpoints.CHECKPOINTS
    target = run_dir / folder
    if os.path.abspath(target) == os.path.abspath(link):
        return
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        target.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() and os.readlink(link) == folder:
            return
        if not link.is_symlink() and link.is_dir():
            if any(link.iterdir()):
                sys.exit(
                    f"run directory {str(run_dir)!r} holds checkpoints in its own {str(link)!r}, but this script "
                    f"writes them to {folder!r} (train.checkpoint.dirpath): move that folder away, or choose "
                    f"another --out-dir"
                )
            link.rmdir()
        checkpoints.replace_symlink(link, folder)
    except OSError as error:
        raise storage_failure(error, f"linking {str(link)!r} to the checkpoint folder {folder!r}") from error


def resolve_start(
    out_dir,
    resume: str | None,
    eval_only: bool = False,
    spec=None,
    allow_different_spec: bool = False,
    checkpointing: bool = True,
    flag: str = "--eval-only",
) -> RunStart:
    """Apply the rules of ``--out-dir`` / ``--resume``; exit with one line when refused.

    - no ``--resume``: a run directory that already holds checkpoints is refused;
    - ``--resume auto``: the checkpoint ``last`` points at when it verifies, else the newest
      one that does (one line per checkpoint skipped, saying why), else a fresh start;
    - ``--resume PATH``: that checkpoint directory, which must verify;
    - ``--eval-only``: ``--resume`` defaults to auto and a checkpoint is required;
    - a fresh start never overwrites the rows of an earlier run's ``metrics.csv``;
    - ``spec``: ``(name, sha256)`` of the script: resuming from a checkpoint of another spec
      is refused unless ``allow_different_spec`` (``--eval-only`` evaluates any checkpoint
      whose weights fit the model);
    - ``checkpointing`` False (``train.checkpoint.enable = false``): ``--resume`` is refused
      (there is nothing to resume) and ``--eval-only`` needs ``--resume PATH``;
    - ``flag``: the option reading a checkpoint, named in messages (``--eval-only``, ``--predict``).
    """
    run_dir = Path(out_dir)
    if not checkpointing:
        refuse_without_checkpoints(run_dir, resume, eval_only, flag)
    if eval_only and resume is None:
        resume = "auto"
    if resume is None:
        if checkpoints.checkpoint_directories(run_dir) or (run_dir / checkpoints.CHECKPOINTS / checkpoints.LAST).is_symlink():
            sys.exit(
                f"run directory {str(run_dir)!r} already holds checkpoints; pass --resume auto to "
                f"continue that run, or choose another --out-dir"
            )
        refuse_to_overwrite_history(run_dir, "")
        return RunStart(run_dir, None)
    if resume == "auto":
        loaded, skipped = newest_verified(run_dir)
        for line in skipped:
            print(f"specc: --resume auto: skipping {line}", file=sys.stderr)
        if loaded is None:
            if eval_only:
                sys.exit(f"{flag}: no checkpoint in {str(run_dir)!r} verifies; pass --resume PATH")
            refuse_to_overwrite_history(run_dir, f" ({len(skipped)} damaged checkpoint(s) skipped)" if skipped else "")
            print(f"specc: no checkpoint in {str(run_dir)!r}: starting a fresh run", file=sys.stderr)
            return RunStart(run_dir, None)
        if skipped:
            print(f"specc: --resume auto: resuming from {str(loaded.path)!r} (step {loaded.step})", file=sys.stderr)
    else:
        path = Path(resume)
        if not path.is_dir() or not (path / checkpoints.MANIFEST).exists():
            sys.exit(f"--resume {resume!r}: not a checkpoint directory (no {checkpoints.MANIFEST})")
        try:
            loaded = checkpoints.read_checkpoint(path)
        except DamagedCheckpoint as error:
            sys.exit(f"--resume {resume!r}: the checkpoint is damaged: {error}")
    if not eval_only and loaded.manifest.get("imported_from"):  # specc import-checkpoint: weights only
        sys.exit(
            f"--resume {resume}: checkpoint {str(loaded.path)!r} holds weights imported from "
            f"{loaded.manifest['imported_from']!r}, without the optimizer and data state a resume continues; "
            f"start from its weights with train.warm_start = {str(loaded.path)!r}"
        )
    if not eval_only:  # evaluating weights under other settings is fine: they must only fit the model
        check_same_spec(loaded, spec, allow_different_spec)
    return RunStart(run_dir, loaded.path, loaded)


def refuse_without_checkpoints(run_dir: Path, resume: str | None, eval_only, flag: str = "--eval-only") -> None:
    """Exit with one line when a run that writes no checkpoint is asked to resume one."""
    why = "this script writes no checkpoint (train.checkpoint.enable = false)"
    if eval_only and resume in (None, "auto"):
        sys.exit(f"{flag}: {why}, so run directory {str(run_dir)!r} has none to evaluate; pass --resume PATH")
    if resume is not None and not eval_only:
        sys.exit(
            f"--resume {resume}: nothing to resume: {why}; run it without --resume (with another "
            f"--out-dir to keep this run's metrics.csv)"
        )


def newest_verified(run_dir) -> tuple[checkpoints.Checkpoint | None, list[str]]:
    """The checkpoint ``last`` points at when it verifies, else the newest (by manifest step)
    that verifies; and one line per checkpoint skipped on the way, saying why."""
    root = Path(run_dir) / checkpoints.CHECKPOINTS
    last = root / checkpoints.LAST
    skipped: list[str] = []
    target = None
    if last.is_symlink():
        target = last.resolve()
        if not target.is_dir():
            skipped.append(f"{str(last)!r}: it points at {os.readlink(last)!r}, which does not exist")
            target = None
        else:
            try:
                return checkpoints.read_checkpoint(target), skipped
            except DamagedCheckpoint as error:
                skipped.append(f"{str(last)!r} -> {os.readlink(last)!r}: {_reason(error, target)}")
    candidates = []
    for directory in checkpoints.checkpoint_directories(run_dir):
        if target is not None and directory.resolve() == target:
            continue
        try:
            candidates.append((checkpoints.read_manifest(directory)["step"], directory))
        except DamagedCheckpoint as error:
            skipped.append(f"{str(directory)!r}: {_reason(error, directory)}")
    for _, directory in sorted(candidates, reverse=True):
        try:
            return checkpoints.read_checkpoint(directory), skipped
        except DamagedCheckpoint as error:
            skipped.append(f"{str(directory)!r}: {_reason(error, directory)}")
    return None, skipped


def _reason(error: Exception, directory: Path) -> str:
    """The error's message without its leading ``checkpoint '<directory>'``."""
    text = str(error)
    for prefix in (f"checkpoint {str(directory)!r}: ", f"checkpoint {str(directory)!r} "):
        if text.startswith(prefix):
            return text[len(prefix):]
    return text


def check_same_spec(loaded: checkpoints.Checkpoint, spec, allow_different_spec: bool) -> None:
    """Exit when ``loaded`` was trained from another spec than ``spec`` = ``(name, sha256)``."""
    if spec is None or allow_different_spec:
        return
    name, digest = spec
    theirs = (loaded.manifest.get("spec_name"), loaded.manifest.get("spec_hash"))
    if theirs[1] is None or theirs == (name, digest):
        return
    sys.exit(
        f"checkpoint {str(loaded.path)!r} was trained from spec {theirs[0]!r} (sha256 {str(theirs[1])[:12]}), "
        f"but this script is spec {name!r} (sha256 {digest[:12]}); to start from it anyway pass "
        f"--resume PATH --allow-different-spec, or choose another --out-dir"
    )


def refuse_to_overwrite_history(run_dir: Path, why: str) -> None:
    """Exit when ``metrics.csv`` holds rows: a fresh start would overwrite them."""
    path = run_dir / METRICS_FILE
    if not path.is_file():
        return
    with open(path, encoding="utf-8", errors="replace") as handle:
        rows = sum(1 for line in handle if line.strip()) - 1
    if rows > 0:
        sys.exit(
            f"run directory {str(run_dir)!r} has no checkpoint to resume{why} but its {METRICS_FILE} holds "
            f"{rows} rows of an earlier run; refusing to start over and overwrite them: move {METRICS_FILE} "
            f"away, or choose another --out-dir"
        )


def prepare_run_directory(run_dir, resolved_spec: str, script_path, packages: dict) -> None:
    """Create the run directory, clear temporaries of a killed writer, write the run files;
    ``RunError`` when the directory cannot be written (read-only, disk full)."""
    run_dir = Path(run_dir)
    if not is_main_process():  # rank 0 writes the run files
        return
    try:
        run_dir.mkdir(parents=True, exist_ok=True)  # checkpoints/: at the first checkpoint (or start_run's link)
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
    except OSError as error:
        raise storage_failure(error, f"writing the run files of {str(run_dir)!r}") from error
