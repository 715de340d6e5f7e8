"""Choices of a training run that the command line offers too; free of torch, so that
``pcc --help`` stays quick."""

from __future__ import annotations

OPTIMIZERS = ("adam", "em")
# Which passes run through torch.compile: none, the test-set evaluations, the training
# steps (Adam only: EM's step calls the module's upward pass itself), or both.
COMPILE_MODES = ("off", "eval", "train", "all")
# torch.manual_seed takes 64-bit seeds; the data order (numpy via DistributedSampler) needs
# them below 2**63.
SEED_LIMIT = 2**63
