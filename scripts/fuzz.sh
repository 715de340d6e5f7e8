#!/usr/bin/env bash
# The long fuzz run: N cases (default 10000) of mutated, random and schema-built specs
# through the compiler and `pcc compile`; prints the number of cases and of failures
# last, and exits 1 when any case failed. Failing specs are saved in ./fuzz-failures/.
#   scripts/fuzz.sh [N] [--seed S] [--failures DIR]
source "$(dirname "$0")/venv.sh"
python -m tests.fuzz.run "$@"
