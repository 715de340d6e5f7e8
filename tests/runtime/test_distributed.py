"""Data-parallel training under torchrun: two CPU processes (gloo) take the same steps as
one process on the same global batches."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

WORKER = Path(__file__).with_name("ddp_worker.py")
ROOT = Path(__file__).resolve().parents[2]


def _run(command: list[str], tmp: Path) -> None:
    environment = {k: v for k, v in os.environ.items()
                   if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    environment["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(command, cwd=tmp, env=environment, capture_output=True, text=True,
                          timeout=240)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed missing")
@pytest.mark.parametrize("optimizer", ["adam", "em"])
def test_two_processes_match_one(tmp_path, optimizer):
    two, one = tmp_path / "two", tmp_path / "one"
    two.mkdir()
    one.mkdir()
    _run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
          str(WORKER), str(two), optimizer], tmp_path)
    _run([sys.executable, str(WORKER), str(one), optimizer], tmp_path)
    rank0 = torch.load(two / "rank0.pt", weights_only=True)
    rank1 = torch.load(two / "rank1.pt", weights_only=True)
    single = torch.load(one / "rank0.pt", weights_only=True)
    for name, value in rank0["state"].items():
        assert torch.equal(value, rank1["state"][name]), f"ranks disagree on {name}"
        assert torch.allclose(value, single["state"][name], atol=1e-4, rtol=1e-4), name
    # the loss is reduced over ranks: the same global batches give the same mean
    assert rank0["history"][0]["train_nll"] == pytest.approx(single["history"][0]["train_nll"],
                                                             rel=1e-5)
    assert rank0["history"][0]["test_ll"] == pytest.approx(single["history"][0]["test_ll"],
                                                           rel=1e-5)
    assert (two / "metrics.jsonl").exists() and (two / "checkpoint.pt").exists()
