#!/usr/bin/env bash
# The GPU checks of issue 14 in one run, sized for one call of the device tool on a lent
# H200 (each stage has its own time limit, together under the call's 10 minutes): the
# CUDA tests, the three-system benchmark (pcdsl, libcirkit, PyJuice) on the seed model and
# on PyJuice's HCLT and PD, short EM runs of the GPU-scale specs, the fused Triton kernels
# against the torch path, and bf16 and tf32 against fp32. Everything it prints goes to
# $OUT/gpu_check.txt (the device tool's folder that comes back), else build/gpu/, with the
# EM runs' metrics.jsonl beside it.
#
#   bash benchmarks/gpu_prepare.sh              # here, first: wheels and data to carry
#   bash benchmarks/gpu_check.sh                # there: every stage, in this order
#   bash benchmarks/gpu_check.sh em-hclt fused  # there: only these stages (a rerun)
#   GPU_CHECK_REHEARSAL=1 bash benchmarks/gpu_check.sh   # here, on the CPU: every command
#                                               # at a tiny size, the benchmarks as --dry-run
#
# Stages: tests bench-seed bench-hclt bench-pd em-hclt fused precision em-pd, then two that
# run only when named: compile (the seed model through torch.compile in reduce-overhead
# mode, CUDA graphs: whether `pcc train --device cuda` should capture by default) and
# suite (the whole test suite on the GPU machine's torch).
# Wheels in .whl/ are installed into a temporary folder first; Fashion-MNIST in
# .gpu/data/ is unpacked into a temporary data root (both from gpu_prepare.sh).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-build/gpu}"
mkdir -p "$OUT"
LOG="$OUT/gpu_check.txt"
PY="${PYTHON:-python3}"
SCRATCH="${TMPDIR:-/tmp}/pcdsl-gpu-check"
REHEARSAL="${GPU_CHECK_REHEARSAL:-}"
DEVICE=cuda
DRY=()
if [[ -n "$REHEARSAL" ]]; then
  DEVICE=cpu
  DRY=(--dry-run)
fi
DEFAULT_STAGES=(tests bench-seed bench-hclt bench-pd em-hclt fused precision em-pd)
ALL_STAGES=("${DEFAULT_STAGES[@]}" compile suite)  # the last two only when named
STAGES=("${DEFAULT_STAGES[@]}")
(($#)) && STAGES=("$@")
for stage in "${STAGES[@]}"; do  # every name checked before anything runs
  if [[ ! " ${ALL_STAGES[*]} " =~ " $stage " ]]; then
    echo "gpu_check: no stage '$stage' (stages: ${ALL_STAGES[*]})" | tee "$LOG"
    exit 2
  fi
done
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

say() { echo "$*" | tee -a "$LOG"; }

# run_stage NAME SECONDS COMMAND...: the command under a time limit, its output in the log.
run_stage() {
  local name=$1 limit=$2
  shift 2
  say ""
  say "== $name (limit ${limit} s, $(date +%T))"
  local started=$SECONDS
  timeout "$limit" "$@" 2>&1 | tee -a "$LOG"
  local status=${PIPESTATUS[0]}
  local note=""
  [[ $status == 124 ]] && note=", stopped at its time limit"
  say "== $name: exit $status after $((SECONDS - started)) s$note"
}

# em_run NAME SPEC SECONDS FLAGS...: a short EM training run; its metrics.jsonl comes back.
em_run() {
  local name=$1 spec=$2 limit=$3
  shift 3
  local sizes=(--epochs 2 --valid 5000)
  [[ -n "$REHEARSAL" ]] && sizes=(--epochs 1 --train-limit 256 --valid 64 --test-limit 128)
  local run="$SCRATCH/runs/$name-$(date +%s)"  # a fresh folder: never over an earlier run
  run_stage "$name" "$limit" "$PY" -m pcdsl train "$spec" --dataset fashion-mnist \
    --device "$DEVICE" --optimizer em "$@" "${sizes[@]}" --no-progress --samples 0 --out "$run"
  [[ -f "$run/metrics.jsonl" ]] && cp "$run/metrics.jsonl" "$OUT/$name.metrics.jsonl"
}

bench() {  # bench NAME SECONDS ARGS...: bench.py on the device, short timed loops
  local name=$1 limit=$2
  shift 2
  run_stage "$name" "$limit" "$PY" benchmarks/bench.py --device "$DEVICE" --threads 8 \
    --steps 5 --warmup 2 --budget 5 --compile-repeats 1 --quiet-wait 0 --retries 0 \
    --timeout "$((limit - 10))" "${DRY[@]}" "$@"
}

: > "$LOG"
say "gpu_check: stages ${STAGES[*]}${REHEARSAL:+ (rehearsal on the CPU)}"
if compgen -G ".whl/*.whl" > /dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$SCRATCH/site" .whl/*.whl 2>&1 | tee -a "$LOG"
  export PYTHONPATH="$PYTHONPATH:$SCRATCH/site"  # after the repo and the machine's own
fi
if compgen -G ".gpu/data/*.gz" > /dev/null; then
  mkdir -p "$SCRATCH/data/FashionMNIST/raw"
  for packed in .gpu/data/*.gz; do
    gunzip -c "$packed" > "$SCRATCH/data/FashionMNIST/raw/$(basename "$packed" .gz)"
  done
  export PCDSL_DATA_ROOT="$SCRATCH/data"
fi
say "== machine ($(date +%T))"
"$PY" - 2>&1 <<'EOF' | tee -a "$LOG"
import importlib.metadata as metadata

import torch

names = ("lark", "jinja2", "numpy", "libcirkit", "pyjuice", "triton", "torchvision")
versions = []
for name in names:
    try:
        versions.append(f"{name} {metadata.version(name)}")
    except metadata.PackageNotFoundError:
        versions.append(f"{name} missing")
device = torch.cuda.get_device_name() if torch.cuda.is_available() else "no CUDA device"
print(f"torch {torch.__version__}, {device}; " + ", ".join(versions))
EOF

for stage in "${STAGES[@]}"; do
  case "$stage" in
    tests)
      run_stage tests 80 "$PY" -m pytest -q -p no:cacheprovider -k cuda \
        tests/codegen/kernels/test_fused.py tests/codegen/test_squared.py \
        tests/codegen/test_seed_model.py ;;
    bench-seed) bench bench-seed 70 --configs seed --systems pcdsl,libcirkit ;;
    bench-hclt) bench bench-hclt 90 --configs pyjuice-hclt --systems pcdsl,libcirkit,pyjuice ;;
    bench-pd) bench bench-pd 110 --configs pyjuice-pd --systems pcdsl,libcirkit,pyjuice ;;
    em-hclt)
      em_run em-hclt examples/fashion_hclt256.pc 80 --em-step-size 0.2 --em-step-decay 0.9993 ;;
    em-pd) em_run em-pd examples/fashion_pd128.pc 60 ;;
    fused) bench fused 40 --configs seed --systems pcdsl --fused-kernels ;;
    precision)
      limit=1000
      [[ -n "$REHEARSAL" ]] && limit=64
      run_stage precision 30 "$PY" benchmarks/precision.py examples/mnist.pc --limit "$limit" \
        --device "$DEVICE" ;;
    compile) bench compile 240 --configs seed --systems pcdsl --torch-compile reduce-overhead ;;
    suite) run_stage suite 300 "$PY" -m pytest -q -p no:cacheprovider -x -n 8 tests ;;
  esac
done
say ""
say "gpu_check: done after $SECONDS s"
