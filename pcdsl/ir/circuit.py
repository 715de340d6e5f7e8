"""The layer graph of a circuit: input, sum and product layers with unit counts and
symbolic parameter shapes, independent of any backend.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

from pcdsl.ir.region_graph import RegionGraph


class LayerKind(str, Enum):
    CATEGORICAL = "categorical"  # input: K units, each a categorical over V values
    BINOMIAL = "binomial"  # input: K units, each a binomial with total count V - 1
    DENSE = "dense"  # sum: K_out units, each a convex combination of all K_in input units
    MIXING = "mixing"  # sum: K units, unit k a convex combination of unit k of A inputs
    STACKED = "stacked"  # sum: K_out units, each a convex combination of all A x K_in units
    HADAMARD = "hadamard"  # product: unit k is the product of unit k of A inputs
    KRONECKER = "kronecker"  # product: K^A units, every product of one unit per input

    @property
    def is_sum(self) -> bool:
        return self in (LayerKind.DENSE, LayerKind.MIXING, LayerKind.STACKED)

    @property
    def is_product(self) -> bool:
        return self in (LayerKind.HADAMARD, LayerKind.KRONECKER)

    @property
    def is_input(self) -> bool:
        return self in (LayerKind.CATEGORICAL, LayerKind.BINOMIAL)


@dataclass(frozen=True)
class Initializer:
    kind: str  # "normal"
    arguments: tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class Weight:
    """A symbolic parameter: free values of ``shape``, normalised along ``axis``."""

    shape: tuple[int, ...]
    activation: str  # "softmax"
    axis: int
    init: Initializer

    @property
    def size(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class Origin:
    """What part of the region graph a layer implements, for diagnostics."""

    region: int
    partition: int | None = None


@dataclass(frozen=True)
class Layer:
    id: int
    kind: LayerKind
    inputs: tuple[int, ...]  # layer ids
    num_units: int
    scope: int  # bit set of variables
    origin: Origin
    weight: Weight | None = None
    variable: int | None = None  # input layers: the variable they are over
    num_values: int | None = None  # categorical inputs: values per variable

    @property
    def arity(self) -> int:
        return len(self.inputs)


@dataclass(frozen=True)
class Circuit:
    name: str
    num_variables: int
    num_values: int
    image_shape: tuple[int, int, int] | None
    layers: tuple[Layer, ...]  # indexed by id, topologically ordered
    output: int  # the root layer
    region_graph: RegionGraph
    seed: int

    @property
    def num_classes(self) -> int:
        return self.layers[self.output].num_units

    @property
    def num_parameters(self) -> int:
        return sum(layer.weight.size for layer in self.layers if layer.weight is not None)

    def consumers(self) -> list[list[int]]:
        out: list[list[int]] = [[] for _ in self.layers]
        for layer in self.layers:
            for i in layer.inputs:
                out[i].append(layer.id)
        return out
