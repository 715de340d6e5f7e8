"""Structure passes: smoothness, decomposability and structured decomposability, with
diagnostics that point at the region or partition they are about."""

from __future__ import annotations

import numpy as np
import pytest

from pcdsl.diagnostics import CompileError
from pcdsl.driver import compile_source
from pcdsl.ir.circuit import LayerKind
from pcdsl.ir.scope import runs_scope
from pcdsl.passes.structure import (
    analyze_structure,
    check_decomposable,
    check_smooth,
    check_structured_decomposable,
    layer_scopes,
)


def circuit_of(source: str):
    return compile_source(source, "spec.pc", require_valid=False).models[0].circuit


NOT_SMOOTH = """model bad {
  data = variables(count = 4, values = 2)
  structure {
    region left  = x[0] * x[1]
    region right = x[2] * x[3]
    region mixed = x[0] * x[2] | x[0] * x[1]
    region root  = left * right | mixed * x[3]
  }
}
"""

NOT_DECOMPOSABLE = """model bad {
  data = variables(count = 3, values = 2)
  structure {
    region pair = x[0] * x[1]
    region root = pair * x[1] * x[2]
  }
}
"""


def test_image_region_graphs_have_their_known_properties():
    graph = circuit_of("model m { data = image(height = 8, width = 8) }")
    report = analyze_structure(graph)
    assert report.is_smooth and report.is_decomposable
    assert not report.is_structured_decomposable
    for splits in (2, 4):
        tree = circuit_of(f"model m {{ data = image(height = 8, width = 6) "
                          f"regions = quad_tree(splits = {splits}) }}")
        assert analyze_structure(tree).is_structured_decomposable


def test_non_smooth_region_is_reported_at_its_definition():
    found = check_smooth(circuit_of(NOT_SMOOTH))
    assert len(found) >= 1
    first = found[0]
    assert first.code == "not-smooth"
    assert "region 'mixed'" in first.message
    assert first.span is not None and first.span.line == 6
    assert {note_span.line for _, note_span in first.notes} == {6}
    assert check_decomposable(circuit_of(NOT_SMOOTH)) == ()


def test_non_decomposable_partition_is_reported_at_its_definition():
    found = check_decomposable(circuit_of(NOT_DECOMPOSABLE))
    assert len(found) == 1
    (diagnostic,) = found
    assert diagnostic.code == "not-decomposable"
    assert "region 'root'" in diagnostic.message and "x[1]" in diagnostic.message
    assert (diagnostic.span.line, diagnostic.span.column) == (5, 19)


def test_invalid_structure_stops_compilation():
    for source in (NOT_SMOOTH, NOT_DECOMPOSABLE):
        with pytest.raises(CompileError) as info:
            compile_source(source, "spec.pc")
        assert all(d.is_error for d in info.value.diagnostics)


def test_structured_decomposability_needs_one_split_per_scope():
    source = """model m {
      data = variables(count = 3, values = 2)
      structure {
        region ab = x[0] * x[1]
        region bc = x[1] * x[2]
        region root = ab * x[2] | x[0] * bc
      }
    }"""
    circuit = circuit_of(source)
    assert check_smooth(circuit) == () and check_decomposable(circuit) == ()
    found = check_structured_decomposable(circuit)
    assert found and found[0].code == "not-structured"
    assert "region 'root'" in found[0].message
    consistent = circuit_of("""model m {
      data = variables(count = 3, values = 2)
      structure { region ab = x[0] * x[1]  region root = ab * x[2] | ab * x[2] }
    }""")
    assert check_structured_decomposable(consistent) == ()


def test_a_product_off_its_regions_scope_can_still_break_the_vtree():
    # Not smooth: the partition x[0] * x[1] is not over its region's scope. One split per
    # scope then does not make the scopes nested or disjoint, and the overlap of {x[0],
    # x[1]} with {x[0], x[2]} is what is reported. (Smooth circuits need no such pass.)
    circuit = circuit_of("""model bad {
      data = variables(count = 4, values = 2)
      structure {
        region a = x[0] * x[2]
        region b = x[1] * x[3]
        region r = a * b | x[0] * x[1]
      }
    }""")
    assert check_smooth(circuit) and check_decomposable(circuit) == ()
    found = check_structured_decomposable(circuit)
    assert found and "overlap without one containing the other" in found[0].message


@pytest.mark.parametrize("source", [NOT_SMOOTH, NOT_DECOMPOSABLE, """model m {
  data = variables(count = 4, values = 2)
  structure { region ab = x[0] * x[1]  region root = ab * x[2] * x[3] | x[0] * x[1] * x[2] * x[3] }
}""", "model m { data = image(channels = 2, height = 5, width = 3) regions = poon_domingos(delta = 2) }",
    "model m { data = image(channels = 3, height = 4, width = 6) }"])
def test_partition_scopes_are_the_unions_of_their_layers(source):
    """The checks work per partition and region; each partition's scope must be that of
    its product layer, worked out from the layers themselves."""
    circuit = circuit_of(source)
    scopes = layer_scopes(circuit.region_graph)
    products = circuit.kind_mask(LayerKind.HADAMARD, LayerKind.KRONECKER) & (circuit.origin_partitions >= 0)
    for layer_id in np.flatnonzero(products).tolist():
        p = int(circuit.origin_partitions[layer_id])
        assert runs_scope(scopes.partitions[p]) == circuit.scope(layer_id)
        parts = [circuit.scope(i) for i in circuit.layers[layer_id].inputs]
        disjoint = sum(s.bit_count() for s in parts) == circuit.scope(layer_id).bit_count()
        assert scopes.disjoint[p] == disjoint
