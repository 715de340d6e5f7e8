"""The generated modules define normalised distributions: summing exp(log-likelihood)
over every joint state of a small model gives 1 (float64, random weights)."""

from __future__ import annotations

import pytest
import torch

from tests.reference import all_states

SPECS = {
    "quad_graph 1x2x2 v3": ("image(channels = 1, height = 2, width = 2, values = 3)",
                            "quad_graph", 4, 3),
    "quad_graph 1x3x3 v2": ("image(channels = 1, height = 3, width = 3, values = 2)",
                            "quad_graph", 9, 2),
    "quad_graph 1x2x3 v3": ("image(channels = 1, height = 2, width = 3, values = 3)",
                            "quad_graph", 6, 3),
    "quad_graph 2x2x2 v2": ("image(channels = 2, height = 2, width = 2, values = 2)",
                            "quad_graph", 8, 2),
    "quad_tree2 1x3x3 v2": ("image(channels = 1, height = 3, width = 3, values = 2)",
                            "quad_tree(splits = 2)", 9, 2),
    "quad_tree4 1x2x2 v4": ("image(channels = 1, height = 2, width = 2, values = 4)",
                            "quad_tree(splits = 4)", 4, 4),
    "single pixel 1x1x1 v5": ("image(channels = 1, height = 1, width = 1, values = 5)",
                              "quad_graph", 1, 5),
    "single pixel 3x1x1 v3": ("image(channels = 3, height = 1, width = 1, values = 3)",
                              "quad_graph", 3, 3),
    "random tree 1x2x3 v2": ("image(channels = 1, height = 2, width = 3, values = 2)",
                             "random_binary_tree(repetitions = 2, seed = 3)", 6, 2),
    "linear tree 2x2x2 v2": ("image(channels = 2, height = 2, width = 2, values = 2)",
                             "linear_tree(repetitions = 2)", 8, 2),
    "poon-domingos 1x3x3 v2": ("image(channels = 1, height = 3, width = 3, values = 2)",
                               "poon_domingos(delta = 1)", 9, 2),
    "poon-domingos 2x2x3 v2": ("image(channels = 2, height = 2, width = 3, values = 2)",
                               "poon_domingos(delta = 1, max_depth = 1)", 12, 2),
    "quad_tree4 2x2x2 v2": ("image(channels = 2, height = 2, width = 2, values = 2)",
                            "quad_tree(splits = 4)", 8, 2),
}


@pytest.mark.parametrize("layers", ["cp", "cp_t", "tucker"])
@pytest.mark.parametrize("name", sorted(SPECS))
def test_sum_over_all_states_is_one(build_module, name, layers):
    data, regions, num_variables, num_values = SPECS[name]
    units = 4 if layers == "cp" else 3  # cp_t and tucker need inputs and layers alike
    module = build_module(f"""
        model tiny {{
          data    = {data}
          regions = {regions}
          inputs  = categorical(units = 3)
          layers  = {layers}(units = {units})
          weights = softmax(init = normal(mean = 0.0, std = 2.0))
          seed    = 7
        }}""")
    circuit = module.Circuit().double()
    states = all_states(num_variables, num_values)
    with torch.no_grad():
        ll = circuit(states)
    assert ll.shape == (len(states),)
    assert torch.isfinite(ll).all()
    assert abs(torch.logsumexp(ll, 0).item()) < 1e-5
    # Random weights give a distribution that is far from uniform.
    assert ll.std().item() > 0.1


def test_hand_written_structure_is_normalised(build_module):
    module = build_module("""
        model chain {
          data   = variables(count = 5, values = 3)
          inputs = categorical(units = 2)
          layers = cp(units = 3)
          structure {
            region ab   = x[0] * x[1]
            region cd   = x[2] * x[3]
            region abc  = ab * x[2] | x[0] * x[1] * x[2]
            region root = abc * x[3] * x[4] | ab * cd * x[4]
          }
        }""")
    circuit = module.Circuit().double()
    with torch.no_grad():
        ll = circuit(all_states(5, 3))
    assert abs(torch.logsumexp(ll, 0).item()) < 1e-5


def test_normalised_after_training_steps(build_module):
    """Normalisation holds for any weights, not only initial ones."""
    module = build_module("""
        model tiny { data = image(height = 2, width = 2, values = 3)
                     inputs = categorical(units = 2) layers = cp(units = 3) }""")
    circuit = module.Circuit().double()
    optimiser = torch.optim.Adam(circuit.parameters(), lr=0.5)
    batch = torch.tensor([[0, 1, 2, 0], [0, 1, 2, 1], [2, 2, 2, 2]])
    for _ in range(20):
        optimiser.zero_grad()
        (-circuit(batch).mean()).backward()
        optimiser.step()
    with torch.no_grad():
        ll = circuit(all_states(4, 3))
    assert abs(torch.logsumexp(ll, 0).item()) < 1e-5
    assert ll.max().item() > -2.0  # training concentrated the mass on the batch


