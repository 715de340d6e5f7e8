"""Circuit algebra over the layer graph: the plan of a squared circuit, and the check that
a circuit can be squared (structured decomposability, which is compatibility with itself).

A squared circuit models p(x) = c(x)^2 / Z with Z = sum over all x of c(x)^2, where c may
have negative weights. Z is computed exactly by one upward pass over *Gram matrices*: for
two layers a and b over the same scope, G[a, b] (units of a x units of b) holds
sum_x a_k(x) b_j(x) over the states x of that scope. The recursion is that of the product
circuit c * c, with a matrix where the product circuit has a Kronecker layer:

* two input layers over variable v: ``G = P_a P_b^T`` with ``P`` the (units, values) table
  (for gaussian units, the integral of each product of two densities);
* a sum (weights W, several inputs concatenated) on either side: ``G = W_a [G[a_i, b_j]] W_b^T``
  over the block matrix of its inputs' Grams (the identity on a side that is not a sum);
* two products of the same kind whose inputs split the scope the same way: the elementwise
  (Hadamard) or Kronecker product of the Grams of their matching inputs.

Marginals use the same pass with an observed variable contributing ``p(x_v) p(x_v)^T``.
Everything here is a pure function of the ``Circuit``; codegen folds the plan.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum

import numpy as np

from pcdsl.diagnostics import Diagnostic, Span, error
from pcdsl.ir.circuit import LAYER_KINDS, Circuit, Layer, LayerKind, Parameters
from pcdsl.ir.lower import span_of_origin
from pcdsl.ir.scope import describe_scope


class GramKind(str, Enum):
    INPUT = "input"  # two input layers over one variable
    SUM = "sum"  # a sum on at least one side: W_a [blocks] W_b^T
    HADAMARD = "hadamard"  # two Hadamard products: elementwise product of the Grams
    KRONECKER = "kronecker"  # two Kronecker products: Kronecker product of the Grams


@dataclass(frozen=True)
class GramNode:
    """G[left, right] for two layers over the same scope. ``inputs`` are node ids: for a
    sum, the blocks row-major over (left's inputs, right's inputs), a side that is not a
    sum counting as its own single input; for products, one per matching pair of inputs."""

    id: int
    kind: GramKind
    left: int  # layer ids
    right: int
    inputs: tuple[int, ...]
    rows: int  # units of left
    columns: int  # units of right
    variable: int | None = None  # input nodes
    left_arity: int = 0  # sum nodes: inputs of the left sum (0: left is not a sum)
    right_arity: int = 0


@dataclass(frozen=True)
class Algebra:
    """How a model is made from others: ``operation`` (``"square"`` or ``"multiply"``) of
    ``operands`` (model names of the same file), with the plan of its normaliser."""

    operation: str
    operands: tuple[str, ...]
    plan: GramPlan


@dataclass(frozen=True)
class GramPlan:
    """Every Gram matrix the pass computes, inputs first; ``nodes[output]`` is the root's."""

    circuit: Circuit
    nodes: tuple[GramNode, ...]
    output: int


class _Incompatible(Exception):
    def __init__(self, layer: Layer, reason: str) -> None:
        super().__init__(reason)
        self.layer = layer
        self.reason = reason


def gram_plan(circuit: Circuit, roots: tuple[int, int] | None = None) -> GramPlan:
    """The Gram pass of ``circuit`` squared, or with ``roots`` (two layers of ``circuit``) of
    the product of those two. Raises ``ValueError`` when the pass does not exist;
    ``square_diagnostics`` and ``multiply_diagnostics`` say why, at a spec position."""
    try:
        return _plan(circuit, roots)
    except _Incompatible as exc:
        raise ValueError(exc.reason) from None


def square_diagnostics(circuit: Circuit, operation: str, span: Span | None,
                       regions: str | None) -> tuple[Diagnostic, ...]:
    """Why ``circuit`` cannot be squared, located at the operation (``span``), with a note
    at the region or partition at fault; empty when it can. ``regions`` names the base's
    region graph kind (None for a hand-written structure), for the hint."""
    try:
        _plan(circuit, None)
    except _Incompatible as exc:
        where = span_of_origin(circuit, exc.layer.origin)
        notes = ((exc.reason, where),) if where is not None else ()
        graph = f"{regions} is not structured-decomposable" if regions else \
            "the structure is not structured-decomposable"
        return (error("not-structured", f"{operation} needs a structured-decomposable circuit, "
                      f"and {graph}: {exc.reason}", span, _HINTS.get(regions or "", _HINT), notes),)
    return ()


