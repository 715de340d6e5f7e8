"""Lowering builds the same circuit as libcirkit 0.3.1 for the same configuration."""

from __future__ import annotations

from collections import Counter

import pytest

from pcdsl.diagnostics import CompileError
from pcdsl.driver import compile_source
from pcdsl.ir.circuit import LayerKind
from pcdsl.ir.region_graphs.quad import quad_graph, quad_tree
from pcdsl.ir.scope import scope_of, variables_of


def lower(source: str):
    return compile_source(source, "spec.pc").models[0].circuit


def test_seed_layers_match_libcirkit_census():
    """Measured with libcirkit 0.3.1: 784 categorical layers of 64x256, 3,120 dense 64x64
    sums, 1,560 Hadamard products, 258 mixing sums of 64 units over 2 inputs, and at the
    root two dense 64->1 sums mixed by one 2-input sum."""
    circuit = lower("model m { data = image(height = 28, width = 28) }")
    census = Counter((layer.kind, layer.weight.shape if layer.weight else None)
                     for layer in circuit.layers)
    assert census == {
        (LayerKind.CATEGORICAL, (64, 256)): 784,
        (LayerKind.DENSE, (64, 64)): 3120,
        (LayerKind.HADAMARD, None): 1560,
        (LayerKind.MIXING, (64, 2)): 258,
        (LayerKind.DENSE, (1, 64)): 2,
        (LayerKind.MIXING, (1, 2)): 1,
    }
    assert circuit.num_parameters == 25_657_730
    root = circuit.layers[circuit.output]
    assert root.kind is LayerKind.MIXING and root.num_units == 1
    assert circuit.scope(root.id) == (1 << 784) - 1


def test_scopes_are_unions_of_inputs_and_cover_their_regions():
    circuit = lower("model m { data = image(channels = 2, height = 5, width = 3) }")
    graph = circuit.region_graph
    for layer in circuit.layers:
        if layer.kind is LayerKind.CATEGORICAL:
            assert circuit.scope(layer.id) == 1 << layer.variable
            continue
        union = 0
        for i in layer.inputs:
            union |= circuit.scope(i)
        assert circuit.scope(layer.id) == union
        if layer.origin.partition is None:  # a whole region: a leaf's product, a mixing sum
            assert circuit.scope(layer.id) == graph.regions[layer.origin.region].scope
        elif layer.kind is LayerKind.HADAMARD:  # a partition's product: over all its parts
            parts = graph.partitions[layer.origin.partition].inputs
            assert circuit.scope(layer.id) == scope_of(v for r in parts for v in graph.regions[r].variables)


def test_multichannel_pixels_are_factorised():
    """A pixel region over C channels becomes a Hadamard of C univariate inputs (cirkit's
    factorize_multivariate), with variables in channel-row-column order."""
    circuit = lower("model m { data = image(channels = 3, height = 2, width = 2) }")
    leaves = [layer for layer in circuit.layers
              if layer.kind is LayerKind.HADAMARD
              and all(circuit.layers[i].kind is LayerKind.CATEGORICAL for i in layer.inputs)]
    assert len(leaves) == 4
    scopes = sorted(variables_of(circuit.scope(layer.id)) for layer in leaves)
    assert scopes == [(0, 4, 8), (1, 5, 9), (2, 6, 10), (3, 7, 11)]


def test_quad_graph_2x2_worked_example():
    """A 2x2 image: four pixels; top, bottom, left and right pairs; the whole image split
    rows-first (top * bottom) and columns-first (left * right)."""
    graph = quad_graph((1, 2, 2))
    scopes = sorted(variables_of(r.scope) for r in graph.regions)
    assert scopes == [(0,), (0, 1), (0, 1, 2, 3), (0, 2), (1,), (1, 3), (2,), (2, 3), (3,)]
    root = graph.regions[graph.root]
    splits = sorted(
        sorted(variables_of(graph.regions[r].scope) for r in graph.partitions[p].inputs)
        for p in root.partitions
    )
    assert splits == [[(0, 1), (2, 3)], [(0, 2), (1, 3)]]


def test_quad_tree_has_one_partition_per_region():
    for splits in (2, 4):
        graph = quad_tree((1, 7, 5), splits=splits)
        assert all(len(r.partitions) <= 1 for r in graph.regions)
        assert graph.regions[graph.root].scope == scope_of(range(35))
        arities = {len(p.inputs) for p in graph.partitions}
        assert arities <= {2, splits}


def test_regions_are_topologically_ordered():
    graph = quad_graph((1, 9, 6))
    for partition in graph.partitions:
        assert all(r < partition.region for r in partition.inputs)
    circuit = lower("model m { data = image(height = 9, width = 6) }")
    for layer in circuit.layers:
        assert all(i < layer.id for i in layer.inputs)


