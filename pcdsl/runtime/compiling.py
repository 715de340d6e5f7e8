"""torch.compile for generated circuits: one call that refuses clearly and compiles quietly.

A generated module's ``forward`` (with or without gradients) traces as one graph, with no
host synchronisation, so ``fullgraph=True`` is the default: a graph break is then an error
rather than a silent slowdown. Two messages torch would print on the way are dropped where
they are emitted, and only those: the warning "No CUDA runtime is found, using CUDA_HOME=..."
(torch.utils.cpp_extension, on a machine with CUDA tools but no GPU) and the structured
compile trace (logger ``torch.__trace``, always at DEBUG level, which a handler attached to
every logger, such as pytest's log capture, would receive), unless a trace is asked for with
``TORCH_TRACE``, ``TORCH_COMPILE_DEBUG`` or ``TORCH_DTRACE``.
"""

from __future__ import annotations

import logging
import os

import torch
from torch import nn

_TRACE_VARIABLES = ("TORCH_TRACE", "TORCH_COMPILE_DEBUG", "TORCH_DTRACE")


class CompileUnavailable(RuntimeError):
    """torch.compile cannot work here; ``str(error)`` is a one-line reason."""


class _DropNoCudaRuntime(logging.Filter):
    """Drops torch.utils.cpp_extension's "No CUDA runtime is found" warning: on a CPU the
    CUDA tools it found are never used."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("No CUDA runtime is found")


class _DropUnrequestedTrace(logging.Filter):
    """Drops torch's structured compile trace unless one of ``_TRACE_VARIABLES`` is set."""

    def filter(self, record: logging.LogRecord) -> bool:
        return any(os.environ.get(name) for name in _TRACE_VARIABLES)


def quiet_compile_logs() -> None:
    """Install the two filters (once; later calls change nothing)."""
    for name, kind in (("torch.utils.cpp_extension", _DropNoCudaRuntime),
                       ("torch.__trace", _DropUnrequestedTrace)):
        logger = logging.getLogger(name)
        if not any(isinstance(f, kind) for f in logger.filters):
            logger.addFilter(kind())


def compile_unavailable_reason(module: nn.Module, backend: str = "inductor") -> str | None:
    """Why torch.compile cannot compile ``module`` with ``backend`` here, or None."""
    import torch._dynamo

    try:
        torch._dynamo.eval_frame.check_if_dynamo_supported()
    except RuntimeError as exc:
        return f"torch.compile is not supported here: {exc}"
    if backend != "inductor":
        return None
    devices = {p.device.type for p in module.parameters()} or {"cpu"}
    if devices - {"cpu"}:
        import importlib.util

        if importlib.util.find_spec("triton") is None:
            return "torch.compile on a GPU needs triton (pip install triton)"
    if "cpu" in devices:
        quiet_compile_logs()  # the compiler search imports torch.utils.cpp_extension
        from torch._inductor import cpp_builder

        try:
            cpp_builder.get_cpp_compiler()
        except Exception:  # inductor's own search: $CXX, then g++ (cl on Windows)
            return ("torch.compile on a CPU needs a C++ compiler (g++ or clang++ on the PATH, "
                    "or $CXX)")
    return None


def compile_circuit(module: nn.Module, *, fullgraph: bool = True, dynamic: bool | None = None,
                    mode: str | None = None, backend: str = "inductor") -> nn.Module:
    """``torch.compile(module, ...)`` after checking that it can work here (else
    ``CompileUnavailable``) and quietening torch's logs (``quiet_compile_logs``).

    The result runs ``module``'s ``forward`` compiled (the first call of each new batch
    shape compiles, for a while) and shares its parameters; the queries (``log_marginal``,
    ``sample`` and so on) stay eager on ``module``. Under compilation a generated module
    checks the shapes and dtypes of a batch but not its values (that would need the host to
    read a result): check the data beforehand. Save ``module.state_dict()``, not the
    result's, whose keys carry torch's ``_orig_mod.`` prefix."""
    reason = compile_unavailable_reason(module, backend)
    if reason is not None:
        raise CompileUnavailable(reason)
    quiet_compile_logs()
    return torch.compile(module, fullgraph=fullgraph, dynamic=dynamic, mode=mode, backend=backend)