def multiply_diagnostics(product: Circuit, operation: str, span: Span | None,
                         roots: tuple[int, int]) -> tuple[Diagnostic, ...]:
    """Why the two circuits side by side in ``product`` (see ``product_circuit``), with
    outputs ``roots``, are not compatible, located at the operation; empty when they are."""
    try:
        _plan(product, roots)
    except _Incompatible as exc:
        return (error("not-compatible", f"{operation} needs compatible circuits, split the same "
                      f"way wherever they share a scope, and these are not: {exc.reason}", span,
                      "give both models the same region graph (and 'cp_t' or 'cp' layers alike, "
                      "or 'tucker' for both)"),)
    return ()


def product_circuit(left: Circuit, right: Circuit, name: str) -> tuple[Circuit, tuple[int, int]]:
    """The two circuits side by side, ``right``'s layers after ``left``'s, under one product
    layer of their outputs: its value is left(x) right(x) (not decomposable: the two share
    their variables, which the Gram pass of ``roots``, their outputs, integrates). Returns
    the circuit and ``roots``. The right circuit's layers keep their parameters; their origin
    is the left circuit's root region, so diagnostics about them point at the left model."""
    circuit, roots = _side_by_side((left, right), name, LayerKind.HADAMARD,
                                   int(left.units[left.output]), None)
    return circuit, (roots[0], roots[1])


def mixture_circuit(circuits: tuple[Circuit, ...], name: str) -> Circuit:
    """The circuits side by side, each one's layers after those of the one before, under one
    mixing sum of their outputs: its value is sum_i w_i c_i(x) with weights w, a new
    parameter (the last), activated and initialised like the first circuit's root sum
    (softmax weights make a normalised mixture of normalised circuits). Smooth and
    decomposable wherever every circuit is, as all are over the same variables."""
    first = circuits[0]
    root = first.parameters[int(first.parameter_ids[first.output])].weight
    weight = replace(root, shape=(1, len(circuits)), axis=1)
    circuit, _ = _side_by_side(circuits, name, LayerKind.MIXING, 1, Parameters(weight))
    return circuit


def _side_by_side(circuits: tuple[Circuit, ...], name: str, kind: LayerKind, units: int,
                  parameters: Parameters | None) -> tuple[Circuit, list[int]]:
    """The circuits' layers one after another (each keeping its parameters) under one new
    layer of ``kind`` over their outputs, with ``parameters`` if given. The origin of every
    layer after the first circuit's is its root region, so diagnostics about them point at
    the first model. Returns the circuit and the ids of the circuits' outputs in it."""
    first = circuits[0]
    shifts = np.cumsum([0] + [c.num_layers for c in circuits])
    edges = np.cumsum([0] + [len(c.input_ids) for c in circuits])
    counts = np.cumsum([0] + [len(c.parameters) for c in circuits])
    outputs = [int(shift) + c.output for shift, c in zip(shifts, circuits)]
    root_region = first.origin_regions[first.output]
    all_parameters = sum((c.parameters for c in circuits), ())
    new_parameter = -1
    if parameters is not None:
        new_parameter, all_parameters = len(all_parameters), all_parameters + (parameters,)
    circuit = Circuit(
        name=name, num_variables=first.num_variables, num_values=first.num_values,
        image_shape=first.image_shape,
        kinds=np.concatenate([c.kinds for c in circuits]
                             + [np.array([LAYER_KINDS.index(kind)], dtype=first.kinds.dtype)]),
        units=np.concatenate([c.units for c in circuits] + [[units]]),
        input_offsets=np.concatenate([c.input_offsets[:-1] + e for c, e in zip(circuits, edges)]
                                     + [[edges[-1], edges[-1] + len(circuits)]]),
        input_ids=np.concatenate([c.input_ids + s for c, s in zip(circuits, shifts)] + [outputs]),
        variables=np.concatenate([c.variables for c in circuits] + [[-1]]),
        parameter_ids=np.concatenate([np.where(c.parameter_ids >= 0, c.parameter_ids + n, -1)
                                      for c, n in zip(circuits, counts)] + [[new_parameter]]),
        origin_regions=np.concatenate([first.origin_regions,
                                       np.full(int(shifts[-1] - shifts[1]) + 1, root_region)]),
        origin_partitions=np.concatenate([first.origin_partitions,
                                          np.full(int(shifts[-1] - shifts[1]) + 1, -1)]),
        parameters=all_parameters,
        output=int(shifts[-1]),  # the new layer, after every circuit's
        region_graph=first.region_graph,
        seed=first.seed,
    )
    return circuit, outputs


