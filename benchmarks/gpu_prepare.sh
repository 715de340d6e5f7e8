#!/usr/bin/env bash
# Gets everything benchmarks/gpu_check.sh needs on a lent GPU machine that the machine
# lacks, here, before any device time is spent: the wheels of the packages its image does
# not hold (lark, libcirkit and its graphviz, PyJuice 2.6.3; all pure Python) in .whl/, and
# Fashion-MNIST, gzipped, in .gpu/data/ (both folders are git-ignored; they travel as the
# device call's `carry`). Then it prints the call to make.
#
#   bash benchmarks/gpu_prepare.sh [DATA_ROOT]   # default $PCDSL_DATA_ROOT, else ../shared/data
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="${1:-${PCDSL_DATA_ROOT:-../shared/data}}"
RAW="$ROOT/FashionMNIST/raw"
PY="${PYTHON:-python3}"
FILES=(train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte)
# lark: the version the shipped parse tables were built with (another would rebuild them
# at every start); the rivals: the versions the benchmarks were written against.
LARK=$("$PY" -c "import json; print(json.load(open('pcdsl/syntax/parse_tables.json'))['lark_version'])")
# The machine's Python is 3.12 on x86-64 (the device tool's KINDS.md).
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 -d .whl \
  "lark==$LARK" libcirkit==0.3.1 graphviz==0.21 pyjuice==2.6.3
mkdir -p .gpu/data
for name in "${FILES[@]}"; do
  if [[ ! -f "$RAW/$name" ]]; then
    echo "gpu_prepare: $RAW/$name is missing (pass the torchvision data root)" >&2
    exit 1
  fi
  if [[ ! -f ".gpu/data/$name.gz" || "$RAW/$name" -nt ".gpu/data/$name.gz" ]]; then
    gzip -c "$RAW/$name" > ".gpu/data/$name.gz.part"
    mv ".gpu/data/$name.gz.part" ".gpu/data/$name.gz"
  fi
done
for folder in .whl .gpu; do
  git check-ignore -q "$folder/" || { echo "gpu_prepare: $folder/ is not git-ignored" >&2; exit 1; }
done
echo "prepared: $(du -sh .whl | cut -f1) of wheels, $(du -sh .gpu | cut -f1) of data"
cat <<'EOF'
then call the device tool once:
  run  command: bash benchmarks/gpu_check.sh
       carry:   [".whl", ".gpu"]
       timeout_s: 590
(a rerun of some stages: bash benchmarks/gpu_check.sh STAGE ...; see the script's header)
EOF
