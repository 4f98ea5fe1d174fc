#!/usr/bin/env bash
# Data-parallel training on every local GPU, per backend, in bf16: steps/s per device count.
#
#   benchmarks/gpu_check.sh [SPEC] [STEPS]      (default: specs/digits_mlp.mf 200)
#
# For each backend whose framework sees a GPU, the spec is compiled with
# train.precision = bf16 and run for STEPS steps on 1, 2, 4, ... devices and on all of them:
#   jax        python train.py --device gpu --devices N            (one process, a Mesh)
#   lightning  python train.py --device cuda --devices N           (ddp, NCCL)
#   lightning-fsdp  the same, compiled with train.parallel = sharded (Lightning's FSDP, which
#              needs CUDA: the only place it runs), then its last training loss beside ddp's
#   mlx        python train.py --device gpu                         (macOS: Metal, one GPU)
#              mlx.launch -n N --backend nccl ... train.py --device gpu   (Linux, MLX built with CUDA)
# Each line printed is "backend devices steps/s (global batches per second, steady state:
# the second half of the steps)" and, for N > 1, the speed-up over 1 device. Nothing is
# asserted: this is a check to run by hand on a GPU machine, not part of CI. Without a GPU
# it stops at once with one line and exit status 1.
set -euo pipefail

REPOSITORY="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SPEC="${1:-specs/digits_mlp.mf}"
STEPS="${2:-200}"
PYTHON="${PYTHON:-python}"

cuda_gpus() {  # the number of CUDA GPUs nvidia-smi lists (0 without nvidia-smi)
    if command -v nvidia-smi >/dev/null 2>&1; then
        nvidia-smi -L 2>/dev/null | grep -c '^GPU ' || true
    else
        echo 0
    fi
}

GPUS="$(cuda_gpus)"
METAL=0
if [[ "$(uname -s)" == "Darwin" ]] && "$PYTHON" -c 'import mlx.core as mx, sys; sys.exit(0 if mx.metal.is_available() else 1)' 2>/dev/null; then
    METAL=1
fi
if [[ "$GPUS" -eq 0 && "$METAL" -eq 0 ]]; then
    echo "gpu_check: no GPU on this machine (nvidia-smi lists no CUDA GPU and there is no Metal GPU); run it on a GPU machine" >&2
    exit 1
fi

counts() {  # 1 2 4 ... up to $1, then $1 itself
    local count=1
    while [[ "$count" -lt "$1" ]]; do echo "$count"; count=$((count * 2)); done
    echo "$1"
}

has() { "$PYTHON" -c "$1" >/dev/null 2>&1; }

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$REPOSITORY"

rate() {  # steady steps/s of the run directory $1 (benchmarks/steps_per_second.py's measure)
    "$PYTHON" -c "import sys; sys.path.insert(0, 'benchmarks'); from pathlib import Path; from steps_per_second import steady_rate; print(f'{steady_rate(Path(sys.argv[1]) / \"metrics.csv\", int(sys.argv[2])):.2f}')" "$1" "$STEPS"
}

measure() {  # backend devices command...: run it, print the line
    local backend="$1" devices="$2"; shift 2
    local out="$WORK/$backend-$devices"
    if ! "$@" --out-dir "$out" >"$out.log" 2>&1; then
        echo "$backend $devices FAILED: $(tail -n 1 "$out.log")"
        return
    fi
    local steps_per_s line
    steps_per_s="$(rate "$out")"
    line="$backend $devices $steps_per_s steps/s"
    if [[ "$devices" -eq 1 ]]; then
        BASE="$steps_per_s"
    elif [[ -n "${BASE:-}" ]]; then
        line+="$("$PYTHON" -c "print(f'  x{$steps_per_s / $BASE:.2f} over 1 device')")"
    fi
    echo "$line"
}

compile() {  # backend [name --set key=value ...] -> the script's path
    local backend="$1" name="${2:-$1}"; shift $(($# > 1 ? 2 : 1))
    local script="$WORK/train_$name.py" log_every=$((STEPS / 20 > 0 ? STEPS / 20 : 1))
    if ! specc compile "$SPEC" --backend "$backend" -o "$script" "$@" \
        --set train.precision=bf16 --set "train.max_steps=$STEPS" --set "train.log_every=$log_every" \
        --set "train.eval_every=$STEPS" --set "train.checkpoint.every=$STEPS" >"$script.log" 2>&1; then
        cat "$script.log" >&2
        exit 1
    fi
    echo "$script"
}

BASE=""
echo "gpu_check: $SPEC, $STEPS steps, bf16; $GPUS CUDA GPU(s), Metal: $METAL"
if [[ "$GPUS" -gt 0 ]] && has 'import jax, sys; sys.exit(0 if jax.devices("gpu") else 1)'; then
    BASE=""; script="$(compile jax)"
    for devices in $(counts "$GPUS"); do measure jax "$devices" "$PYTHON" "$script" --device gpu --devices "$devices"; done
else
    echo "jax: skipped (no GPU visible to JAX)"
fi
if [[ "$GPUS" -gt 0 ]] && has 'import lightning, torch, sys; sys.exit(0 if torch.cuda.device_count() else 1)'; then
    BASE=""; script="$(compile lightning)"
    for devices in $(counts "$GPUS"); do measure lightning "$devices" "$PYTHON" "$script" --device cuda --devices "$devices"; done
    BASE=""; script="$(compile lightning lightning-fsdp --set train.parallel=sharded)"
    for devices in $(counts "$GPUS"); do measure lightning-fsdp "$devices" "$PYTHON" "$script" --device cuda --devices "$devices"; done
    if [[ -f "$WORK/lightning-$GPUS/metrics.csv" && -f "$WORK/lightning-fsdp-$GPUS/metrics.csv" ]]; then
        "$PYTHON" -c "import sys; from specc.runtime.training import read_metrics
def last(run): return [row['value'] for row in read_metrics(run + '/metrics.csv') if row['split'] == 'train' and row['name'] == 'loss'][-1]
print(f'lightning $GPUS devices, last training loss: ddp {last(sys.argv[1]):.6g}, fsdp {last(sys.argv[2]):.6g}')" \
            "$WORK/lightning-$GPUS" "$WORK/lightning-fsdp-$GPUS"
    fi
else
    echo "lightning: skipped (no CUDA GPU visible to torch)"
fi
if [[ "$METAL" -eq 1 ]]; then
    script="$(compile mlx)"
    measure mlx 1 "$PYTHON" "$script" --device gpu
elif [[ "$GPUS" -gt 0 ]] && has 'import mlx.core as mx, sys; sys.exit(0 if mx.cuda.is_available() else 1)'; then
    script="$(compile mlx)"
    measure mlx 1 "$PYTHON" "$script" --device gpu
    for devices in $(counts "$GPUS"); do
        [[ "$devices" -eq 1 ]] && continue
        measure mlx "$devices" mlx.launch -n "$devices" --backend nccl --python "$(command -v "$PYTHON")" "$script" --device gpu
    done
else
    echo "mlx: skipped (MLX sees no GPU)"
fi