_HINT = ("use a region graph with one split per region, the same wherever a scope recurs "
         "(quad_tree, linear_tree, random_binary_tree, chow_liu_tree)")
_HINTS = {
    "quad_graph": "use quad_tree",
    "poon_domingos": "use quad_tree",
    "random_binary_tree": "use random_binary_tree with repetitions = 1",
}


def _plan(circuit: Circuit, roots: tuple[int, int] | None) -> GramPlan:
    layers = circuit.layers
    index: dict[tuple[int, int], int] = {}
    nodes: list[GramNode] = []
    root = roots or (circuit.output, circuit.output)
    # Depth-first from the root pair, iteratively (chains can be thousands of layers
    # deep): a pair is created once every pair it reads exists.
    stack = [root]
    while stack:
        pair = stack[-1]
        if pair in index:
            stack.pop()
            continue
        a, b = layers[pair[0]], layers[pair[1]]
        kind, children, arity = _expand(circuit, a, b)
        missing = [c for c in children if c not in index]
        if missing:
            stack.extend(reversed(missing))
            continue
        stack.pop()
        index[pair] = len(nodes)
        nodes.append(GramNode(
            id=len(nodes), kind=kind, left=a.id, right=b.id,
            inputs=tuple(index[c] for c in children), rows=a.num_units, columns=b.num_units,
            variable=a.variable if kind is GramKind.INPUT else None,
            left_arity=arity[0], right_arity=arity[1]))
    return GramPlan(circuit, tuple(nodes), index[root])


def _expand(circuit: Circuit, a: Layer, b: Layer
            ) -> tuple[GramKind, list[tuple[int, int]], tuple[int, int]]:
    """The kind of G[a, b] and the pairs it reads (with the sums' arities)."""
    if circuit.scope(a.id) != circuit.scope(b.id):  # a sum over different scopes
        raise _Incompatible(a, f"a sum adds {describe_scope(circuit.scope(a.id))} and "
                            f"{describe_scope(circuit.scope(b.id))}: the circuit is not smooth")
    if a.kind.is_sum or b.kind.is_sum:
        left = a.inputs if a.kind.is_sum else (a.id,)
        right = b.inputs if b.kind.is_sum else (b.id,)
        return (GramKind.SUM, [(i, j) for i in left for j in right],
                (len(left) if a.kind.is_sum else 0, len(right) if b.kind.is_sum else 0))
    if a.kind.is_input and b.kind.is_input:
        return GramKind.INPUT, [], (0, 0)
    if a.kind.is_product and b.kind.is_product and a.kind is b.kind:
        return _product_kind(a), _matching_inputs(circuit, a, b), (0, 0)
    raise _Incompatible(a, f"{describe_scope(circuit.scope(a.id))} is computed both by a {a.kind.value} "
                        f"layer and by a {b.kind.value} layer")




def _product_kind(layer: Layer) -> GramKind:
    return GramKind.HADAMARD if layer.kind is LayerKind.HADAMARD else GramKind.KRONECKER


def _matching_inputs(circuit: Circuit, a: Layer, b: Layer) -> list[tuple[int, int]]:
    """The inputs of b in the order of a's inputs, matched by scope: products over the same
    scope must split it the same way (structured decomposability)."""
    by_scope = {circuit.scope(j): j for j in b.inputs}
    pairs = []
    for i in a.inputs:
        j = by_scope.get(circuit.scope(i))
        if j is None or len(by_scope) != len(a.inputs):
            raise _Incompatible(b, f"{describe_scope(circuit.scope(a.id))} is split in two "
                                "different ways")
        pairs.append((i, j))
    if a.kind is LayerKind.KRONECKER and [j for _, j in pairs] != list(b.inputs):
        raise _Incompatible(b, f"{describe_scope(circuit.scope(a.id))} is split into the same parts in "
                            "two different orders")
    return pairs
