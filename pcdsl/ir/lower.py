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
from pathlib import Path

import numpy as np

from pcdsl.diagnostics import CompileError, Span, error, visible
from pcdsl.ir.budget import MAX_SCOPE_ENTRIES
from pcdsl.ir.circuit import LAYER_KINDS, Circuit, Initializer, LayerKind, Origin, Parameters, Weight
from pcdsl.ir.region_graph import RegionGraph, RegionGraphBuilder, union
from pcdsl.ir.region_graphs.chow_liu import chow_liu_region_graph, scope_entries, tree_from_json
from pcdsl.ir.region_graphs.linear_tree import linear_tree
from pcdsl.ir.region_graphs.poon_domingos import image_delta, poon_domingos
from pcdsl.ir.region_graphs.quad import quad_graph, quad_tree
from pcdsl.ir.region_graphs.random_binary_tree import random_binary_tree
from pcdsl.ir.scope import describe_scope, scope_of
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
            leaves[variable] = builder.region((variable,))
        return leaves[variable]

    for region in structure.regions:  # parts before wholes
        parts_per_partition = []
        for partition in region.partitions:
            parts = [ids[operand.region] if operand.region is not None else leaf(operand.variable)
                     for operand in partition.operands]
            parts_per_partition.append((parts, partition.span))
        variables = union(builder.variables(part) for parts, _ in parts_per_partition
                          for part in parts)
        ids[region.name] = builder.region(variables, region.name, region.span)
        for parts, span in parts_per_partition:
            builder.split(ids[region.name], parts, span)
    graph = builder.build(ids[structure.root])
    root = graph.regions[graph.root]
    if len(root.variables) < num_variables:
        missing = scope_of(sorted(set(range(num_variables)).difference(root.variables)))
        raise CompileError([error(
            "coverage",
            f"root region '{structure.root}' leaves {num_variables - len(root.variables)} of "
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


class _Layers:
    """The circuit's layers while lowering appends them: one row per layer (kind code,
    units, variable, parameters, origin region, origin partition; -1 where none) and the
    inputs of all layers end to end, as the columns of ``Circuit`` want them."""

    def __init__(self, model: ModelSpec, input_parameters: Parameters) -> None:
        self.rows: list[tuple[int, int, int, int, int, int]] = []
        self.inputs: list[int] = []
        self.offsets: list[int] = [0]
        self.units: list[int] = []  # a copy of the units column, read while lowering
        self.parameters: dict[Parameters, int] = {input_parameters: 0}
        self._weights: dict[tuple[LayerKind, tuple[int, ...]], int] = {}
        self._settings = {True: model.sum_weights("dense"), False: model.sum_weights("mixing")}

    def add(self, kind: LayerKind, inputs: list[int], units: int, region: int, partition: int = -1,
            parameters: int = -1, variable: int = -1) -> int:
        """Append a layer and return its id; ``parameters`` from ``weights`` (or 0, the
        inputs' parameters), ``variable`` for inputs."""
        self.rows.append((_CODE[kind], units, variable, parameters, region, partition))
        self.units.append(units)
        self.inputs.extend(inputs)
        self.offsets.append(len(self.inputs))
        return len(self.units) - 1

    def weights(self, kind: LayerKind, shape: tuple[int, ...]) -> int:
        """The parameters of a sum of ``kind`` with weights of ``shape``."""
        key = (kind, shape)
        if key not in self._weights:
            weights = Parameters(parameter(self._settings[kind is LayerKind.DENSE], shape))
            self._weights[key] = self.parameters.setdefault(weights, len(self.parameters))
        return self._weights[key]

    def circuit(self, model: ModelSpec, output: int, graph: RegionGraph) -> Circuit:
        kinds, units, variables, parameter_ids, regions, partitions = np.array(
            self.rows, np.int64).reshape(-1, 6).T
        return Circuit(
            name=model.name,
            num_variables=model.num_variables,
            num_values=model.num_values,
            image_shape=model.image_shape,
            kinds=kinds.astype(np.int8),
            units=units.copy(),
            input_offsets=np.array(self.offsets, np.int64),
            input_ids=np.array(self.inputs, np.int64),
            variables=variables.copy(),
            parameter_ids=parameter_ids.copy(),
            origin_regions=regions.copy(),
            origin_partitions=partitions.copy(),
            parameters=tuple(self.parameters),
            output=output,
            region_graph=graph,
            seed=model.seed,
        )


_CODE = {kind: code for code, kind in enumerate(LAYER_KINDS)}


def lower_model(model: ModelSpec, files: Mapping[str, bytes] | None = None) -> Circuit:
    """Build the circuit of a model: inputs per leaf, sum-product layers per partition.
    ``files``: see ``build_region_graph``."""
    graph = build_region_graph(model, files)
    input_units = int(model.inputs["units"])  # type: ignore[arg-type]
    sum_units = int(model.layers["units"])  # type: ignore[arg-type]
    num_classes = model.classes
    sum_product = model.layers.kind
    input_kind, input_parameters = _input_parameters(model, input_units)
    layers = _Layers(model, input_parameters)
    add, units_of, weights = layers.add, layers.units, layers.weights
    dense, hadamard = LayerKind.DENSE, LayerKind.HADAMARD

    region_layer: dict[int, int] = {}
    for region in graph.regions:  # parts before wholes
        r = region.id
        is_root = r == graph.root
        if region.is_leaf:
            inputs = [add(input_kind, [], input_units, r, parameters=0, variable=v)
                      for v in region.variables]
            # A leaf over several variables (a pixel's channels) is fully factorised.
            region_layer[r] = inputs[0] if len(inputs) == 1 else add(hadamard, inputs, input_units, r)
            if is_root:
                # A circuit that is a single leaf (a 1x1 image) still ends in a sum: a
                # mixture of the input units, one per class.
                region_layer[r] = add(dense, [region_layer[r]], num_classes, r,
                                      parameters=weights(dense, (num_classes, input_units)))
            continue
        outputs = []
        out_units = num_classes if is_root else sum_units
        for p in region.partitions:
            inputs = [region_layer[part] for part in graph.partitions[p].inputs]
            if sum_product == "cp":
                denses = [add(dense, [i], sum_units, r, p, weights(dense, (sum_units, units_of[i])))
                          for i in inputs]
                product = add(hadamard, denses, sum_units, r, p)
                if is_root:
                    # The output of a circuit is a sum: one more dense layer to the classes.
                    product = add(dense, [product], num_classes, r, p,
                                  weights(dense, (num_classes, sum_units)))
                outputs.append(product)
                continue
            # cp_t and tucker: one product of the inputs, then one dense sum.
            units = {units_of[i] for i in inputs}
            if len(units) > 1:
                raise CompileError([error(
                    "units", f"'{sum_product}' needs inputs with equal unit counts, but "
                    f"{region.describe()} splits into parts with "
                    f"{' and '.join(str(u) for u in sorted(units))} units",
                    model.layers.span or model.inputs.span or model.span,
                    "give 'inputs' and 'layers' the same number of units")])
            (k,) = units
            if sum_product == "cp_t":
                product = add(hadamard, inputs, k, r, p)
            else:
                product = add(LayerKind.KRONECKER, inputs, k ** len(inputs), r, p)
            width = units_of[product]
            outputs.append(add(dense, [product], out_units, r, p, weights(dense, (out_units, width))))
        if len(outputs) == 1:
            region_layer[r] = outputs[0]
        elif model.mixing == "dense":
            # One dense sum over the concatenated units of all partitions.
            width = sum(units_of[o] for o in outputs)
            region_layer[r] = add(LayerKind.STACKED, outputs, out_units, r,
                                  parameters=weights(LayerKind.STACKED, (out_units, width)))
        else:
            region_layer[r] = add(LayerKind.MIXING, outputs, out_units, r,
                                  parameters=weights(LayerKind.MIXING, (out_units, len(outputs))))
    return layers.circuit(model, region_layer[graph.root], graph)


def span_of_origin(circuit: Circuit, origin: Origin) -> Span | None:
    graph = circuit.region_graph
    if origin.partition is not None and graph.partitions[origin.partition].span is not None:
        return graph.partitions[origin.partition].span
    return graph.regions[origin.region].span
