#!/usr/bin/env bash
# The main job: compile the MNIST example, report on the generated module, then train it
# briefly (one epoch of mini-batch EM on 10,000 training images) and print test bits per
# dimension. Data: MNIST if found, else Fashion-MNIST, looked for under $PCDSL_DATA_ROOT,
# ./data and ../shared/data; if neither is there, torchvision downloads MNIST (the
# tutorial's data set) into ./data (needs internet). The run goes to build/run, which this
# script owns: each run replaces the previous one there (--overwrite). The full recipe is
# in docs/training.md.
source "$(dirname "$0")/venv.sh"
mkdir -p build
echo "$ pcc examples/mnist.pc -o build/mnist.py"
TIMEFORMAT="compiled in %R s (wall, including interpreter start-up)"
time pcc examples/mnist.pc -o build/mnist.py
echo
pcc info examples/mnist.pc | head -16
echo
python -m pcdsl.runtime.summary build/mnist.py
echo

DATASET="" ROOT="" DOWNLOAD=""
for candidate in "${PCDSL_DATA_ROOT:-}" data ../shared/data; do
  [ -n "$candidate" ] || continue
  if [ -d "$candidate/MNIST/raw" ]; then DATASET=mnist ROOT="$candidate"; break; fi
  if [ -d "$candidate/FashionMNIST/raw" ] && [ -z "$DATASET" ]; then
    DATASET=fashion-mnist ROOT="$candidate"
  fi
done
if [ -z "$DATASET" ]; then
  echo "no MNIST or Fashion-MNIST found: asking torchvision to download MNIST into ./data"
  DATASET=mnist ROOT=data DOWNLOAD=--download
fi
echo "$ pcc train examples/mnist.pc --dataset $DATASET --data-root $ROOT --optimizer em --epochs 1 --train-limit 10000 --out build/run --overwrite"
pcc train examples/mnist.pc --dataset "$DATASET" --data-root "$ROOT" $DOWNLOAD --optimizer em \
  --epochs 1 --train-limit 10000 --out build/run --overwrite --samples 16
