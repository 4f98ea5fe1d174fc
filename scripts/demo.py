"""The main job: compile every example spec for one backend and train each briefly.

    python scripts/demo.py [--backend jax|lightning|mlx] [--out runs/demo] [--only SPEC ...]

For each spec: ``specc lint``, ``specc compile --backend B --set ...`` (the spec's real sizes
shrunk so the whole demo takes minutes on a laptop CPU), then ``python train_<spec>.py
--out-dir <out>/<spec>``. At the end a table lists, per spec, the first and last logged train
loss and the last value of every validation metric (read from each run's metrics.csv).
The overrides below are the same kind the end-to-end tests use (tests/specs/).

Each command is echoed shell-quoted (``shlex.join``: it can be copied and run from the
repository's folder); its output goes to ``<out>/demo.log``. While a spec trains, the demo
prints which spec and backend it is and streams the script's own log lines (``step 50
train: loss 1.91, ...``), so there is no silent minute; a failing command ends the demo with
the last lines of its output.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
SHORT = ("train.precision=fp32",)
# spec -> (steps, overrides). Steps also bound the schedule (train.max_steps), so warmup and
# cosine fit the short run.
RUNS = {
    "digits_mlp": (300, ("train.eval_every=100", "train.log_every=50")),
    "ksin_flow": (
        200,
        ("k=2", "data.sizes=[2048, 256, 256]", "data.batch_size=64", "optimizer.lr=1e-3", "schedule.warmup=20",
         "eval.sampler=rk4(steps = 4, cfg_scale = 2.0)", "train.eval_every=100", "train.log_every=50"),
    ),
    "ksin_flow_transformer": (
        200,
        ("k=2", "signal_length=64", "num_layers=2", "d_model=32", "conditioning_dim=16", "num_heads=4",
         "d_ff=64", "num_tokens=4", "d_enc=16", "data.sizes=[2048, 256, 256]", "data.batch_size=64",
         "optimizer.lr=1e-3", "schedule.warmup=20", "eval.sampler=rk4(steps = 4, cfg_scale = 4.0)",
         "train.eval_every=100", "train.log_every=50"),
    ),
    "meanflow_audio": (
        200,
        ("window=256", "mdct_window=32", "patch_length=16", "latent_dimension=32", "condition_dimension=16",
         "mixer_blocks=2", "token_mix_dim=64", "channel_mix_dim=64", "num_channels=16", "num_latent_tokens=8",
         "data.sizes=[1024, 128, 128]", "data.batch_size=32", "optimizer.lr=1e-3", "train.eval_every=100",
         "train.log_every=50"),
    ),
    "audio_classifier": (
        60,
        ("length=1920", "n_fft=256", "hop=128", "n_mels=16", "data.sizes=[512, 128, 128]", "data.batch_size=32",
         "schedule.warmup=5", "schedule.total=60", "train.eval_every=30", "train.log_every=10"),
    ),
    "astro_lm": (
        100,
        ("d_model=64", "n_layers=2", "n_heads=4", "d_ff=128", "max_len=64", "image_vocabulary=32",
         "scalar_vocabulary=16", "spectrum_vocabulary=32", "data.sequence_length=48", "data.image_tokens=16",
         "data.scalar_tokens=8", "data.spectrum_tokens=16", "data.sizes=[2048, 128, 128]", "data.batch_size=32",
         "sample_k=256", "optimizer.lr=1e-3", "schedule.warmup=10", "train.eval_every=50", "train.log_every=25",
         "train.checkpoint.every=50"),
    ),
    "audio_vae_gan": (
        40,
        ("length=2048", "base_channels=8", "latent_dim=8", "stages=[[1, 2], [2, 4]]", "dilations=[1]",
         "stft_filters=8", "n_ffts=[256, 128]", "msd_scales=[1, 2]", "mpd_periods=[2, 3]",
         "mpd_stages=[[8, 3], [16, 1]]", "msd_layers=[[8, 15, 1, 1, 7], [16, 41, 4, 4, 20], [16, 5, 1, 1, 2]]",
         "stft_resolutions=[256, 128]", "data.sizes=[128, 16, 16]", "data.batch_size=8", "train.eval_every=20",
         "train.log_every=10", "train.checkpoint.every=20"),
    ),
    "nanogpt_char": (
        100,
        ("schedule.warmup=10", "schedule.total=100", "data.eval_windows=64", "train.eval_every=50",
         "train.log_every=25"),
    ),
    # the user's own code (docs/language.md "Extending specc"): seed 000's path, time sampler
    # and loss; seed 002's compute_loss and callback; a user data source; a user function
    "seed000_custom": (100, ("train.eval_every=50", "train.log_every=25")),
    "seed002_quick": (100, ("train.eval_every=50", "train.log_every=25", "train.checkpoint.every=50")),
    "seed002_callbacks": (100, ("train.eval_every=50", "train.log_every=20")),
    "user_data": (100, ("train.eval_every=50", "train.log_every=25")),
    "user_function": (100, ("train.eval_every=50", "train.log_every=25")),
}
# specs that are not seed specs (specs/<name>.mf) but examples, with their own data beside them
PATHS = {
    name: f"specs/examples/{name}.mf"
    for name in ("nanogpt_char", "seed000_custom", "seed002_quick", "seed002_callbacks", "user_data", "user_function")
}


# the lines a generated script prints as it trains (MetricsLog's echo), streamed to the console
PROGRESS_LINE = re.compile(r"step \d+ (train|val|test): ")
TAIL_LINES = 20  # of a failing command's output, printed before the demo stops


def command(*words) -> list[str]:
    """The words of a command as strings; paths inside the repository relative to it (the
    commands run there), so an echoed command is short and can be copied."""
    return [_relative(word) if isinstance(word, Path) else str(word) for word in words]


def _relative(path: Path) -> str:
    try:
        return str(path.relative_to(REPOSITORY))
    except ValueError:
        return str(path)


def run(words: list[str], log, prefix: str | None = None) -> None:
    """Run one command from the repository, echoed shell-quoted; its output goes to ``log``.
    With ``prefix``, the script's progress lines (``step N train: ...``) are also printed as
    they come, after ``prefix``. A failure stops the demo with the command's last lines."""
    print("$", shlex.join(words), flush=True)
    log.write(f"$ {shlex.join(words)}\n")
    log.flush()
    environment = dict(os.environ, PYTHONUNBUFFERED="1")
    with subprocess.Popen(
        words, cwd=REPOSITORY, env=environment, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        errors="replace",
    ) as process:
        tail = []
        for line in process.stdout:
            log.write(line)
            tail = (tail + [line])[-TAIL_LINES:]
            if prefix is not None and PROGRESS_LINE.match(line):
                print(f"{prefix}{line.rstrip()}", flush=True)
    log.flush()
    if process.returncode != 0:
        sys.stdout.write("".join(tail))
        sys.exit(f"failed ({process.returncode}): {shlex.join(words)}\nthe whole output: {log.name}")