def test_hand_written_structure_lowers_as_written():
    circuit = lower("""
        model m {
          data = variables(count = 3, values = 2)
          inputs = categorical(units = 2)
          layers = cp(units = 5)
          structure { region r = x[0] * x[1] * x[2] | x[2] * x[0] * x[1] }
        }""")
    kinds = Counter(layer.kind for layer in circuit.layers)
    # 3 inputs; per partition 3 dense + 1 Hadamard + 1 output dense; a root mixing.
    assert kinds == {LayerKind.CATEGORICAL: 3, LayerKind.DENSE: 8, LayerKind.HADAMARD: 2,
                     LayerKind.MIXING: 1}
    assert circuit.num_parameters == 3 * 2 * 2 + 2 * (3 * 5 * 2 + 5) + 2


def test_cp_t_and_tucker_need_equal_units_where_parts_differ():
    """On a 3x3 quad-graph a lone pixel meets merged patches in one partition, so with
    input and layer unit counts that differ, a Hadamard or Kronecker of the parts is
    undefined (libcirkit refuses the same configuration)."""
    import pytest

    from pcdsl.diagnostics import CompileError

    for layer in ("cp_t", "tucker"):
        source = (f"model m {{ data = image(height = 3, width = 3, values = 4)\n"
                  f"  inputs = categorical(units = 2)\n  layers = {layer}(units = 3) }}")
        with pytest.raises(CompileError) as info:
            compile_source(source, "spec.pc")
        (d,) = info.value.diagnostics
        assert d.code == "units" and "2 and 3 units" in d.message
        assert (d.span.line, d.span.column) == (3, 12)
        assert "same number of units" in d.hint
    circuit = lower("model m { data = image(height = 3, width = 3, values = 4)\n"
                    "  inputs = categorical(units = 3) layers = tucker(units = 3) }")
    assert any(layer.kind is LayerKind.KRONECKER and layer.num_units == 9
               for layer in circuit.layers)


def test_input_kinds_and_parameterisations_in_the_ir():
    circuit = lower("""model m { data = image(channels = 2, height = 3, width = 3, domain = real)
        inputs = gaussian(units = 5) layers = cp(units = 4)
        weights = sigmoid dense_weights = softplus(init = uniform()) }""")
    inputs = [layer for layer in circuit.layers if layer.kind.is_input]
    assert {layer.kind for layer in inputs} == {LayerKind.GAUSSIAN} and len(inputs) == 18
    assert all(layer.weight.shape == (5,) and layer.std.shape == (5,) for layer in inputs)
    assert {(layer.weight.activation, layer.std.activation) for layer in inputs} == {
        ("none", "softplus")}
    assert circuit.num_values is None and circuit.domain == "real"
    sums = Counter((layer.kind, layer.weight.activation, layer.weight.init.kind)
                   for layer in circuit.layers if layer.kind.is_sum)
    assert set(sums) == {(LayerKind.DENSE, "softplus", "uniform"),
                         (LayerKind.MIXING, "sigmoid", "normal")}
    assert not circuit.is_normalised and not circuit.is_signed
    assert circuit.num_parameters == sum(
        (layer.weight.size if layer.weight else 0) + (layer.std.size if layer.std else 0)
        for layer in circuit.layers)
    embedding = lower("model m { data = image(height = 2, width = 2, values = 5)\n"
                      "  inputs = embedding(units = 3) weights = none(init = uniform()) }")
    assert {layer.weight.shape for layer in embedding.layers
            if layer.kind is LayerKind.EMBEDDING} == {(3, 5)}
    assert embedding.is_signed and not embedding.is_normalised
    logits = lower("model m { data = image(height = 2, width = 2, values = 5)\n"
                   "  inputs = categorical(logits = none) }")
    weight = next(layer.weight for layer in logits.layers if layer.kind.is_input)
    assert weight.log_space and not weight.is_normalised and not weight.is_signed
    assert lower("model m { data = image(height = 2, width = 2) }").is_normalised


def test_cp_t_refuses_parts_with_different_unit_counts_at_the_first_such_region():
    source = """model m {
  data = variables(count = 3, values = 2)
  structure {
    region ab = x[0] * x[1]
    region root = ab * x[2]
  }
  inputs = categorical(units = 4)
  layers = cp_t(units = 8)
}
"""
    with pytest.raises(CompileError) as caught:
        compile_source(source, "spec.pc")
    (d,) = caught.value.diagnostics
    assert d.code == "units" and "region 'root' splits into parts with 4 and 8 units" in d.message
    assert d.span.line == 8  # the layers setting
    # Equal units: the same structure lowers, one product and one dense sum per partition.
    circuit = compile_source(source.replace("units = 4", "units = 8"), "spec.pc").models[0].circuit
    assert circuit.kind_counts() == {LayerKind.CATEGORICAL: 3, LayerKind.HADAMARD: 2, LayerKind.DENSE: 2}
