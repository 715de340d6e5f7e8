"""The circuit's columns against its layer records: the totals and properties worked out
on whole columns (parameters, kinds, normalisation, signs) agree with the definitions
per layer, and the records read back what lowering built."""

from __future__ import annotations

from collections import Counter

import pytest

from pcdsl.driver import compile_source
from pcdsl.ir.circuit import LayerKind

IMAGE = "image(channels = 2, height = 3, width = 4, values = 3)"
SETTINGS = {
    "defaults": "",
    "gaussian": "inputs = gaussian(units = 3)",
    "embedding, sigmoid sums": "inputs = embedding(units = 3)\n weights = sigmoid",
    "binomial, tucker": "inputs = binomial(units = 2)\n layers = tucker(units = 2)",
    "signed sums, dense mixing": "inputs = categorical(units = 3)\n mixing = dense\n"
                                 " weights = none(init = uniform(a = -1.0, b = 1.0))",
    "signed mixing only": "inputs = categorical(units = 3)\n"
                          " mixing_weights = none(init = uniform(a = -1.0, b = 1.0))",
    "categorical logits, cp_t": "inputs = categorical(units = 3, logits = none)\n layers = cp_t(units = 3)",
}


def circuit_of(settings: str):
    data = IMAGE.replace("values = 3", "domain = real") if "gaussian" in settings else IMAGE
    source = f"model m {{\n data = {data}\n {settings}\n}}\n"
    return compile_source(source, "spec.pc").models[0].circuit


@pytest.mark.parametrize("settings", SETTINGS.values(), ids=SETTINGS.keys())
def test_column_totals_agree_with_the_layer_records(settings):
    circuit = circuit_of(settings)
    layers = list(circuit.layers)
    assert len(layers) == circuit.num_layers == len(circuit.layers)
    assert circuit.num_parameters == sum(layer.num_parameters for layer in layers)
    assert circuit.kind_counts() == Counter(layer.kind for layer in layers)
    assert circuit.is_normalised == all(layer.is_normalised for layer in layers)
    assert circuit.is_signed == any(layer.weight is not None and layer.weight.is_signed
                                    for layer in layers if layer.kind.is_sum)
    assert circuit.num_classes == layers[circuit.output].num_units


def test_signs_and_normalisation_follow_the_settings():
    assert circuit_of("").is_normalised and not circuit_of("").is_signed
    signed = circuit_of(SETTINGS["signed mixing only"])
    assert signed.is_signed and not signed.is_normalised
    assert not circuit_of(SETTINGS["embedding, sigmoid sums"]).is_normalised
    assert circuit_of(SETTINGS["binomial, tucker"]).is_normalised


def test_records_read_by_index_and_in_order_agree():
    circuit = circuit_of(SETTINGS["gaussian"])
    layers = list(circuit.layers)
    assert [circuit.layers[i] for i in range(len(layers))] == layers
    assert circuit.layers[-1] == layers[-1] and circuit.layers[2:5] == layers[2:5]
    with pytest.raises(IndexError):
        circuit.layers[len(layers)]
    for layer in layers:
        if layer.kind is LayerKind.GAUSSIAN:
            assert layer.inputs == () and layer.std is not None and layer.variable is not None
        else:
            assert layer.inputs and all(i < layer.id for i in layer.inputs)  # topological
    consumers = circuit.consumers()
    assert sorted((i, c) for c, layer in enumerate(layers) for i in layer.inputs) == sorted(
        (i, c) for i, cs in enumerate(consumers) for c in cs)
