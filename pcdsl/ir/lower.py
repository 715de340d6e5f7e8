"""Lowering: a checked ``ModelSpec`` to its region graph and layer graph.

The layer construction follows libcirkit 0.3.1's ``RegionGraph.build_circuit`` with
``factorize_multivariate=True`` so that the same configuration gives the same circuit.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Mapping
from dataclasses import replace
from itertools import chain
from pathlib import Path

import numpy as np

from pcdsl.diagnostics import CompileError, Span, error, visible
from pcdsl.ir.budget import MAX_SCOPE_ENTRIES
from pcdsl.ir.circuit import LAYER_KINDS, Circuit, Initializer, LayerKind, Origin, Parameters, Weight
from pcdsl.ir.region_graph import RegionGraph, RegionGraphBuilder
from pcdsl.ir.region_graphs.chow_liu import chow_liu_region_graph, scope_entries, tree_from_json
from pcdsl.ir.region_graphs.linear_tree import linear_tree
from pcdsl.ir.region_graphs.poon_domingos import image_delta, poon_domingos
from pcdsl.ir.region_graphs.quad import quad_graph, quad_tree
from pcdsl.ir.region_graphs.random_binary_tree import random_binary_tree
from pcdsl.ir.scope import describe_scope, runs_size, runs_variables, scope_of, union_runs
from pcdsl.syntax.typed import KindValue, ModelSpec, StructureSpec


def build_region_graph(model: ModelSpec, files: Mapping[str, bytes] | None = None) -> RegionGraph:
    """The model's region graph. ``files`` maps the paths a spec names (as written, relative
    to its folder) to their bytes; given, it replaces the disk (a spec rebuilt from a
    checkpoint reads the files the checkpoint carries, nothing else)."""
    if model.structure is not None:
        return structure_region_graph(model.structure, model.num_variables)
    regions = model.regions
    assert regions is not None
    shape = model.image_shape
    assert shape is not None
    if regions.kind == "chow_liu_tree":
        return _chow_liu(regions, shape, Path(model.span.file).parent, files)
    try:
        return _construct(regions, shape)
    except ValueError as exc:  # an option out of range for this image
        raise CompileError([error("range", f"{regions.kind}: {exc}", regions.span or model.span)]
                           ) from None


def _construct(regions: KindValue, shape: tuple[int, int, int]) -> RegionGraph:
    num_variables = shape[0] * shape[1] * shape[2]
    if regions.kind == "quad_graph":
        return quad_graph(shape)
    if regions.kind == "quad_tree":
        return quad_tree(shape, splits=int(regions["splits"]))  # type: ignore[arg-type]
    if regions.kind == "random_binary_tree":
        return random_binary_tree(num_variables, depth=regions["depth"],  # type: ignore[arg-type]
                                  repetitions=int(regions["repetitions"]),  # type: ignore[arg-type]
                                  seed=int(regions["seed"]))  # type: ignore[arg-type]
    if regions.kind == "linear_tree":
        return linear_tree(num_variables,
                           repetitions=int(regions["repetitions"]))  # type: ignore[arg-type]
    if regions.kind == "poon_domingos":
        delta = regions["delta"] if regions["delta"] is not None else image_delta(shape)
        return poon_domingos(shape, delta, max_depth=regions["max_depth"])  # type: ignore[arg-type]
    raise AssertionError(f"no construction for region graph {regions.kind}")


# A tree over the 262,144 variables the driver allows is about 2 MiB of JSON.
MAX_TREE_FILE_BYTES = 8 * 2**20


def _chow_liu(regions: KindValue, shape: tuple[int, int, int], folder: Path,
              files: Mapping[str, bytes] | None) -> RegionGraph:
    """The HCLT region graph of the tree file the spec names (relative to its folder)."""
    raw = str(regions["file"])
    name = visible(raw)  # shown in messages: no terminal control through a file name
    span = regions.span_of("file")
    hint = ("learn one with 'pcc learn chow-liu --dataset NAME --data-root DIR -o FILE'; the "
            "path is relative to the spec's folder")
    path = Path(raw)
    if files is not None:
        if raw not in files:
            raise CompileError([error("file", f"the tree file '{name}' is not among the files "
                                      "that came with the spec", span, hint)])
        data = files[raw]
        return _tree_region_graph(data, name, span, hint, shape)
    inside = folder.resolve() in (folder / path).resolve().parents  # symbolic links followed
    if path.is_absolute() or ".." in path.parts or not inside:
        # A spec checked in CI must not read files outside its own folder.
        raise CompileError([error("file", f"the tree file '{name}' must be a path inside the "
                                  "spec's folder (relative, without '..')", span, hint)])
    try:
        # Checked before opening: opening a pipe or a device could block or never end.
        if not stat.S_ISREG(os.stat(folder / path).st_mode):
            raise CompileError([error("file", f"the tree file '{name}' is not a regular "
                                      "file", span, hint)])
        with open(folder / path, "rb") as handle:
            data = handle.read(MAX_TREE_FILE_BYTES + 1)
    except OSError as exc:
        raise CompileError([error("file", f"cannot read the tree file '{name}': "
                                  f"{exc.strerror or exc}", span, hint)]) from None
    return _tree_region_graph(data, name, span, hint, shape)


def _tree_region_graph(data: bytes, name: str, span: Span | None, hint: str,
                       shape: tuple[int, int, int]) -> RegionGraph:
    if len(data) > MAX_TREE_FILE_BYTES:
        raise CompileError([error("file", f"the tree file '{name}' is larger than "
                                  f"{MAX_TREE_FILE_BYTES // 2**20} MiB", span, hint)])
    try:
        tree = tree_from_json(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise CompileError([error("file", f"'{name}' is not a Chow-Liu tree file: {exc}", span,
                                  hint)]) from None
    if tree.image_shape != shape:
        raise CompileError([error(
            "file", f"the tree in '{name}' is over images of "
            f"{'x'.join(map(str, tree.image_shape))}, but the data are "
            f"{'x'.join(map(str, shape))}", span,
            "learn a tree on images of the model's shape with 'pcc learn chow-liu'")])
    entries = scope_entries(tree.parents)
    if entries > MAX_SCOPE_ENTRIES:
        raise CompileError([error(
            "too-large", f"the tree in '{name}' is so deep that its regions would hold "
            f"{entries:,} variables in all; pcc builds region graphs of at most "
            f"{MAX_SCOPE_ENTRIES:,}", span, "learn a tree on a smaller image")])
    graph = chow_liu_region_graph(tree.parents)
    return replace(graph, source_sha256=hashlib.sha256(data).hexdigest())


def structure_region_graph(structure: StructureSpec, num_variables: int) -> RegionGraph:
    """The region graph of a hand-written ``structure`` block, checked to cover all variables."""
    builder = RegionGraphBuilder(num_variables)
    leaves: dict[int, int] = {}
    ids: dict[str, int] = {}

    def leaf(variable: int) -> int:
        if variable not in leaves:
            leaves[variable] = builder.region_of_runs((variable, variable + 1))
        return leaves[variable]

    for region in structure.regions:  # parts before wholes
        parts_per_partition = []
        for partition in region.partitions:
            parts = [ids[operand.region] if operand.region is not None else leaf(operand.variable)
                     for operand in partition.operands]
            parts_per_partition.append((parts, partition.span))
        runs = union_runs(builder.runs(part) for parts, _ in parts_per_partition for part in parts)
        ids[region.name] = builder.region_of_runs(runs, region.name, region.span)
        for parts, span in parts_per_partition:
            builder.split(ids[region.name], parts, span)
    graph = builder.build(ids[structure.root])
    root = graph.regions[graph.root]
    if root.size < num_variables:
        missing = scope_of(sorted(set(range(num_variables)).difference(root.variables)))
        raise CompileError([error(
            "coverage",
            f"root region '{structure.root}' leaves {num_variables - root.size} of "
            f"{num_variables} variables out: {describe_scope(missing)}",
            root.span, "every variable of the data must appear in the structure"
        )])
    return graph


def _initializer(init: object) -> Initializer:
    assert isinstance(init, KindValue)
    return Initializer(init.kind, tuple((k, float(v)) for k, v in init.options))  # type: ignore[arg-type]


def parameter(value: object, shape: tuple[int, ...], *, log_space: bool = False) -> Weight:
    """The symbolic parameter of a parameterisation such as ``softmax(init = normal())``."""
    assert isinstance(value, KindValue)
    minimum = float(value["minimum"]) if value.kind == "positive_clamp" else None  # type: ignore[arg-type]
    return Weight(shape, value.kind, len(shape) - 1, _initializer(value["init"]),
                  log_space=log_space, minimum=minimum)


def _input_parameters(model: ModelSpec, units: int) -> tuple[LayerKind, Parameters]:
    """The layer kind of the model's inputs and their parameters."""
    inputs = model.inputs
    values = model.num_values
    if inputs.kind == "gaussian":
        return LayerKind.GAUSSIAN, Parameters(parameter(inputs["mean"], (units,)),
                                              parameter(inputs["std"], (units,)))
    assert values is not None
    if inputs.kind == "embedding":
        return LayerKind.EMBEDDING, Parameters(parameter(inputs["weights"], (units, values)))
    if inputs.kind == "categorical":
        shape: tuple[int, ...] = (units, values)
        kind = LayerKind.CATEGORICAL
    else:  # binomial and bernoulli: one success probability per unit
        if inputs.kind == "bernoulli" and values != 2:
            raise CompileError([error(
                "conflict", f"'bernoulli' inputs are over binary variables, but the data has "
                f"{values} values", inputs.span or model.span,
                "use 'values = 2' (binarised data), or 'binomial' / 'categorical' inputs")])
        shape, kind = (units,), LayerKind.BINOMIAL
    if inputs["logits"] is not None:
        return kind, Parameters(parameter(inputs["logits"], shape, log_space=True))
    return kind, Parameters(parameter(inputs["probs"], shape))


