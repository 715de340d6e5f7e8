"""The folded, generated forward pass equals a naive layer-by-layer log-space evaluation of
the unfolded IR, with the same weights: folding and gathers do not change the circuit."""

from __future__ import annotations

import pytest
import torch

from pcdsl.driver import compile_source
from tests.reference import reference_log_likelihood


@pytest.mark.parametrize("regions,shape,layers", [
    ("quad_graph", (1, 5, 6), "cp(units = 4)"),
    ("quad_tree(splits = 2)", (1, 4, 4), "cp(units = 4)"),
    ("quad_tree(splits = 4)", (2, 3, 3), "cp(units = 4)"),
    ("quad_graph", (1, 5, 6), "cp_t(units = 3)"),
    ("quad_tree(splits = 4)", (2, 3, 3), "tucker(units = 3)"),
    ("quad_graph", (1, 4, 5), "tucker(units = 3)"),
    ("quad_graph", (1, 5, 4), "cp(units = 4)\n mixing = dense"),
    ("quad_graph", (1, 4, 4), "cp(units = 4)\n inputs = binomial(units = 3)"),
])
def test_generated_forward_matches_reference(build_module, regions, shape, layers):
    c, h, w = shape
    source = f"""
        model m {{
          data = image(channels = {c}, height = {h}, width = {w}, values = 5)
          regions = {regions}
          layers = {layers}
          weights = softmax(init = normal(std = 3.0))
        }}"""
    if "inputs" not in layers:
        source = source.replace("layers =", "inputs = categorical(units = 3)\n          layers =")
    module = build_module(source)
    compiled = compile_source(source, "spec.pc").models[0]
    circuit = module.Circuit().double()
    x = torch.randint(5, (16, c * h * w), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        got = circuit(x)
        want = reference_log_likelihood(compiled.circuit, compiled.folded, circuit, x)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-9)


@pytest.mark.parametrize("batch,chunk_bytes", [
    (3, None), (40, None),  # the matrix-product and the table paths (V = 7)
    (3, 1),  # sums over table rows one member at a time
])
@pytest.mark.parametrize("regions,layers", [
    ("quad_graph", "inputs = categorical(units = 3)\n layers = cp(units = 4)"),
    ("quad_graph", "inputs = categorical(units = 3)\n layers = cp(units = 4)\n mixing = dense"),
    ("quad_tree(splits = 2)", "inputs = categorical(units = 2)\n layers = cp(units = 3)"),
    ("quad_tree(splits = 4)", "inputs = binomial(units = 3)\n layers = cp_t(units = 3)"),
    ("quad_graph", "inputs = categorical(units = 2)\n layers = tucker(units = 3)"),
])
def test_gradients_match_reference(build_module, monkeypatch, batch, chunk_bytes, regions,
                                   layers):
    """Backward through split chunks, table reads (alone, with their dense sums, and with
    those sums' products), gathers, dense tables, mixing and the fused Hadamard gives the
    gradients of the plain log-space definition."""
    source = f"""
        model m {{
          data = image(channels = 1, height = 4, width = 5, values = 7)
          regions = {regions}
          {layers}
          weights = softmax(init = normal(std = 2.0))
        }}"""
    module = build_module(source)
    if chunk_bytes is not None:
        monkeypatch.setattr(module, "_CHUNK_BYTES", chunk_bytes)
    compiled = compile_source(source, "spec.pc").models[0]
    circuit = module.Circuit().double()
    x = torch.randint(7, (batch, 20), generator=torch.Generator().manual_seed(2))
    circuit(x).sum().backward()
    got = {name: p.grad.clone() for name, p in circuit.named_parameters()}
    circuit.zero_grad()
    reference_log_likelihood(compiled.circuit, compiled.folded, circuit, x).sum().backward()
    for name, p in circuit.named_parameters():
        torch.testing.assert_close(got[name], p.grad, rtol=1e-8, atol=1e-10, msg=name)


def test_values_beyond_float32_range_stay_exact(build_module):
    """A value to which every unit gives a probability below float32's range (e^-200) is
    still looked up exactly, its table row rescaled in log space: finite log-likelihoods
    equal to float64's, and finite gradients."""
    import copy

    source = """
        model m {
          data = image(channels = 1, height = 2, width = 3, values = 5)
          inputs = categorical(units = 3)
          layers = cp(units = 4)
        }"""
    module = build_module(source)
    circuit = module.Circuit()
    with torch.no_grad():
        circuit.categorical_0[..., 0] = -200.0
    x = torch.randint(5, (12, 6), generator=torch.Generator().manual_seed(3))
    x[:, 0] = 0
    want = copy.deepcopy(circuit).double()(x)
    got = circuit(x)
    assert torch.isfinite(got).all()
    torch.testing.assert_close(got.double(), want, rtol=1e-5, atol=1e-3)
    got.sum().backward()
    for name, p in circuit.named_parameters():
        assert torch.isfinite(p.grad).all(), name
