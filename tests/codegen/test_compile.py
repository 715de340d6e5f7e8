"""The generated forward traces as one graph under torch.compile (torch._dynamo), with
gradients and without, for every kind of fold: no graph break, so ``fullgraph=True`` holds."""

from __future__ import annotations

import pytest
import torch

# Small models (1x4x4 images, 4 values) covering every fold kind the generated code has:
# CP over a quad graph (the seed model's shape), random binary trees with binomial inputs,
# Poon-Domingos (mixing sums over several partitions), Tucker (Kronecker products), and
# two classes with gaussian inputs over real values.
SPECS = {
    "quad_graph": "regions = quad_graph\n inputs = categorical(units = 3)\n layers = cp(units = 3)",
    "binomial_tree": "regions = random_binary_tree(repetitions = 2, seed = 1)\n"
                     " inputs = binomial(units = 3)\n layers = cp(units = 3)",
    "mixing": "regions = poon_domingos(delta = 2)\n inputs = categorical(units = 3)\n"
              " layers = cp(units = 3)",
    "tucker": "regions = quad_tree(splits = 4)\n inputs = categorical(units = 2)\n"
              " layers = tucker(units = 2)",
    "gaussian_classes": "regions = quad_tree(splits = 2)\n inputs = gaussian(units = 2)\n"
                        " layers = cp_t(units = 2)\n classes = 2",
}


def spec(name: str) -> str:
    values = "domain = real" if name.startswith("gaussian") else "values = 4"
    return (f"model m {{\n data = image(height = 4, width = 4, {values})\n"
            f" {SPECS[name]}\n}}")


def batch(module, rows: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(rows)
    if module.DOMAIN == "real":
        return torch.rand(rows, module.NUM_VARIABLES, generator=generator)
    return torch.randint(module.NUM_VALUES, (rows, module.NUM_VARIABLES), generator=generator)


@pytest.mark.parametrize("gradients", [False, True], ids=["eval", "train"])
@pytest.mark.parametrize("name", sorted(SPECS))
def test_forward_has_no_graph_break(build_module, name, gradients):
    module = build_module(spec(name))
    circuit = module.Circuit()
    torch._dynamo.reset()
    with torch.set_grad_enabled(gradients):
        explained = torch._dynamo.explain(circuit)(batch(module, 4))
    assert explained.graph_break_count == 0, [r.reason for r in explained.break_reasons]
    assert explained.graph_count == 1
