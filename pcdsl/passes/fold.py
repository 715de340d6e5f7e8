"""Folding: group layers of equal kind and shape at equal depth, so that each group runs
as one batched tensor operation, and compute the index tables that feed each group.

Depth is "as late as possible": a layer is scheduled just before its first consumer
(inputs stay at depth 0). This puts, e.g., the two dense sums of a CP partition at the
same depth even when one reads a pixel and the other a large patch, so they share a
fold. The number of folds then grows with the depth of the circuit, not its size.

Members of a fold are ordered after their first consumer (consumer fold, input slot,
position), so that most folds read their inputs as one contiguous slice of a single
earlier fold: a view, not a copy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pcdsl.ir.circuit import LAYER_KINDS, Circuit, LayerKind, Weight

_KIND_ORDER = {LayerKind.CATEGORICAL: 0, LayerKind.BINOMIAL: 0, LayerKind.EMBEDDING: 0,
               LayerKind.GAUSSIAN: 0, LayerKind.DENSE: 1, LayerKind.HADAMARD: 2,
               LayerKind.KRONECKER: 3, LayerKind.MIXING: 4, LayerKind.STACKED: 5}


@dataclass(frozen=True)
class Gather:
    """Where a fold's inputs come from: ``index[a][f]`` is the position, in the
    concatenation of ``sources``' outputs, of input slot ``a`` of member ``f``."""

    sources: tuple[int, ...]  # fold ids, concatenated in this order
    index: tuple[tuple[int, ...], ...]  # (arity, num_members)
    slice_start: int | None  # set when index is start + arange over a single source

    @property
    def arity(self) -> int:
        return len(self.index)

    @property
    def width(self) -> int:
        return len(self.index[0])


@dataclass(frozen=True)
class Fold:
    id: int
    kind: LayerKind
    depth: int
    layers: tuple[int, ...]  # member layer ids, in fold order
    num_units: int
    input_units: int  # units of each input (0 for input folds)
    arity: int
    gather: Gather | None  # None for input folds
    weight: Weight | None  # per-member weight; the folded parameter is (F, *weight.shape)
    variables: tuple[int, ...] = ()  # input folds: the variable of each member
    num_values: int = 0  # input folds over discrete values (0 for gaussian inputs)
    std: Weight | None = None  # gaussian input folds: the standard deviations (F, *std.shape)

    @property
    def size(self) -> int:
        return len(self.layers)

    @property
    def weight_shape(self) -> tuple[int, ...] | None:
        return (self.size, *self.weight.shape) if self.weight is not None else None


@dataclass(frozen=True)
class FoldedCircuit:
    circuit: Circuit
    folds: tuple[Fold, ...]  # in execution order; fold ids are positions here
    output_fold: int
    output_position: int

    @property
    def depth(self) -> int:
        return max(f.depth for f in self.folds)


def layer_depths(circuit: Circuit) -> np.ndarray:
    """As-late-as-possible depth of every layer; input layers at 0."""
    num_layers = circuit.num_layers
    offsets = circuit.input_offsets.tolist()
    inputs = circuit.input_ids.tolist()
    asap = [0] * num_layers
    start = 0
    for i, stop in enumerate(offsets[1:]):  # topological order
        if stop - start == 1:
            asap[i] = 1 + asap[inputs[start]]
        elif stop != start:
            asap[i] = 1 + max([asap[j] for j in inputs[start:stop]])
        start = stop
    # A layer sits one level above its earliest consumer. Consumers come later in id
    # order, so walking backwards settles each layer's bound before reaching it.
    alap = asap[:]
    no_consumer = num_layers + 1
    bound = [no_consumer] * num_layers
    stop = offsets[-1]
    for i in range(num_layers - 1, -1, -1):
        start = offsets[i]
        if start != stop:  # not an input (those stay at 0)
            if bound[i] != no_consumer:
                alap[i] = bound[i]
            below = alap[i] - 1
            for j in inputs[start:stop]:
                if below < bound[j]:
                    bound[j] = below
        stop = start
    return np.array(alap, np.int64)


