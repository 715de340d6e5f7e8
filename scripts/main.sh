#!/usr/bin/env bash
# The main job: compile the MNIST example and report on the generated module.
source "$(dirname "$0")/venv.sh"
mkdir -p build
echo "$ pcc examples/mnist.pc -o build/mnist.py"
start=$(date +%s.%N)
pcc examples/mnist.pc -o build/mnist.py
end=$(date +%s.%N)
printf "compiled in %.2f s\n\n" "$(echo "$end - $start" | bc 2>/dev/null || python3 -c "print($end - $start)")"
pcc info examples/mnist.pc | head -12
echo
python -m pcdsl.runtime.summary build/mnist.py
