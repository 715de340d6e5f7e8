"""Every spec in examples/ compiles, passes `pcc check`, and its module runs."""

from __future__ import annotations

import pytest
import torch

from pcdsl.driver import compile_file, emit_python
from pcdsl.runtime.loading import load_generated
from tests.conftest import EXAMPLES

SPECS = sorted(EXAMPLES.glob("*.pc"))


def test_there_is_an_example_per_region_graph():
    from pcdsl.syntax.schema import kinds_of

    text = "\n".join(path.read_text() for path in SPECS)
    for name in kinds_of("region_graph"):
        assert f"regions = {name}" in text, name
    assert "structure {" in text


@pytest.mark.parametrize("path", SPECS, ids=[p.stem for p in SPECS])
def test_example_compiles_and_runs(path, tmp_path):
    compiled = compile_file(str(path))
    (model,) = compiled.models
    assert model.report.is_smooth and model.report.is_decomposable
    out = tmp_path / f"{path.stem}.py"
    out.write_text(emit_python(compiled, model))
    circuit = load_generated(out).Circuit()
    assert circuit.num_parameters == model.circuit.num_parameters
    generator = torch.Generator().manual_seed(0)
    if circuit.domain == "real":
        x = torch.rand(2, circuit.num_variables, generator=generator) - 0.5
    else:
        x = torch.randint(circuit.num_values, (2, circuit.num_variables), generator=generator)
    with torch.no_grad():
        ll = circuit(x) - circuit.log_partition()  # the normalised log-likelihood
    assert torch.isfinite(ll).all()
    if circuit.domain == "discrete":
        assert (ll < 0).all()
    with torch.no_grad():  # float32 agrees with float64
        double = circuit.double()
        want = double(x.double() if circuit.domain == "real" else x) - double.log_partition()
        torch.testing.assert_close(ll.double(), want, rtol=1e-5, atol=1e-2)
