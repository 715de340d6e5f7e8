"""Run by tests/runtime/test_distributed.py, under torchrun or alone: train the tiny model
for one epoch and save this process's final weights to OUT/rank<R>.pt."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from pcdsl.runtime.train import TrainConfig, train  # noqa: E402
from tests.runtime.training_data import compiled_spec, split  # noqa: E402


def main() -> None:
    out, optimizer = Path(sys.argv[1]), sys.argv[2]
    torch.set_num_threads(1)
    config = TrainConfig(dataset="synthetic", epochs=1, batch_size=16, lr=0.05,
                         optimizer=optimizer, out=str(out), samples=0, progress=False)
    source, record = compiled_spec()
    result = train(source, config, split(64, True, seed=1), split(32, False, seed=2),
                   spec=record, log=lambda _: None)
    rank = int(os.environ.get("RANK", "0"))
    torch.save({"state": result.circuit.state_dict(),
                "history": [vars(m) for m in result.history]}, out / f"rank{rank}.pt")
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
