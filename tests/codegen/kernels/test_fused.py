"""The fused Triton kernels against the torch kernels they stand in for, run by Triton's
interpreter on this CPU (``TRITON_INTERPRET=1``): a kernel alone, and a whole generated
module with them switched on. Each check runs in a fresh interpreter, since Triton reads
``TRITON_INTERPRET`` when a kernel is defined, and the kernels are defined only where CUDA
is available: the scripts say it is, which is harmless as every tensor stays on the CPU."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("triton")

ROOT = Path(__file__).resolve().parents[3]

PRELUDE = """
import torch
torch.cuda.is_available = lambda: True  # define the Triton kernels; the interpreter runs them on the CPU
"""


def run_interpreted(script: str) -> str:
    environment = {**os.environ, "TRITON_INTERPRET": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", PRELUDE + textwrap.dedent(script)], env=environment,
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_fused_hadamard_runs_equal_the_torch_kernel():
    out = run_interpreted("""
        from pcdsl.codegen.kernels import fused, products
        assert fused.triton is not None
        g = torch.Generator().manual_seed(0)
        for arity, members, batch, units, signed in ((2, 3, 5, 7, False), (3, 2, 70, 16, False),
                                                      (2, 4, 33, 64, True), (4, 1, 1, 1, False)):
            h = torch.rand(arity * members, batch, units, generator=g)
            if signed:
                h = h - 0.5  # products of either sign: renormalised by the largest magnitude
            h[0, 0] = 0  # an all-zero product stays zero
            s = torch.randn(arity * members, batch, generator=g)
            fused.SIGNED_WEIGHTS = ("w",) if signed else ()
            got, largest, scale = fused._fused_hadamard_runs(h, s, arity)
            runs = h.unflatten(0, (arity, -1))
            product = runs[0]
            for a in range(1, arity):
                product = product * runs[a]
            m = (product.abs() if signed else product).amax(dim=-1, keepdim=True)
            m = torch.where(m > 0, m, torch.ones_like(m))
            torch.testing.assert_close(got, product / m, rtol=1e-6, atol=1e-7)
            torch.testing.assert_close(largest, m)
            torch.testing.assert_close(scale, s.unflatten(0, (arity, -1)).sum(0) + torch.log(m.squeeze(-1)))
            assert got[0, 0].eq(0).all()
        print("checked")
    """)
    assert "checked" in out


def test_fused_dense_runs_equal_the_torch_kernels():
    out = run_interpreted("""
        from pcdsl.codegen.kernels import fused, products
        assert fused.triton is not None
        g = torch.Generator().manual_seed(0)
        # (arity, product members, batch, units in, units out, signed): units below the
        # 16 of a tl.dot block, not a power of two, over one chunk of inputs, and rows
        # over several programs.
        for arity, members, batch, k_in, k_out, signed in (
                (2, 3, 5, 7, 3, False), (3, 2, 70, 40, 16, False), (2, 4, 33, 64, 64, True),
                (2, 1, 1, 1, 1, False), (4, 2, 17, 33, 130, False)):
            h = torch.rand(arity * members, batch, k_in, generator=g)
            s = torch.randn(arity * members, batch, generator=g)
            w = torch.rand(arity * members, k_out, k_in, generator=g)
            if signed:
                w = w - 0.5
            w[0] = 0  # an all-zero product stays zero
            fused.SIGNED_WEIGHTS = ("w",) if signed else ()
            got, scale = fused._fused_dense_runs(h, s, w, arity)
            sums = torch.bmm(h, w.transpose(1, 2)).unflatten(0, (arity, -1))
            product = sums[0]
            for a in range(1, arity):
                product = product * sums[a]
            m = (product.abs() if signed else product).amax(dim=-1, keepdim=True)
            m = torch.where(m > 0, m, torch.ones_like(m))
            assert got.shape == (members, batch, k_out) and scale.shape == (members, batch)
            torch.testing.assert_close(got, product / m, rtol=1e-5, atol=1e-6)
            expected = s.unflatten(0, (arity, -1)).sum(0) + torch.log(m.squeeze(-1))
            torch.testing.assert_close(scale, expected, rtol=1e-5, atol=1e-5)
            assert got[0].eq(0).all()
        print("checked")
    """)
    assert "checked" in out


def test_a_module_with_fused_kernels_gives_the_torch_kernels_results():
    out = run_interpreted("""
        from pcdsl.driver import compile_source, emit_python
        from pcdsl.runtime.loading import module_from_source
        spec = '''model m {
          data = image(height = 4, width = 4, values = 5)
          regions = quad_tree(splits = 2)
          inputs = categorical(units = 3)
          layers = cp(units = 3)
        }
        '''
        compiled = compile_source(spec, "m.pc")
        module = module_from_source(emit_python(compiled, compiled.models[0]))
        circuit = module.Circuit(seed=3)
        x = torch.randint(0, 5, (9, 16), generator=torch.Generator().manual_seed(1))
        plain = circuit(x)
        plain.sum().backward()
        plain_grads = [p.grad.clone() for p in circuit.parameters()]
        circuit.zero_grad()
        calls = []
        original = module._fused_hadamard_runs
        module._fused_hadamard_runs = lambda *a: calls.append(1) or original(*a)
        module.FUSED_KERNELS = True
        module._fused = lambda h: module.FUSED_KERNELS  # CPU tensors, run by the interpreter
        fused = circuit(x)
        fused.sum().backward()
        assert calls, "the fused kernel was not used"
        torch.testing.assert_close(fused, plain, rtol=1e-6, atol=1e-6)
        for p, g in zip(circuit.parameters(), plain_grads):
            torch.testing.assert_close(p.grad, g, rtol=1e-5, atol=1e-6)
        print("checked", len(calls))
    """)
    assert "checked" in out


def test_fused_kernels_are_off_unless_switched_on_and_on_cuda():
    import torch

    from pcdsl.codegen.kernels import fused

    h = torch.ones(2, 3, 4)
    assert not fused._fused(h)  # a CPU tensor, and FUSED_KERNELS False by default
    assert fused.FUSED_KERNELS is False


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs a CUDA device")
def test_on_cuda_a_module_with_fused_kernels_gives_the_torch_kernels_results():
    import torch

    from pcdsl.driver import compile_source, emit_python
    from pcdsl.runtime.loading import module_from_source

    spec = (ROOT / "examples" / "mnist.pc").read_text(encoding="utf-8")
    compiled = compile_source(spec, "mnist.pc")
    module = module_from_source(emit_python(compiled, compiled.models[0]))
    circuit = module.Circuit(seed=0).cuda()
    x = torch.randint(0, 256, (64, 784), device="cuda", generator=torch.Generator("cuda").manual_seed(0))
    results = []
    for fused in (False, True):
        module.FUSED_KERNELS = fused
        circuit.zero_grad()
        ll = circuit(x)
        ll.sum().backward()
        results.append((ll.detach(), [p.grad.clone() for p in circuit.parameters()]))
    module.FUSED_KERNELS = False
    (plain, plain_grads), (fused_ll, fused_grads) = results
    torch.testing.assert_close(fused_ll, plain, rtol=1e-5, atol=1e-4)
    for g, h in zip(fused_grads, plain_grads):
        torch.testing.assert_close(g, h, rtol=1e-4, atol=1e-5)
    evaluated = []
    for fused in (False, True):  # without gradients: the fused dense sums and products too
        module.FUSED_KERNELS = fused
        with torch.no_grad():
            evaluated.append(circuit(x))
    module.FUSED_KERNELS = False
    torch.testing.assert_close(evaluated[1], evaluated[0], rtol=1e-5, atol=1e-4)


def test_a_module_with_fused_kernels_evaluates_without_gradients_as_the_torch_kernels_do():
    out = run_interpreted("""
        from pcdsl.driver import compile_source, emit_python
        from pcdsl.runtime.loading import module_from_source
        spec = '''model m {
          data = image(height = 4, width = 4, values = 5)
          regions = quad_graph
          inputs = categorical(units = 3)
          layers = cp(units = 20)
        }
        '''
        compiled = compile_source(spec, "m.pc")
        text = emit_python(compiled, compiled.models[0])
        assert "_dense_runs(" in text
        module = module_from_source(text)
        circuit = module.Circuit(seed=3)
        g = torch.Generator().manual_seed(1)
        x = torch.randint(0, 5, (40, 16), generator=g)
        observed = torch.rand(40, 16, generator=g) < 0.6
        with torch.no_grad():
            plain, plain_marginal = circuit(x), circuit.log_marginal(x, observed)
        calls = []
        original = module._fused_dense_runs
        module._fused_dense_runs = lambda *a: calls.append(1) or original(*a)
        module.FUSED_KERNELS = True
        module._fused = lambda h: module.FUSED_KERNELS  # CPU tensors, run by the interpreter
        with torch.no_grad():
            fused, fused_marginal = circuit(x), circuit.log_marginal(x, observed)
        assert calls, "the fused kernel was not used"
        torch.testing.assert_close(fused, plain, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(fused_marginal, plain_marginal, rtol=1e-5, atol=1e-5)
        used = len(calls)
        circuit(x).sum().backward()  # gradients wanted: the torch kernels
        assert len(calls) == used
        # Sampling keeps every fold's output: the two kernels, the same draws as without.
        samples = circuit.sample(8, generator=torch.Generator().manual_seed(0))
        module.FUSED_KERNELS = False
        assert torch.equal(samples, circuit.sample(8, generator=torch.Generator().manual_seed(0)))
        print("checked", used)
    """)
    assert "checked" in out
