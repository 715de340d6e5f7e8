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


def autocast_forward(name: str, device: str | torch.device, module: Any = None) -> Any:
    """A context for forward passes: ``torch.autocast`` to bfloat16 on ``device``'s type for
    ``bf16``, nothing otherwise. With ``module`` (a generated circuit), its cached tables
    are dropped on entry and exit (see ``_forget_cached_tables``)."""
    check_precision(name)
    if name != "bf16":
        return nullcontext()
    return _bf16_forward(device, module)


@contextmanager
def _bf16_forward(device: str | torch.device, module: Any) -> Iterator[None]:
    import torch

    device_type = torch.device(device).type
    _forget_cached_tables(module)
    try:
        with torch.autocast(device_type, dtype=torch.bfloat16):
            yield
    finally:
        _forget_cached_tables(module)


def _forget_cached_tables(module: Any) -> None:
    """Drop a generated module's cache of normalised weights and tables. Its key is the
    parameters' versions only, not the autocast state, so a table computed under bf16
    autocast would be served to a later float32 pass (which then fails: a bf16 mantissa
    meets float32 weights in a matrix product), and a float32 table to a bf16 pass."""
    if module is None:
        return
    inner = getattr(module, "_orig_mod", module)  # torch.compile's wrapper
    inner = getattr(inner, "module", inner)  # DistributedDataParallel's
    if getattr(inner, "_cache", None) is not None:
        inner._cache = None