def _exclusive_cumsum(counts: np.ndarray) -> np.ndarray:
    return np.cumsum(counts) - counts


def _ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``starts[i] + 0, 1, ..., counts[i] - 1`` for every i, end to end."""
    return np.repeat(starts - _exclusive_cumsum(counts), counts) + np.arange(counts.sum())


class _Columns:
    """The layers of a circuit, one block of equal role (the inputs of all leaves, the
    first dense sum of every partition, ...) at a time: ``add`` writes the rows of a block
    at the layer ids it is given, ``edge`` the input in slot ``slot`` of each of them."""

    def __init__(self, model: ModelSpec, num_layers: int, input_parameters: Parameters) -> None:
        self.kinds = np.full(num_layers, -1, np.int64)
        self.units = np.zeros(num_layers, np.int64)
        self.variables = np.full(num_layers, -1, np.int64)
        self.parameter_ids = np.full(num_layers, -1, np.int64)
        self.regions = np.zeros(num_layers, np.int64)
        self.partitions = np.full(num_layers, -1, np.int64)
        self._edges: list[tuple[np.ndarray, int | np.ndarray, np.ndarray]] = []
        self.parameters: dict[Parameters, int] = {input_parameters: 0}
        self._settings = {True: model.sum_weights("dense"), False: model.sum_weights("mixing")}

    def add(self, ids: np.ndarray, kind: LayerKind, units: int | np.ndarray, regions: np.ndarray,
            partitions: int | np.ndarray = -1, parameter_ids: int | np.ndarray = -1) -> None:
        self.kinds[ids] = LAYER_KINDS.index(kind)
        self.units[ids] = units
        self.regions[ids] = regions
        self.partitions[ids] = partitions
        self.parameter_ids[ids] = parameter_ids

    def edge(self, ids: np.ndarray, slot: int | np.ndarray, inputs: np.ndarray) -> None:
        self._edges.append((ids, slot, inputs))

    def weights(self, kind: LayerKind, rows: int, columns: np.ndarray) -> np.ndarray:
        """The parameters of sums of ``kind`` with ``rows`` x ``columns[i]`` weights."""
        widths, which = np.unique(columns, return_inverse=True)
        ids = []
        for width in widths.tolist():
            weights = Parameters(parameter(self._settings[kind is LayerKind.DENSE], (rows, width)))
            ids.append(self.parameters.setdefault(weights, len(self.parameters)))
        return np.array(ids, np.int64)[which.reshape(-1)]

    def circuit(self, model: ModelSpec, output: int, graph: RegionGraph) -> Circuit:
        assert (self.kinds >= 0).all(), "a layer id left without a layer"
        ids = np.concatenate([ids for ids, _, _ in self._edges])
        slots = np.concatenate([np.broadcast_to(slot, ids.shape) for ids, slot, _ in self._edges])
        inputs = np.concatenate([inputs for _, _, inputs in self._edges])
        order = np.lexsort((slots, ids))
        counts = np.bincount(ids, minlength=len(self.kinds))
        return Circuit(
            name=model.name,
            num_variables=model.num_variables,
            num_values=model.num_values,
            image_shape=model.image_shape,
            kinds=self.kinds.astype(np.int8),
            units=self.units,
            input_offsets=np.concatenate([[0], np.cumsum(counts)]),
            input_ids=inputs[order],
            variables=self.variables,
            parameter_ids=self.parameter_ids,
            origin_regions=self.regions,
            origin_partitions=self.partitions,
            parameters=tuple(self.parameters),
            output=output,
            region_graph=graph,
            seed=model.seed,
        )


def lower_model(model: ModelSpec, files: Mapping[str, bytes] | None = None) -> Circuit:
    """Build the circuit of a model: inputs per leaf, sum-product layers per partition.
    ``files``: see ``build_region_graph``.

    Region by region in topological order, lowering lays out a block of layers:

    * a leaf: one input layer per variable, a Hadamard product of them if there are
      several, and at the root a dense sum to the classes;
    * a partition, with ``cp``: a dense sum per part, their Hadamard product, and at the
      root a dense sum to the classes; with ``cp_t`` (``tucker``): the Hadamard (Kronecker)
      product of the parts, then a dense sum;
    * a region: the blocks of its partitions, then, with several, one sum over their
      outputs (``mixing``: a mixing sum, or ``dense``: a stacked dense sum).

    A region's output is the last layer of its block. Every block has a size fixed by
    its region's arities, so each layer's id is known up front, and the layers are built
    a kind of block at a time for all regions at once.
    """
    graph = build_region_graph(model, files)
    input_units = int(model.inputs["units"])  # type: ignore[arg-type]
    sum_units = int(model.layers["units"])  # type: ignore[arg-type]
    num_classes = model.classes
    sum_product = model.layers.kind
    input_kind, input_parameters = _input_parameters(model, input_units)

    num_regions = len(graph.runs)
    region_ids = np.arange(num_regions)
    num_partitions = np.array([len(ps) for ps in graph.region_partitions], np.int64)
    num_leaf_variables = np.array([runs_size(runs) if not ps else 0
                                   for runs, ps in zip(graph.runs, graph.region_partitions)], np.int64)
    partition_region = np.array(graph.partition_regions, np.int64)
    assert (np.diff(partition_region) >= 0).all(), "partitions are numbered region by region"
    arity = np.array([len(inputs) for inputs in graph.partition_inputs], np.int64)
    parts = np.fromiter(chain.from_iterable(graph.partition_inputs), np.int64, int(arity.sum()))
    part_partition = np.repeat(np.arange(len(arity)), arity)
    part_slot = np.arange(len(parts)) - np.repeat(_exclusive_cumsum(arity), arity)
    is_leaf = num_partitions == 0
    is_root = region_ids == graph.root
    partition_is_root = is_root[partition_region]

    # Layers per partition and per region, hence where each block starts.
    if sum_product == "cp":
        block = arity + 1 + partition_is_root
    else:
        block = np.full(len(arity), 2)
    per_region = np.bincount(partition_region, weights=block, minlength=num_regions).astype(np.int64)
    per_region += np.where(is_leaf, num_leaf_variables + (num_leaf_variables > 1) + is_root,
                           num_partitions > 1)
    region_start = _exclusive_cumsum(per_region)
    output = region_start + per_region - 1
    output_units = np.where(is_root, num_classes, np.where(is_leaf, input_units, sum_units))
    excl = _exclusive_cumsum(block)
    first_partition = _exclusive_cumsum(num_partitions)
    partition_start = region_start[partition_region] + excl - excl[first_partition[partition_region]]
    layers = _Columns(model, int(per_region.sum()), input_parameters)
    dense = LayerKind.DENSE

    # Leaves: inputs, the product of several, the dense sum of a root leaf.
    leaves = region_ids[is_leaf]
    counts = num_leaf_variables[leaves]
    inputs = _ranges(region_start[leaves], counts)
    layers.add(inputs, input_kind, input_units, np.repeat(leaves, counts), parameter_ids=0)
    layers.variables[inputs] = [v for r in leaves.tolist() for v in runs_variables(graph.runs[r])]
    several = leaves[counts > 1]
    products = region_start[several] + num_leaf_variables[several]
    layers.add(products, LayerKind.HADAMARD, input_units, several)
    for slot in range(int(num_leaf_variables.max(initial=0))):
        has = num_leaf_variables[several] > slot
        layers.edge(products[has], slot, region_start[several][has] + slot)
    root_leaf = leaves[is_root[leaves]]
    layers.add(output[root_leaf], dense, num_classes, root_leaf,
               parameter_ids=layers.weights(dense, num_classes, np.full(len(root_leaf), input_units)))
    layers.edge(output[root_leaf], 0, output[root_leaf] - 1)

    # Partitions.
    part_output = output[parts]
    if sum_product == "cp":
        denses = partition_start[part_partition] + part_slot
        layers.add(denses, dense, sum_units, partition_region[part_partition], part_partition,
                   layers.weights(dense, sum_units, output_units[parts]))
        layers.edge(denses, 0, part_output)
        products = partition_start + arity
        layers.add(products, LayerKind.HADAMARD, sum_units, partition_region, np.arange(len(arity)))
        layers.edge(products[part_partition], part_slot, denses)
        root = np.flatnonzero(partition_is_root)
        layers.add(products[root] + 1, dense, num_classes, partition_region[root], root,
                   layers.weights(dense, num_classes, np.full(len(root), sum_units)))
        layers.edge(products[root] + 1, 0, products[root])
    else:
        part_units = output_units[parts]
        low = np.minimum.reduceat(part_units, _exclusive_cumsum(arity)) if len(parts) else part_units
        high = np.maximum.reduceat(part_units, _exclusive_cumsum(arity)) if len(parts) else part_units
        if (low != high).any():
            p = int(np.flatnonzero(low != high)[0])
            units = sorted(set(part_units[part_partition == p].tolist()))
            raise CompileError([error(
                "units", f"'{sum_product}' needs inputs with equal unit counts, but "
                f"{graph.regions[int(partition_region[p])].describe()} splits into parts with "
                f"{' and '.join(str(u) for u in units)} units",
                model.layers.span or model.inputs.span or model.span,
                "give 'inputs' and 'layers' the same number of units")])
        products = partition_start
        width = low if sum_product == "cp_t" else low ** arity
        kind = LayerKind.HADAMARD if sum_product == "cp_t" else LayerKind.KRONECKER
        layers.add(products, kind, width, partition_region, np.arange(len(arity)))
        layers.edge(products[part_partition], part_slot, part_output)
        out = output_units[partition_region]
        layers.add(products + 1, dense, out, partition_region, np.arange(len(arity)),
                   _weights_by_rows(layers, dense, out, width))
        layers.edge(products + 1, 0, products)

    # Regions of several partitions: one sum over the partitions' outputs.
    mixed = region_ids[num_partitions > 1]
    partition_output = partition_start + block - 1
    mixed_partitions = np.flatnonzero(np.isin(partition_region, mixed))
    sums = output[partition_region[mixed_partitions]]
    slots = mixed_partitions - first_partition[partition_region[mixed_partitions]]
    layers.edge(sums, slots, partition_output[mixed_partitions])
    out = output_units[mixed]
    if model.mixing == "dense":
        layers.add(output[mixed], LayerKind.STACKED, out, mixed,
                   parameter_ids=_weights_by_rows(layers, LayerKind.STACKED, out,
                                                  num_partitions[mixed] * out))
    else:
        layers.add(output[mixed], LayerKind.MIXING, out, mixed,
                   parameter_ids=_weights_by_rows(layers, LayerKind.MIXING, out, num_partitions[mixed]))
    return layers.circuit(model, int(output[graph.root]), graph)


def _weights_by_rows(layers: _Columns, kind: LayerKind, rows: np.ndarray,
                     columns: np.ndarray) -> np.ndarray:
    """``_Columns.weights`` for sums whose number of rows varies too (the root's)."""
    ids = np.full(len(rows), -1, np.int64)
    for count in np.unique(rows).tolist():
        chosen = rows == count
        ids[chosen] = layers.weights(kind, count, columns[chosen])
    return ids


def span_of_origin(circuit: Circuit, origin: Origin) -> Span | None:
    graph = circuit.region_graph
    if origin.partition is not None and graph.partition_spans[origin.partition] is not None:
        return graph.partition_spans[origin.partition]
    return graph.region_spans[origin.region]
