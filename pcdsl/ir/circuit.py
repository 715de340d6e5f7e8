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
    EMBEDDING = "embedding"  # input: K units, each a non-negative table over V values
    GAUSSIAN = "gaussian"  # input: K units, each a normal density over a real value
    DENSE = "dense"  # sum: K_out units, each a weighted sum of all K_in input units
    MIXING = "mixing"  # sum: K units, unit k a weighted sum of unit k of A inputs
    STACKED = "stacked"  # sum: K_out units, each a weighted sum of all A x K_in units
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
        return self in (LayerKind.CATEGORICAL, LayerKind.BINOMIAL, LayerKind.EMBEDDING,
                        LayerKind.GAUSSIAN)

    @property
    def has_table(self) -> bool:
        """Input kinds over discrete values, computed as a table of (value, unit) entries."""
        return self in (LayerKind.CATEGORICAL, LayerKind.BINOMIAL, LayerKind.EMBEDDING)


@dataclass(frozen=True)
class Initializer:
    kind: str  # "normal", "uniform" or "dirichlet"
    arguments: tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class Weight:
    """A symbolic parameter: free values of ``shape`` through an activation (softmax
    normalises along ``axis``, the last one); with ``log_space`` the activated values are
    log-values (categorical logits), exponentiated."""

    shape: tuple[int, ...]
    activation: str  # "softmax", "sigmoid", "softplus", "positive_clamp" or "none"
    axis: int
    init: Initializer
    log_space: bool = False
    minimum: float | None = None  # positive_clamp: the lower bound

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def is_normalised(self) -> bool:
        """Whether the values sum to 1 along the last axis (for every parameter)."""
        return self.activation == "softmax" and not self.log_space

    @property
    def is_signed(self) -> bool:
        """Whether the values can be negative."""
        return self.activation == "none" and not self.log_space


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
    weight: Weight | None = None  # gaussian inputs: the means
    variable: int | None = None  # input layers: the variable they are over
    num_values: int | None = None  # table inputs: values per variable
    std: Weight | None = None  # gaussian inputs: the standard deviations

    @property
    def arity(self) -> int:
        return len(self.inputs)

    @property
    def num_parameters(self) -> int:
        return sum(w.size for w in (self.weight, self.std) if w is not None)

    @property
    def is_normalised(self) -> bool:
        """Whether the layer preserves normalisation: an input that is a distribution (it
        integrates to 1), a product, or a sum with normalised weights."""
        if self.kind in (LayerKind.BINOMIAL, LayerKind.GAUSSIAN) or self.kind.is_product:
            return True
        return self.weight is not None and self.weight.is_normalised


@dataclass(frozen=True)
class Circuit:
    name: str
    num_variables: int
    num_values: int | None  # None for real-valued data
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
        return sum(layer.num_parameters for layer in self.layers)

    @property
    def domain(self) -> str:
        """``"discrete"`` or ``"real"`` (gaussian inputs over floats)."""
        return "real" if self.num_values is None else "discrete"

    @property
    def is_normalised(self) -> bool:
        """Whether every output is a normalised distribution by construction (for a smooth
        and decomposable circuit): every layer preserves normalisation."""
        return all(layer.is_normalised for layer in self.layers)

    @property
    def is_signed(self) -> bool:
        """Whether some weight can be negative (a parameterisation 'none')."""
        return any(layer.weight is not None and layer.weight.is_signed
                   for layer in self.layers if layer.kind.is_sum)

    def consumers(self) -> list[list[int]]:
        out: list[list[int]] = [[] for _ in self.layers]
        for layer in self.layers:
            for i in layer.inputs:
                out[i].append(layer.id)
        return out
