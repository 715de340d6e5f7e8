"""The layer graph of a circuit: input, sum and product layers with unit counts and
symbolic parameter shapes, independent of any backend.

A circuit keeps its layers column by column, in numpy arrays indexed by layer id (kind,
units, inputs, ...), since image circuits have hundreds of thousands of layers and the
passes work on whole columns at once; ``circuit.layers[i]`` is layer ``i`` as a ``Layer``
record, with its inputs, kind and parameters, made when asked for.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum

import numpy as np

from pcdsl.ir.region_graph import Records, RegionGraph


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


LAYER_KINDS: tuple[LayerKind, ...] = tuple(LayerKind)  # the codes of ``Circuit.kinds``


@dataclass(frozen=True)
class Parameters:
    """What a layer is parameterised by: its weight and, for gaussian inputs, the
    standard deviations. Layers with equal parameters share one entry of a circuit's
    ``parameters`` table."""

    weight: Weight
    std: Weight | None = None

    @property
    def size(self) -> int:
        return self.weight.size + (self.std.size if self.std is not None else 0)


@dataclass(frozen=True, eq=False)
class Circuit:
    name: str
    num_variables: int
    num_values: int | None  # None for real-valued data
    image_shape: tuple[int, int, int] | None
    # The layers, topologically ordered, one entry per layer id:
    kinds: np.ndarray  # int8: index into LAYER_KINDS
    units: np.ndarray  # int64: number of units
    input_offsets: np.ndarray  # int64, one more entry: layer i reads input_ids[offsets[i]:offsets[i + 1]]
    input_ids: np.ndarray  # int64: layer ids
    variables: np.ndarray  # int64: input layers: the variable they are over; -1 for the others
    parameter_ids: np.ndarray  # int64: index into ``parameters``; -1 for layers without any
    origin_regions: np.ndarray  # int64: the region each layer implements part of
    origin_partitions: np.ndarray  # int64: ... and the partition, or -1 for a whole region
    parameters: tuple[Parameters, ...]  # the distinct parameters of the layers
    output: int  # the root layer
    region_graph: RegionGraph
    seed: int
    _scopes: dict[int, int] = field(default_factory=dict, init=False, repr=False)  # memo of ``scope``

    @property
    def layers(self) -> Records[Layer]:
        return Records(self.num_layers, self.layer, self._each_layer)

    @property
    def num_layers(self) -> int:
        return len(self.kinds)

    def layer(self, i: int) -> Layer:
        start, stop = self.input_offsets[i:i + 2].tolist()
        partition = int(self.origin_partitions[i])
        origin = Origin(int(self.origin_regions[i]), partition if partition >= 0 else None)
        return self._record(i, int(self.kinds[i]), self.input_ids[start:stop].tolist(), int(self.units[i]),
                            origin, int(self.parameter_ids[i]), int(self.variables[i]))

    def _each_layer(self) -> Iterator[Layer]:
        """Every layer's record, from the columns as lists (much faster than by index)."""
        inputs, offsets = self.input_ids.tolist(), self.input_offsets.tolist()
        columns = (self.kinds.tolist(), self.units.tolist(), self.origin_regions.tolist(),
                   self.origin_partitions.tolist(), self.parameter_ids.tolist(), self.variables.tolist())
        for i, (kind, units, region, partition, p, variable) in enumerate(zip(*columns)):
            origin = Origin(region, partition if partition >= 0 else None)
            yield self._record(i, kind, inputs[offsets[i]:offsets[i + 1]], units, origin, p, variable)

    def _record(self, i: int, code: int, inputs: list[int], units: int, origin: Origin, p: int,
                variable: int) -> Layer:
        kind = LAYER_KINDS[code]
        parameters = self.parameters[p] if p >= 0 else None
        return Layer(
            id=i, kind=kind, inputs=tuple(inputs), num_units=units, origin=origin,
            weight=parameters.weight if parameters is not None else None,
            variable=variable if kind.is_input else None,
            num_values=self.num_values if kind.has_table else None,
            std=parameters.std if parameters is not None else None,
        )

    def inputs_of(self, i: int) -> np.ndarray:
        return self.input_ids[self.input_offsets[i]:self.input_offsets[i + 1]]

    @property
    def arities(self) -> np.ndarray:
        return np.diff(self.input_offsets)

    def kind_mask(self, *kinds: LayerKind) -> np.ndarray:
        """Which layers are of one of ``kinds``."""
        return np.isin(self.kinds, [LAYER_KINDS.index(k) for k in kinds])

    def kind_counts(self) -> dict[LayerKind, int]:
        """How many layers of each kind, for the kinds present."""
        counts = np.bincount(self.kinds, minlength=len(LAYER_KINDS))
        return {kind: int(n) for kind, n in zip(LAYER_KINDS, counts) if n}

    def scope(self, i: int) -> int:
        """The variables layer ``i`` is over, as a bit set: an input's variable, or the
        union of its inputs' scopes. Worked out when asked for (and remembered), since a
        bit set per layer of an image circuit would take gigabytes."""
        pending = [i]
        while pending:
            j = pending[-1]
            if j in self._scopes:
                pending.pop()
                continue
            if LAYER_KINDS[self.kinds[j]].is_input:
                self._scopes[j] = 1 << int(self.variables[j])
                pending.pop()
                continue
            inputs = self.inputs_of(j).tolist()
            missing = [k for k in inputs if k not in self._scopes]
            if missing:
                pending.extend(missing)
                continue
            scope = 0
            for k in inputs:
                scope |= self._scopes[k]
            self._scopes[j] = scope
            pending.pop()
        return self._scopes[i]

    @property
    def num_classes(self) -> int:
        return int(self.units[self.output])

    @property
    def num_parameters(self) -> int:
        uses = np.bincount(self.parameter_ids[self.parameter_ids >= 0], minlength=len(self.parameters))
        return sum(int(n) * p.size for n, p in zip(uses, self.parameters))

    @property
    def domain(self) -> str:
        """``"discrete"`` or ``"real"`` (gaussian inputs over floats)."""
        return "real" if self.num_values is None else "discrete"

    @property
    def is_normalised(self) -> bool:
        """Whether every output is a normalised distribution by construction (for a smooth
        and decomposable circuit): every layer preserves normalisation, that is every
        layer of a kind that may not (table inputs and sums) has normalised weights."""
        weighted = self.kind_mask(LayerKind.CATEGORICAL, LayerKind.EMBEDDING,
                                  *(k for k in LayerKind if k.is_sum))
        used = np.unique(self.parameter_ids[weighted])
        return bool(used.size == 0 or used[0] >= 0) and all(
            self.parameters[p].weight.is_normalised for p in used.tolist())

    @property
    def is_signed(self) -> bool:
        """Whether some weight can be negative (a parameterisation 'none')."""
        used = np.unique(self.parameter_ids[self.kind_mask(*(k for k in LayerKind if k.is_sum))])
        return any(self.parameters[p].weight.is_signed for p in used.tolist() if p >= 0)

    def consumers(self) -> list[list[int]]:
        out: list[list[int]] = [[] for _ in range(self.num_layers)]
        for layer_id, i in zip(np.repeat(np.arange(self.num_layers), self.arities).tolist(),
                               self.input_ids.tolist()):
            out[i].append(layer_id)
        return out
