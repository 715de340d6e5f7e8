"""Codegen for squared and product circuits: the Gram pass of ``ir/algebra.py``, folded into
batched steps, appended to the ordinary module of the circuit as ``SquaredCircuit`` or
``ProductCircuit``.

The base module (``emit.generate_module``) is used as it is. What this file relies on, all
of it: at compile time the parameter names (``_parameter_name``) and the expressions of
their values (``_activated``, ``_log_activated``); at run time the base class's
``_evaluate(..., keep=True)`` (every fold's signed (mantissa, log-scale) output),
``variables`` and ``observed_mask``, the constants ``OUTPUT_FOLD``, ``OUTPUT_POSITION``,
``SEED``, ``NUM_VARIABLES``, ``NUM_VALUES``, ``NUM_CLASSES`` and ``IMAGE_SHAPE``. The
kernels of the Gram pass live in ``kernels/grams.py``; those it uses that the base module
does not carry already (``_binomial_log_probs``, ``_HALF_LOG_TWO_PI``, ...) are inlined
after it.

Folding: a Gram node's depth is one more than its deepest input (inputs at 0); nodes of
equal depth and shape whose weights come from the same folded parameter form one step, one
batched tensor operation. A step reads its inputs from the concatenated outputs of the
steps before it by an index table.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from pcdsl.codegen.emit import (
    KERNELS_GO_HERE,
    _activated,
    _call,
    _log_activated,
    _parameter_name,
    _shape,
    _tuple_literal,
    template,
    with_kernels,
)
from pcdsl.codegen.inline import defined_names
from pcdsl.ir.algebra import Algebra, GramKind, GramPlan
from pcdsl.ir.circuit import LayerKind
from pcdsl.passes.fold import FoldedCircuit


@dataclass(frozen=True)
class GramStep:
    """Nodes computed by one batched operation."""

    id: int
    kind: GramKind
    depth: int
    nodes: tuple[int, ...]  # node ids, in member order
    rows: int
    columns: int
    left: int | None  # sum steps: the fold whose weights the left side applies (None: identity)
    right: int | None
    arity: tuple[int, int] | int  # sum steps: (left, right) inputs; products: inputs
    sources: tuple[int, ...] = ()  # steps read, concatenated in this order
    index: tuple[tuple[int, ...], ...] = ()  # (input slot, member) -> concatenated position


def fold_gram_plan(plan: GramPlan, folded: FoldedCircuit) -> tuple[GramStep, ...]:
    """Group the plan's nodes into batched steps, in execution order."""
    fold_of = {layer: fold.id for fold in folded.folds for layer in fold.layers}
    depth = [0] * len(plan.nodes)
    groups: dict[tuple, list[int]] = {}
    for node in plan.nodes:  # inputs first
        if node.inputs:
            depth[node.id] = 1 + max(depth[i] for i in node.inputs)
        first = plan.nodes[node.inputs[0]] if node.inputs else node
        if node.kind is GramKind.INPUT:
            key: tuple = (0, node.kind.value, fold_of[node.left], fold_of[node.right])
        elif node.kind is GramKind.SUM:
            key = (depth[node.id], node.kind.value, node.rows, node.columns,
                   fold_of[node.left] if node.left_arity else None,
                   fold_of[node.right] if node.right_arity else None,
                   node.left_arity, node.right_arity, first.rows, first.columns)
        else:
            key = (depth[node.id], node.kind.value, node.rows, node.columns, len(node.inputs),
                   tuple((plan.nodes[i].rows, plan.nodes[i].columns) for i in node.inputs))
        groups.setdefault(key, []).append(node.id)
    ordered = sorted(groups, key=lambda k: (k[0], min(groups[k])))
    step_of: dict[int, int] = {}
    position: dict[int, int] = {}
    steps: list[GramStep] = []
    for step_id, key in enumerate(ordered):
        members = groups[key]
        for p, node_id in enumerate(members):
            step_of[node_id], position[node_id] = step_id, p
        node = plan.nodes[members[0]]
        step = GramStep(step_id, node.kind, key[0], tuple(members), node.rows, node.columns,
                        key[2] if node.kind is GramKind.INPUT else
                        key[4] if node.kind is GramKind.SUM else None,
                        key[3] if node.kind is GramKind.INPUT else
                        key[5] if node.kind is GramKind.SUM else None,
                        (node.left_arity, node.right_arity) if node.kind is GramKind.SUM
                        else len(node.inputs))
        if node.kind is not GramKind.INPUT:
            sources = sorted({step_of[i] for m in members for i in plan.nodes[m].inputs})
            offsets, total = {}, 0
            for s in sources:
                offsets[s], total = total, total + len(steps[s].nodes)
            index = tuple(tuple(offsets[step_of[plan.nodes[m].inputs[a]]]
                                + position[plan.nodes[m].inputs[a]] for m in members)
                          for a in range(len(node.inputs)))
            step = replace(step, sources=tuple(sources), index=index)
        steps.append(step)
    return tuple(steps)


def _position_in_fold(folded: FoldedCircuit) -> dict[int, int]:
    return {layer: p for fold in folded.folds for p, layer in enumerate(fold.layers)}