@pytest.mark.parametrize("layers", ["cp(units = 3)", "cp_t(units = 3)", "tucker(units = 3)"])
def test_dense_mixing_is_normalised(build_module, layers):
    module = build_module(f"""
        model m {{ data = image(height = 3, width = 3, values = 2)
                   inputs = categorical(units = 3) layers = {layers} mixing = dense }}""")
    circuit = module.Circuit().double()
    with torch.no_grad():
        ll = circuit(all_states(9, 2))
    assert abs(torch.logsumexp(ll, 0).item()) < 1e-5


@pytest.mark.parametrize("inputs,values", [("binomial", 4), ("bernoulli", 2), ("binomial", 2)])
def test_binomial_and_bernoulli_inputs_are_normalised(build_module, inputs, values):
    module = build_module(f"""
        model m {{ data = image(channels = 2, height = 2, width = 2, values = {values})
                   inputs = {inputs}(units = 3) layers = cp(units = 3) }}""")
    circuit = module.Circuit().double()
    with torch.no_grad():
        ll = circuit(all_states(8, values))
    assert abs(torch.logsumexp(ll, 0).item()) < 1e-5
    samples = circuit.sample(200, generator=torch.Generator().manual_seed(0))
    assert samples.min() >= 0 and samples.max() < values


def test_bernoulli_needs_binary_data(build_module):
    from pcdsl.diagnostics import CompileError

    with pytest.raises(CompileError) as info:
        build_module("model m { data = image(height = 2, width = 2, values = 3)\n"
                     "  inputs = bernoulli(units = 2) }")
    (d,) = info.value.diagnostics
    assert "binary" in d.message and (d.span.line, d.span.column) == (2, 12)


# Every region graph x sum-product layer x discrete input kind, on a tiny image. Normalised
# kinds sum to 1; embeddings (unnormalised tables) sum to exp(log_partition()).
REGION_GRAPHS = {
    "quad_graph": "quad_graph",
    "quad_tree2": "quad_tree(splits = 2)",
    "quad_tree4": "quad_tree(splits = 4)",
    "random_binary_tree": "random_binary_tree(repetitions = 2, seed = 1)",
    "linear_tree": "linear_tree(repetitions = 2)",
    "poon_domingos": "poon_domingos(delta = 1)",
    "chow_liu_tree": 'chow_liu_tree(file = "tree.json")',
}
INPUT_KINDS = {"categorical": 2, "binomial": 3, "bernoulli": 2, "embedding": 2}  # -> values


@pytest.mark.parametrize("inputs", sorted(INPUT_KINDS))
@pytest.mark.parametrize("layers", ["cp", "cp_t", "tucker"])
@pytest.mark.parametrize("regions", sorted(REGION_GRAPHS))
def test_every_region_graph_layer_and_input_kind_is_normalised(build_module, tmp_path, regions,
                                                               layers, inputs):
    from pcdsl.ir.region_graphs.chow_liu import ChowLiuTree, tree_to_json

    # A 2x2x2 image; the tree: root 1 with children 0, 2 and 4, then 2 -> 3 -> 7, 4 -> 5 -> 6.
    tree = ChowLiuTree((2, 2, 2), (1, -1, 1, 2, 1, 4, 5, 3))
    (tmp_path / "tree.json").write_text(tree_to_json(tree))
    values = INPUT_KINDS[inputs]
    module = build_module(f"""
        model tiny {{
          data    = image(channels = 2, height = 2, width = 2, values = {values})
          regions = {REGION_GRAPHS[regions]}
          inputs  = {inputs}(units = 2)
          layers  = {layers}(units = 2)
          weights = softmax(init = normal(std = 2.0))
          seed    = 3
        }}""", name=str(tmp_path / "spec.pc"))
    circuit = module.Circuit().double()
    with torch.no_grad():
        ll = circuit(all_states(8, values))
        log_z = circuit.log_partition()
    assert torch.isfinite(ll).all()
    assert abs(torch.logsumexp(ll, 0).item() - log_z.item()) < 1e-9
    assert module.IS_NORMALISED == (inputs != "embedding")
    if module.IS_NORMALISED:
        assert abs(log_z.item()) < 1e-9
    assert ll.std().item() > 0.1