def fold_layers(circuit: Circuit) -> FoldedCircuit:
    depth = layer_depths(circuit)
    num_layers = circuit.num_layers
    ids = np.arange(num_layers)
    arity = circuit.arities
    # Every circuit ends in a sum, so there is at least one input edge to index.
    first_input = circuit.input_ids[np.minimum(circuit.input_offsets[:-1], len(circuit.input_ids) - 1)]
    input_units = np.where(arity > 0, circuit.units[first_input], 0)
    kind_order = np.array([_KIND_ORDER[k] for k in LAYER_KINDS])[circuit.kinds]
    # Layers fold together when they agree on all of these (parameters compared by value:
    # equal parameters share one entry of the circuit's table).
    key = (depth, kind_order, circuit.units, input_units, arity, circuit.parameter_ids, circuit.kinds)
    by_key = np.lexsort(key[::-1])  # stable: ids ascending within equal keys
    columns = np.stack(key, axis=1)[by_key]
    new_group = np.concatenate([[True], np.any(columns[1:] != columns[:-1], axis=1)])
    group = np.empty(num_layers, np.int64)
    group[by_key] = np.cumsum(new_group) - 1
    first_member = by_key[new_group]  # the least id of each group
    # Folds in order of depth, kind, units, input units, arity, then first member.
    g = columns[new_group]
    rank = np.empty(len(first_member), np.int64)
    rank[np.lexsort((first_member, g[:, 4], g[:, 3], g[:, 2], g[:, 1], g[:, 0]))] = np.arange(len(rank))
    fold_of = rank[group]
    num_folds = len(rank)

    members_by_fold = ids[np.lexsort((ids, fold_of))]
    sizes = np.bincount(fold_of, minlength=num_folds)
    fold_start = np.concatenate([[0], np.cumsum(sizes)])
    # Every (input, consumer, slot) edge, grouped by the input's fold, then by the input.
    consumer = np.repeat(ids, arity)
    slot = np.arange(len(circuit.input_ids)) - circuit.input_offsets[:-1][consumer]
    source = circuit.input_ids
    edges = np.lexsort((source, fold_of[source]))
    source, consumer, slot = source[edges], consumer[edges], slot[edges]
    edge_start = np.searchsorted(fold_of[source], np.arange(num_folds + 1))

    # Order members, last fold first, after their first consumer: by the least (consumer
    # fold, input slot, consumer position), packed into one integer, then by id.
    span_slot = int(arity.max(initial=0)) + 1
    span_position = int(sizes.max(initial=0)) + 1
    position = np.zeros(num_layers, np.int64)
    for f in range(num_folds - 1, -1, -1):
        members = members_by_fold[fold_start[f]:fold_start[f + 1]]
        order_key = np.zeros(len(members), np.int64)  # no consumer: first
        lo, hi = edge_start[f], edge_start[f + 1]
        if lo < hi:
            c = consumer[lo:hi]
            packed = (fold_of[c] * span_slot + slot[lo:hi]) * span_position + position[c]
            src = source[lo:hi]
            starts = np.flatnonzero(np.concatenate([[True], src[1:] != src[:-1]]))
            order_key[np.searchsorted(members, src[starts])] = np.minimum.reduceat(packed, starts)
        ordered = members[np.lexsort((members, order_key))]
        members_by_fold[fold_start[f]:fold_start[f + 1]] = ordered
        position[ordered] = np.arange(len(ordered))

    folds = []
    for f in range(num_folds):
        members = members_by_fold[fold_start[f]:fold_start[f + 1]]
        first = int(members[0])
        kind = LAYER_KINDS[circuit.kinds[first]]
        p = int(circuit.parameter_ids[first])
        parameters = circuit.parameters[p] if p >= 0 else None
        folds.append(Fold(
            id=f,
            kind=kind,
            depth=int(depth[first]),
            layers=tuple(members.tolist()),
            num_units=int(circuit.units[first]),
            input_units=int(input_units[first]),
            arity=int(arity[first]),
            gather=_gather(circuit, members, int(arity[first]), fold_of, position, sizes),
            weight=parameters.weight if parameters is not None else None,
            variables=tuple(circuit.variables[members].tolist()) if kind.is_input else (),
            num_values=(circuit.num_values or 0) if kind.has_table else 0,
            std=parameters.std if parameters is not None else None,
        ))
    return FoldedCircuit(circuit, tuple(folds), int(fold_of[circuit.output]),
                         int(position[circuit.output]))


def _gather(circuit: Circuit, members: np.ndarray, arity: int, fold_of: np.ndarray,
            position: np.ndarray, sizes: np.ndarray) -> Gather | None:
    if arity == 0:
        return None
    inputs = circuit.input_ids[circuit.input_offsets[members][None, :] + np.arange(arity)[:, None]]
    sources = np.unique(fold_of[inputs])
    offsets = np.zeros(len(sizes), np.int64)
    offsets[sources] = np.concatenate([[0], np.cumsum(sizes[sources])[:-1]])
    index = offsets[fold_of[inputs]] + position[inputs]  # (arity, members)
    start = int(index[0, 0])
    is_slice = len(sources) == 1 and bool(np.array_equal(index.reshape(-1),
                                                         np.arange(start, start + index.size)))
    return Gather(tuple(sources.tolist()), tuple(map(tuple, index.tolist())),
                  start if is_slice else None)
