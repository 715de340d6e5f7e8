"""Parameter and layer-count parity with libcirkit 0.3.1, the reference implementation.

Runs where libcirkit is installed (the `compare` extra; CI installs it), skipped otherwise.
"""

from __future__ import annotations

from collections import Counter

import pytest

from pcdsl.driver import compile_source
from pcdsl.ir.circuit import LayerKind

cirkit_templates = pytest.importorskip("cirkit.templates")
from cirkit.templates import data_modalities, utils  # noqa: E402

CONFIGS = [
    # (cirkit region graph, our region graph, image shape, input units, sum units, layer)
    ("quad-graph", "quad_graph", (1, 28, 28), 64, 64, "cp"),
    ("quad-graph", "quad_graph", (1, 7, 5), 8, 16, "cp"),
    ("quad-graph", "quad_graph", (3, 6, 6), 4, 8, "cp"),
    ("quad-tree-2", "quad_tree(splits = 2)", (1, 9, 9), 16, 8, "cp"),
    ("quad-tree-2", "quad_tree(splits = 2)", (2, 4, 7), 8, 8, "cp"),
    ("quad-tree-4", "quad_tree(splits = 4)", (1, 16, 16), 32, 32, "cp"),
    ("quad-tree-4", "quad_tree(splits = 4)", (3, 5, 3), 8, 12, "cp"),
    ("quad-graph", "quad_graph", (1, 28, 28), 32, 32, "cp-t"),
    ("quad-graph", "quad_graph", (3, 7, 5), 8, 8, "cp-t"),
    ("quad-tree-4", "quad_tree(splits = 4)", (1, 8, 8), 8, 8, "cp-t"),
    ("quad-tree-2", "quad_tree(splits = 2)", (1, 9, 6), 8, 8, "tucker"),
    ("quad-tree-4", "quad_tree(splits = 4)", (1, 16, 16), 4, 4, "tucker"),
    ("quad-graph", "quad_graph", (2, 5, 5), 6, 6, "tucker"),
    ("random-binary-tree", "random_binary_tree", (1, 28, 28), 16, 16, "cp"),
    ("random-binary-tree", "random_binary_tree", (3, 5, 4), 8, 8, "tucker"),
    ("linear-tree", "linear_tree", (1, 7, 7), 8, 8, "cp"),
    ("linear-tree", "linear_tree", (2, 4, 3), 6, 6, "cp-t"),
    ("poon-domingos", "poon_domingos", (1, 28, 28), 16, 16, "cp-t"),
    ("poon-domingos", "poon_domingos", (1, 12, 10), 8, 8, "cp"),
    ("poon-domingos", "poon_domingos", (3, 9, 9), 4, 4, "tucker"),
]


def cirkit_circuit(region_graph, shape, input_units, sum_units, layer="cp"):
    return data_modalities.image_data(
        shape, region_graph=region_graph, input_layer="categorical",
        num_input_units=input_units, sum_product_layer=layer, num_sum_units=sum_units,
        sum_weight_param=utils.Parameterization(activation="softmax", initialization="normal"),
    )


def cirkit_parameter_count(symbolic) -> int:
    from cirkit.pipeline import compile as cirkit_compile

    return sum(p.numel() for p in cirkit_compile(symbolic).parameters())


def test_several_classes_match_cirkit():
    symbolic = data_modalities.image_data(
        (1, 6, 5), region_graph="quad-graph", input_layer="categorical", num_input_units=8,
        sum_product_layer="cp", num_sum_units=8, num_classes=10)
    ours = compile_source("""model m { data = image(height = 6, width = 5)
        inputs = categorical(units = 8) layers = cp(units = 8) classes = 10 }""",
                          "spec.pc").models[0].circuit
    assert ours.num_classes == 10
    assert cirkit_parameter_count(symbolic) == ours.num_parameters


def test_binomial_inputs_match_cirkit():
    symbolic = data_modalities.image_data(
        (1, 9, 7), region_graph="quad-graph", input_layer="binomial", num_input_units=8,
        sum_product_layer="cp", num_sum_units=8)
    ours = compile_source("""model m { data = image(height = 9, width = 7)
        inputs = binomial(units = 8) layers = cp(units = 8) }""", "spec.pc").models[0].circuit
    assert cirkit_parameter_count(symbolic) == ours.num_parameters


@pytest.mark.parametrize("layer", ["cp", "cp-t", "tucker"])
def test_dense_mixing_matches_cirkit_without_mixing_weights(layer):
    symbolic = data_modalities.image_data(
        (1, 7, 6), region_graph="quad-graph", input_layer="categorical", num_input_units=4,
        sum_product_layer=layer, num_sum_units=4, use_mixing_weights=False)
    ours = compile_source(f"""model m {{ data = image(height = 7, width = 6)
        inputs = categorical(units = 4) layers = {layer.replace("-", "_")}(units = 4)
        mixing = dense }}""", "spec.pc").models[0].circuit
    assert cirkit_parameter_count(symbolic) == ours.num_parameters


@pytest.mark.parametrize("cirkit_rg,our_rg,shape,input_units,sum_units,layer", CONFIGS)
def test_same_layers_and_parameters_as_cirkit(cirkit_rg, our_rg, shape, input_units, sum_units,
                                              layer):
    symbolic = cirkit_circuit(cirkit_rg, shape, input_units, sum_units, layer)
    c, h, w = shape
    ours = compile_source(f"""
        model m {{
          data = image(channels = {c}, height = {h}, width = {w}, values = 256)
          regions = {our_rg}
          inputs = categorical(units = {input_units})
          layers = {layer.replace("-", "_")}(units = {sum_units})
        }}""", "spec.pc").models[0]
    circuit = ours.circuit
    theirs = Counter(type(layer).__name__ for layer in symbolic.layers)
    kinds = Counter(layer.kind for layer in circuit.layers)
    assert theirs["CategoricalLayer"] == kinds[LayerKind.CATEGORICAL]
    assert theirs["HadamardLayer"] == kinds[LayerKind.HADAMARD]
    assert theirs["KroneckerLayer"] == kinds[LayerKind.KRONECKER]
    assert theirs["SumLayer"] == kinds[LayerKind.DENSE] + kinds[LayerKind.MIXING]
    assert symbolic.is_smooth == ours.report.is_smooth
    assert symbolic.is_decomposable == ours.report.is_decomposable
    assert symbolic.is_structured_decomposable == ours.report.is_structured_decomposable
    assert cirkit_parameter_count(symbolic) == circuit.num_parameters
