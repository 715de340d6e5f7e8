#!/usr/bin/env bash
# The GPU checks of issue 14 in one run, sized for one lent H200 (about 8 minutes, so that
# a rerun still fits the 15 minutes a session has): the CUDA tests, the three-system
# benchmark (pcdsl, libcirkit, PyJuice) on the seed model and PyJuice's PD and HCLT, the
# fused Triton kernels against the torch path, and bf16 against fp32. Everything it prints
# also goes to $OUT (the device tool's folder that comes back), else build/gpu.
#
#   bash benchmarks/gpu_check.sh            # with torch, lark, jinja2, numpy, libcirkit and
#                                           # PyJuice (pip install --no-deps pyjuice==2.6.3)
#                                           # importable; data under $PCDSL_DATA_ROOT
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-build/gpu}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
PY="${PYTHON:-python3}"
step() { echo; echo "== $1 ($(date +%T))"; }
{
  step "machine"
  "$PY" -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__, torch.cuda.get_device_name())"
  step "CUDA tests"
  timeout 180 "$PY" -m pytest -q -p no:cacheprovider tests/codegen/kernels/test_fused.py \
    tests/codegen/test_squared.py tests/codegen/test_seed_model.py -k cuda
  step "three systems, float32 (seed, PyJuice's PD and HCLT)"
  timeout 300 "$PY" benchmarks/bench.py --device cuda --configs seed,pyjuice-pd,pyjuice-hclt \
    --systems pcdsl,libcirkit,pyjuice --threads 8 --compile-repeats 1 --quiet-wait 0 --retries 0
  step "pcdsl with its fused Triton kernels (FUSED_KERNELS on)"
  timeout 120 "$PY" benchmarks/bench.py --device cuda --configs seed,pyjuice-hclt --systems pcdsl \
    --fused-kernels --threads 8 --compile-repeats 1 --quiet-wait 0 --retries 0
  step "bf16 and tf32 against fp32, seed model, 1,000 test images"
  timeout 60 "$PY" benchmarks/precision.py examples/mnist.pc --limit 1000 --device cuda
} 2>&1 | tee "$OUT/gpu_check.txt"
