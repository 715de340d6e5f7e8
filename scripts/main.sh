#!/usr/bin/env bash
# The main job: compile the MNIST example and report on the generated module.
source "$(dirname "$0")/venv.sh"
mkdir -p build
echo "$ pcc examples/mnist.pc -o build/mnist.py"
TIMEFORMAT="compiled in %R s (wall, including interpreter start-up)"
time pcc examples/mnist.pc -o build/mnist.py
echo
pcc info examples/mnist.pc | head -13
echo
python -m pcdsl.runtime.summary build/mnist.py
