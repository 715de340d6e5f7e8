#!/usr/bin/env bash
# The whole test suite (extra arguments go to pytest).
source "$(dirname "$0")/venv.sh"
python -m pytest "$@"
