"""Reduced-precision matrix products for training and evaluation (``--precision``).

- ``fp32``: IEEE float32 everywhere; nothing is changed.
- ``tf32``: float32 tensors, with matrix products allowed to round their inputs to TF32
  (10-bit mantissas) on GPUs with tensor cores, and to whatever torch's oneDNN backend
  offers on CPUs that have it; on a CPU without such units (this project's AMD EPYC) the
  results are bit-identical to fp32.
- ``bf16``: ``torch.autocast`` with bfloat16 around forward passes: the batched matrix
  products of dense sums run on bf16 mantissas, while the generated module's log-scales,
  its input tables, its mixing sums and the output stay float32.

Two context managers, because the two settings have different reach:
``matmul_precision`` is process-wide and read whenever a product runs, backward
included, so it encloses a whole run; ``autocast_forward`` encloses forward passes only,
since backward must run outside autocast (torch's rule, and the generated module's fused
gathers refuse it: their backward adds a bf16 product into a float32 buffer). Both
restore what they changed on exit.

torch is imported inside the functions: ``pcc --help`` reads ``PRECISIONS`` and should
not wait for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

PRECISIONS = ("fp32", "tf32", "bf16")


def check_precision(name: str) -> None:
    if name not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, found '{name}'")


@contextmanager
def matmul_precision(name: str) -> Iterator[None]:
    """For ``tf32``, let float32 matrix products use TF32 (CUDA's cuBLAS and cuDNN, and
    oneDNN on CPUs that support it) until exit, then restore the previous settings; for
    ``fp32`` and ``bf16`` nothing changes (bf16's products are bf16 already)."""
    check_precision(name)
    if name != "tf32":
        yield
        return
    import torch

    # torch's legacy switches: they set cuBLAS and oneDNN together, and reading them back
    # stays valid (torch 2.14 refuses to read the generic setting once the per-backend
    # fp32_precision API and the legacy one are mixed).
    saved_matmul, saved_cudnn = torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32
    torch.set_float32_matmul_precision("high")
    torch.backends.cudnn.allow_tf32 = True
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(saved_matmul)
        torch.backends.cudnn.allow_tf32 = saved_cudnn


def autocast_forward(name: str, device: str | torch.device) -> Any:
    """A context for forward passes: ``torch.autocast`` to bfloat16 on ``device``'s type for
    ``bf16``, nothing otherwise. (A generated module keys its cached tables on the autocast
    state, so tables made under bf16 never serve a float32 pass, nor the reverse.)"""
    import torch

    check_precision(name)
    if name != "bf16":
        return nullcontext()
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)
