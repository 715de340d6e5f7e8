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

from pcdsl.ir.circuit import Circuit, LayerKind, Weight

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


def layer_depths(circuit: Circuit) -> list[int]:
    """As-late-as-possible depth of every layer; input layers at 0."""
    asap = [0] * len(circuit.layers)
    for layer in circuit.layers:  # topological order
        if layer.inputs:
            asap[layer.id] = 1 + max(asap[i] for i in layer.inputs)
    consumers = circuit.consumers()
    alap = list(asap)
    for layer in reversed(circuit.layers):
        if layer.kind.is_input or not consumers[layer.id]:
            continue
        alap[layer.id] = min(alap[c] for c in consumers[layer.id]) - 1
    return alap


def fold_layers(circuit: Circuit) -> FoldedCircuit:
    depth = layer_depths(circuit)
    groups: dict[tuple, list[int]] = {}
    for layer in circuit.layers:
        input_units = circuit.layers[layer.inputs[0]].num_units if layer.inputs else 0
        key = (depth[layer.id], _KIND_ORDER[layer.kind], layer.num_units, input_units,
               layer.arity, layer.weight, layer.num_values, layer.std, layer.kind)
        groups.setdefault(key, []).append(layer.id)
    keys = sorted(groups, key=lambda k: (k[0], k[1], k[2], k[3], k[4], min(groups[k])))
    fold_of = [0] * len(circuit.layers)
    for fold_id, key in enumerate(keys):
        for layer_id in groups[key]:
            fold_of[layer_id] = fold_id

    # Order members, last fold first, after their first consumer.
    consumers = circuit.consumers()
    position = [0] * len(circuit.layers)
    members: list[list[int]] = [[] for _ in keys]
    for fold_id in reversed(range(len(keys))):
        def order_key(layer_id: int) -> tuple[int, int, int, int]:
            best = None
            for c in consumers[layer_id]:
                slot = circuit.layers[c].inputs.index(layer_id)
                candidate = (fold_of[c], slot, position[c], layer_id)
                best = candidate if best is None or candidate < best else best
            return best if best is not None else (0, 0, 0, layer_id)
        members[fold_id] = sorted(groups[keys[fold_id]], key=order_key)
        for p, layer_id in enumerate(members[fold_id]):
            position[layer_id] = p

    folds = []
    for fold_id, key in enumerate(keys):
        ids = members[fold_id]
        first = circuit.layers[ids[0]]
        gather = _gather(circuit, ids, fold_of, position, [len(m) for m in members])
        folds.append(Fold(
            id=fold_id,
            kind=first.kind,
            depth=key[0],
            layers=tuple(ids),
            num_units=first.num_units,
            input_units=key[3],
            arity=first.arity,
            gather=gather,
            weight=first.weight,
            variables=tuple(circuit.layers[i].variable for i in ids) if first.kind.is_input else (),
            num_values=first.num_values or 0,
            std=first.std,
        ))
    return FoldedCircuit(circuit, tuple(folds), fold_of[circuit.output], position[circuit.output])


def _gather(circuit: Circuit, ids: list[int], fold_of: list[int], position: list[int],
            sizes: list[int]) -> Gather | None:
    first = circuit.layers[ids[0]]
    if not first.inputs:
        return None
    sources = sorted({fold_of[i] for layer_id in ids for i in circuit.layers[layer_id].inputs})
    offsets = {}
    total = 0
    for s in sources:
        offsets[s] = total
        total += sizes[s]
    index = tuple(
        tuple(offsets[fold_of[i]] + position[i]
              for i in (circuit.layers[layer_id].inputs[a] for layer_id in ids))
        for a in range(first.arity)
    )
    flat = [p for row in index for p in row]
    start = flat[0]
    is_slice = len(sources) == 1 and flat == list(range(start, start + len(flat)))
    return Gather(tuple(sources), index, start if is_slice else None)