def summary(metrics_csv: Path) -> dict:
    """First and last train loss and the last value of each val metric."""
    from specc.runtime import training

    rows = training.read_metrics(metrics_csv)
    # flows: the weighted loss stays near 1 while the unweighted mse falls: show the mse; the
    # GAN's generator loss mixes in the adversarial terms: show its reconstruction
    logged = {row["name"] for row in rows if row["split"] == "train"}
    name = next(name for name in ("mse", "reconstruction", "loss") if name in logged or name == "loss")
    losses = [row["value"] for row in rows if row["split"] == "train" and row["name"] == name]
    val = {row["name"]: row["value"] for row in rows if row["split"] == "val"}
    first, last = (losses[0], losses[-1]) if losses else (float("nan"), float("nan"))
    return {"name": name, "first": first, "last": last, "val": val}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="jax", choices=("jax", "lightning", "mlx"))
    parser.add_argument("--out", default="runs/demo")
    parser.add_argument("--only", nargs="*", choices=sorted(RUNS), help="run only these specs")
    arguments = parser.parse_args(argv)
    out = REPOSITORY / arguments.out
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    results = {}
    specs = arguments.only or list(RUNS)
    with open(out / "demo.log", "w") as log:
        run(command("specc", "lint", "specs/"), log)
        for number, spec in enumerate(specs, 1):
            steps, overrides = RUNS[spec]
            print(f"\n[{number}/{len(specs)}] {spec}: {steps} steps on {arguments.backend}", flush=True)
            script = out / f"train_{spec}.py"
            sets = [word for item in (*SHORT, f"train.max_steps={steps}", *overrides) for word in ("--set", item)]
            run(command("specc", "compile", PATHS.get(spec, f"specs/{spec}.mf"), "--backend", arguments.backend, "-o", script, *sets), log)
            started = time.time()
            run(command(sys.executable, script, "--out-dir", out / spec), log, prefix=f"  {spec}: ")
            seconds = time.time() - started
            print(f"  {spec}: done, {steps} steps in {seconds:.0f} s", flush=True)
            results[spec] = {**summary(out / spec / "metrics.csv"), "seconds": seconds, "steps": steps}
    print(f"\n{'spec':<24}{'steps':>6}{'train loss first -> last':>30}{'s':>7}  last validation values")
    for spec, result in results.items():
        val = ", ".join(f"{name} {value:.4g}" for name, value in sorted(result["val"].items()))
        losses = f"{result['name']} {result['first']:.4g} -> {result['last']:.4g}"
        print(f"{spec:<24}{result['steps']:>6}{losses:>30}{result['seconds']:>7.0f}  {val}")
    print(f"\nscripts, runs and metrics.csv files: {out} (log: {out / 'demo.log'})")


if __name__ == "__main__":
    main()
