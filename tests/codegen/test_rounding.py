"""With nothing observed, ``log_marginal`` is 0 in exact arithmetic: computed, it is the
rounding of a normalised circuit's total mass, within the bound docs/queries.md states."""

from __future__ import annotations

import pytest
import torch

from tests.conftest import EXAMPLES

# Per variable: the examples over 784 variables give -7.8e-07 to -7.2e-06 in float32
# (about -1e-8 per variable) and about -1.4e-14 in float64.
BOUND_PER_VARIABLE = {torch.float32: 2e-8, torch.float64: 1e-15}


@pytest.mark.parametrize("name", ["mnist", "poon_domingos"])
def test_nothing_observed_is_zero_to_rounding(build_module, name):
    module = build_module((EXAMPLES / f"{name}.pc").read_text(), name=f"{name}.pc")
    circuit = module.Circuit()
    nothing = torch.zeros(module.NUM_VARIABLES, dtype=torch.bool)
    for dtype, bound in BOUND_PER_VARIABLE.items():
        circuit = circuit.to(dtype)
        x = torch.zeros(2, module.NUM_VARIABLES, dtype=torch.long if module.DOMAIN == "discrete"
                        else dtype)
        with torch.no_grad():
            value = circuit.log_marginal(x, nothing)
            total = circuit.log_partition()
        assert value.dtype == dtype
        assert value.abs().max().item() <= bound * module.NUM_VARIABLES, (dtype, value)
        assert value[0].item() == value[1].item()
        assert abs(total.item()) <= bound * module.NUM_VARIABLES, (dtype, total)
