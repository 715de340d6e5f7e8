"""compile_circuit: compiled passes equal the eager ones (evaluation and an Adam step),
quietly, and a clear refusal where torch.compile cannot work."""

from __future__ import annotations

import copy
import subprocess
import sys
import textwrap

import pytest
import torch

from pcdsl.runtime.compiling import CompileUnavailable, compile_circuit
from tests.codegen.test_compile import batch, spec
from tests.conftest import ROOT


def adam_steps(circuit, x: torch.Tensor, steps: int = 2) -> list[float]:
    optimiser = torch.optim.Adam(circuit.parameters(), lr=0.05)
    losses = []
    for _ in range(steps):
        optimiser.zero_grad()
        loss = -circuit(x).mean()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    return losses


# aot_eager traces forward and backward as torch.compile does (dynamo, fake tensors, AOT
# autograd) but runs the graphs eagerly: the shapes and autograd are checked without a C++
# build, so the test is quick. The seed model's shape and mixing sums (the two whose fake
# tensors once differed from eager ones); every fold kind traces in tests/codegen.
@pytest.mark.parametrize("name", ["quad_graph", "mixing"])
def test_compiled_eval_and_adam_steps_equal_eager(build_module, name):
    module = build_module(spec(name))
    eager = module.Circuit()
    circuit = copy.deepcopy(eager)
    compiled = compile_circuit(circuit, backend="aot_eager")
    with torch.no_grad():
        x = batch(module, 16)
        torch.testing.assert_close(compiled(x), eager(x), rtol=1e-4, atol=1e-4)
    x = batch(module, 6)  # with gradients and fewer rows than values: no dense table
    assert adam_steps(compiled, x) == pytest.approx(adam_steps(eager, x), rel=1e-4)
    for a, b in zip(circuit.parameters(), eager.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


INDUCTOR_SCRIPT = """
import copy, logging, sys
import torch
from pcdsl.driver import compile_source, emit_python
from pcdsl.runtime.compiling import CompileUnavailable, compile_circuit
from tests.runtime.test_compiling import adam_steps

# A handler on every logger that does not propagate, as pytest's log capture attaches one:
# torch's structured trace (always at DEBUG level) is then written wherever one listens.
records = []
class Keep(logging.Handler):
    def emit(self, record):
        records.append(record)
logging.getLogger().addHandler(Keep())
for logger in list(logging.Logger.manager.loggerDict.values()):
    if isinstance(logger, logging.Logger) and not logger.propagate:
        logger.addHandler(Keep())
compiled_file = compile_source(SPEC, "tiny.pc")
namespace = {}
exec(emit_python(compiled_file, compiled_file.model(None)), namespace)
eager = namespace["Circuit"]()
circuit = copy.deepcopy(eager)
try:
    compiled = compile_circuit(circuit)
except CompileUnavailable as exc:
    print("UNAVAILABLE", exc)
    sys.exit(0)
x = torch.randint(3, (6, 4))
with torch.no_grad():
    torch.testing.assert_close(compiled(x), eager(x), rtol=1e-4, atol=1e-4)
a, b = adam_steps(compiled, x), adam_steps(eager, x)
assert all(abs(p - q) <= 1e-4 * abs(q) for p, q in zip(a, b)), (a, b)
for p, q in zip(circuit.parameters(), eager.parameters()):
    torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-4)
print("RECORDS", sorted({(r.levelname, r.name) for r in records}))
print("EQUAL")
"""


def test_inductor_compiles_quietly_and_equals_eager():
    """In a fresh process (torch prints the CUDA_HOME warning once per process): inductor's
    compiled evaluation and Adam steps equal the eager ones, and nothing is printed or
    logged at DEBUG level on the way."""
    model = ("model tiny {\n data = image(height = 2, width = 2, values = 3)\n"
             " inputs = categorical(units = 2)\n layers = cp(units = 2)\n}\n")
    script = f"SPEC = {model!r}\n" + textwrap.dedent(INDUCTOR_SCRIPT)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            cwd=ROOT, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    if "UNAVAILABLE" in result.stdout:
        pytest.skip(result.stdout.strip())
    assert "EQUAL" in result.stdout
    assert "DEBUG" not in result.stdout and "CUDA" not in result.stderr, result.stderr[-3000:]
    assert result.stderr == ""


def test_no_cpp_compiler_is_a_clear_refusal(build_module):
    import torch._inductor.config

    circuit = build_module(spec("quad_graph")).Circuit()
    with torch._inductor.config.patch({"cpp.cxx": (None, "/nonexistent/c++")}):
        with pytest.raises(CompileUnavailable,
                           match=r"^torch.compile on a CPU needs a C\+\+ compiler"):
            compile_circuit(circuit)
    assert torch._inductor.config.cpp.cxx != (None, "/nonexistent/c++")  # restored
