"""benchmarks/gpu_check.sh: its rehearsal on the CPU runs the benchmark stages' commands as
dry runs, logs each stage's exit status, and an unknown stage is refused."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks" / "gpu_check.sh"

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="a bash script")


def run_check(tmp_path: Path, *stages: str) -> tuple[subprocess.CompletedProcess, str]:
    out = tmp_path / "out"
    env = {**os.environ, "GPU_CHECK_REHEARSAL": "1", "OUT": str(out), "PYTHON": sys.executable,
           "TMPDIR": str(tmp_path)}
    process = subprocess.run(["bash", str(SCRIPT), *stages], capture_output=True, text=True,
                             env=env, cwd=tmp_path, timeout=300)
    log = out / "gpu_check.txt"
    return process, log.read_text() if log.exists() else ""


def test_the_rehearsal_runs_every_benchmark_stage_as_a_dry_run(tmp_path):
    process, log = run_check(tmp_path, "bench-seed", "bench-hclt", "bench-pd", "fused", "compile")
    assert process.returncode == 0, process.stdout + process.stderr
    assert "rehearsal on the CPU" in log
    for stage, config in (("bench-seed", "seed"), ("bench-hclt", "pyjuice-hclt"),
                          ("bench-pd", "pyjuice-pd"), ("fused", "seed"), ("compile", "seed")):
        section = log.split(f"== {stage} (", 1)[1].split(f"== {stage}: ", 1)
        assert "would measure pcdsl" in section[0] and f"  {config} (batch 256)" in section[0]
        assert section[1].startswith("exit 0 after ")
    assert "gpu_check: done after" in log


def test_an_unknown_stage_is_refused_with_the_list_of_stages(tmp_path):
    process, log = run_check(tmp_path, "bench-sede")
    assert process.returncode == 2
    assert "no stage 'bench-sede'" in log and "bench-seed" in log and "compile suite" in log
    assert "== machine" not in log  # refused before anything ran