def generate_algebra(base_module: str, algebra: Algebra, folded: FoldedCircuit) -> str:
    """The module of a model made by ``algebra``: ``base_module`` (the ordinary module of
    its circuit, named after the model: the base of a square, or the two factors of a
    product side by side) with the Gram pass and ``SquaredCircuit`` or ``ProductCircuit``
    appended."""
    plan = algebra.plan
    steps = fold_gram_plan(plan, folded)
    place = _position_in_fold(folded)
    folds = folded.folds
    tables: dict[tuple[str, tuple[int, ...], tuple[int, ...]], str] = {}  # (role, values, shape)
    values: dict[int, str] = {}  # fold id -> expression of its weights (or log-values)
    statements: list[tuple[str, str]] = []  # (comment, code)

    def table(name: str, entries: list[int], shape: tuple[int, ...], side: bool = False) -> str:
        """An index table as a buffer; the positions of the two sides of a pair (``side``)
        share one table when equal, as in every self-product."""
        name = tables.setdefault(("side" if side else name, tuple(entries), shape), name)
        return f"self.{name.lower()}"

    def weights_of(fold_id: int) -> str:
        fold = folds[fold_id]
        if fold_id not in values:
            name = _parameter_name(fold)
            assert fold.weight is not None
            if fold.kind is LayerKind.GAUSSIAN:  # (means, standard deviations)
                assert fold.std is not None
                values[fold_id] = (f"({_activated(fold.weight, f'self.{name}_mean')}, "
                                   f"{_activated(fold.std, f'self.{name}_std')})")
            elif fold.kind is LayerKind.BINOMIAL:
                values[fold_id] = f"_binomial_log_probs(self.{name})"
            elif fold.kind.is_input:
                values[fold_id] = _log_activated(fold.weight, f"self.{name}")
            elif fold.kind is LayerKind.MIXING:
                values[fold_id] = f"_mixing_matrix({_activated(fold.weight, f'self.{name}')})"
            else:
                values[fold_id] = _activated(fold.weight, f"self.{name}")
        return f"w[{fold_id}]"

    for step in steps:
        nodes = [plan.nodes[n] for n in step.nodes]
        g = f"g{step.id}, t{step.id}"
        n = len(nodes)
        if step.kind is GramKind.INPUT:
            assert step.left is not None and step.right is not None
            left = table(f"_GRAM_LEFT_{step.id}", [place[x.left] for x in nodes], (n,), True)
            right = table(f"_GRAM_RIGHT_{step.id}", [place[x.right] for x in nodes], (n,), True)
            variables = table(f"_GRAM_VARIABLES_{step.id}", [x.variable or 0 for x in nodes], (n,))
            if folds[step.left].kind is LayerKind.GAUSSIAN:
                sides = [f"({weights_of(fold_id)}[0][{p}], {weights_of(fold_id)}[1][{p}])"
                         for fold_id, p in ((step.left, left), (step.right, right))]
                code = _call(g, "_gram_gaussians", [*sides, "x", "observed", variables])
            else:
                code = _call(g, "_gram_inputs", [f"{weights_of(step.left)}[{left}]",
                                                 f"{weights_of(step.right)}[{right}]", "x",
                                                 "observed", variables, "probes"])
            what = f"{n} input pair{'s' if n != 1 else ''}, {step.rows} x {step.columns} units"
        else:
            read = table(f"_GRAM_INDEX_{step.id}", [p for row in step.index for p in row],
                         (len(step.index), n))
            sources = ", ".join(f"g{s}" for s in step.sources)
            scales = ", ".join(f"t{s}" for s in step.sources)
            gathered = [f"*_gram_take(({sources},), ({scales},), {read})"]
            if step.kind is GramKind.SUM:
                sides = []
                for fold_id, attribute in ((step.left, "left"), (step.right, "right")):
                    if fold_id is None:
                        sides.append("None")
                        continue
                    positions = table(f"_GRAM_{attribute.upper()}_{step.id}",
                                      [place[getattr(x, attribute)] for x in nodes], (n,), True)
                    sides.append(f"{weights_of(fold_id)}[{positions}]")
                code = _call(g, "_gram_sum", gathered + [str(step.arity), *sides])
                what = f"{n} sum pair{'s' if n != 1 else ''}, -> {step.rows} x {step.columns} units"
            else:
                function = "_gram_hadamard" if step.kind is GramKind.HADAMARD else "_gram_kronecker"
                code = _call(g, function, gathered)
                what = (f"{n} {step.kind.value} product pair{'s' if n != 1 else ''} of "
                        f"{step.arity} inputs, {step.rows} x {step.columns} units")
        statements.append((f"depth {step.depth}: {what}", code))
    output_step = next(s for s in steps if plan.output in s.nodes)
    context = {
        "model": plan.circuit.name,
        "square": algebra.operation == "square",
        "operands": list(algebra.operands),
        "num_nodes": len(plan.nodes),
        "num_steps": len(steps),
        "weights": sorted(values.items()),
        "statements": statements,
        "output": f"g{output_step.id}[{output_step.nodes.index(plan.output)}], "
                  f"t{output_step.id}[{output_step.nodes.index(plan.output)}]",
        "tables": [(name, _tuple_literal(list(entries)), _shape(shape))
                   for (_, entries, shape), name in tables.items()],
        "real": plan.circuit.domain == "real",
        "kernels": KERNELS_GO_HERE,
        # Sampling over real values is refused, so those circuits have no sampler.
        "bases": ("_GramPass, Circuit" if plan.circuit.domain == "real"
                  else "_GramPass, _GramSampling, Circuit"),
        "sample_rows": max(1, 2 ** 24 // sum(n.rows * n.columns for n in plan.nodes)),
    }
    layout = template("squared.py.j2").render(**context)
    return base_module + with_kernels(layout, defined_names(base_module))
