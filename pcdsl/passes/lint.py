"""Lint: circuits that are valid but probably not what the spec's author meant, and the
budgets of `pcc check`. Each check is a pure function from a lowered circuit and its
checked spec (for the spans to point at) to diagnostics; ``lint_model`` runs them all.

The warnings:

* ``coverage``: the root region leaves variables out (built-in region graphs cover every
  variable by construction and the lowering of a hand-written structure rejects it, so
  this guards a new construction that forgets some);
* ``size``: so many parameters that the module hardly fits in memory, or Kronecker
  products (``tucker``) with so many units that the dense sums after them explode;
* ``degenerate``: one unit per sum-product layer, or a region graph without partitions
  (a single mixture of fully factorised distributions);
* ``redundant``: a region split twice into the same parts.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from pcdsl.diagnostics import Diagnostic, Span, error, warning
from pcdsl.ir.circuit import Circuit, LayerKind
from pcdsl.ir.scope import describe_scope, scope_of
from pcdsl.syntax.typed import KindValue, ModelSpec

# A billion float32 parameters are 4 GB before gradients and optimiser state.
PARAMETER_WARNING = 1_000_000_000
# A Kronecker product of this many units feeds dense sums with as many inputs per unit.
KRONECKER_WARNING = 1 << 16

Lint = Callable[[Circuit, ModelSpec], tuple[Diagnostic, ...]]


def _setting_span(spec: ModelSpec, key: str) -> Span:
    """Where a setting is written, or the model when it is left at its default."""
    value = getattr(spec, key, None)
    span = getattr(value, "span", None)
    return span if span is not None else spec.span


def _units(value: KindValue) -> int | None:
    try:
        units = value["units"]
    except KeyError:
        return None
    return units if isinstance(units, int) else None


def uncovered_variables(circuit: Circuit, spec: ModelSpec) -> tuple[Diagnostic, ...]:
    graph = circuit.region_graph
    root = graph.regions[graph.root]
    count = circuit.num_variables - root.size
    if not count:
        return ()
    missing = scope_of(sorted(set(range(circuit.num_variables)).difference(root.variables)))
    span = root.span or (spec.regions.span if spec.regions is not None else None) or spec.span
    return (warning(
        "coverage", f"the circuit of model '{spec.name}' leaves {count} of "
        f"{circuit.num_variables} variables out: {describe_scope(missing)}", span,
        "the root region should cover every variable of the data; the circuit ignores "
        "the others"),)


def parameter_explosion(circuit: Circuit, spec: ModelSpec) -> tuple[Diagnostic, ...]:
    total = circuit.num_parameters
    if total <= PARAMETER_WARNING:
        return ()
    input_ids = circuit.parameter_ids[circuit.kind_mask(*(k for k in LayerKind if k.is_input))]
    inputs = sum(circuit.parameters[p].weight.size for p in input_ids.tolist())
    culprit = "inputs" if 2 * inputs > total else "layers"
    gigabytes = total * 4 / 1e9
    return (warning(
        "size", f"model '{spec.name}' has {total:,} parameters (about {gigabytes:,.0f} GB in "
        f"float32), most of them in its {culprit}", _setting_span(spec, culprit),
        "use fewer units: parameters grow with the square of the units of 'layers' and "
        "with units x values for 'inputs'"),)


def kronecker_width(circuit: Circuit, spec: ModelSpec) -> tuple[Diagnostic, ...]:
    kronecker = np.flatnonzero(circuit.kind_mask(LayerKind.KRONECKER))
    if not kronecker.size:
        return ()
    widest = circuit.layers[int(kronecker[np.argmax(circuit.units[kronecker])])]
    if widest.num_units <= KRONECKER_WARNING:
        return ()
    parts = int(circuit.units[widest.inputs[0]])
    return (warning(
        "size", f"'{spec.layers.kind}' makes Kronecker products of {widest.arity} x {parts} "
        f"units, {widest.num_units:,} units each, and every dense sum after one has that many "
        "inputs per unit", _setting_span(spec, "layers"),
        "use fewer units, or a region graph with binary splits"),)


def single_unit(circuit: Circuit, spec: ModelSpec) -> tuple[Diagnostic, ...]:
    if _units(spec.layers) != 1 or not circuit.region_graph.partition_regions:
        return ()
    return (warning(
        "degenerate", f"'{spec.layers.kind}' with 1 unit: every region of model "
        f"'{spec.name}' holds a single distribution, so the circuit is little more than "
        "a product of independent variables", _setting_span(spec, "layers"),
        "use more units (64 is the default)"),)


def no_partitions(circuit: Circuit, spec: ModelSpec) -> tuple[Diagnostic, ...]:
    if circuit.region_graph.partition_regions or circuit.num_variables < 2:
        return ()
    units = _units(spec.inputs) or int(circuit.units[0])
    return (warning(
        "degenerate", f"the region graph of model '{spec.name}' has no partitions: the "
        f"circuit is one mixture of {units} fully factorised distributions over its "
        f"{circuit.num_variables} variables", _setting_span(spec, "regions"),
        "let the region graph split the variables (a larger 'depth', a smaller 'delta')"),)


def redundant_partitions(circuit: Circuit, spec: ModelSpec) -> tuple[Diagnostic, ...]:
    graph = circuit.region_graph
    found = []
    for r, partitions in enumerate(graph.region_partitions):
        if len(partitions) < 2:
            continue
        seen: set[tuple[int, ...]] = set()
        for p in partitions:
            parts = tuple(sorted(graph.partition_inputs[p]))
            if parts in seen:
                region = graph.regions[r]
                found.append(warning(
                    "redundant", f"{region.describe()} is split twice into the same parts",
                    graph.partition_spans[p] or region.span or spec.span,
                    "the sum mixes two copies of one product; remove one of them"))
            seen.add(parts)
    return tuple(found)


LINTS: tuple[Lint, ...] = (uncovered_variables, parameter_explosion, kronecker_width,
                           single_unit, no_partitions, redundant_partitions)


def lint_model(circuit: Circuit, spec: ModelSpec) -> tuple[Diagnostic, ...]:
    """Every lint warning of one model, in the order of ``LINTS``."""
    return tuple(d for lint in LINTS for d in lint(circuit, spec))


def budget_errors(circuit: Circuit, spec: ModelSpec, *, max_parameters: int | None = None,
                  max_layers: int | None = None) -> tuple[Diagnostic, ...]:
    """``budget`` errors, at the model, for a model over the limits `pcc check` was given."""
    found = []
    if max_parameters is not None and circuit.num_parameters > max_parameters:
        found.append(error(
            "budget", f"model '{spec.name}' has {circuit.num_parameters:,} parameters, more "
            f"than the budget of {max_parameters:,}", spec.span,
            "use fewer units, or raise --max-params"))
    if max_layers is not None and circuit.num_layers > max_layers:
        found.append(error(
            "budget", f"model '{spec.name}' has {circuit.num_layers:,} layers, more than "
            f"the budget of {max_layers:,}", spec.span,
            "use a smaller region graph, or raise --max-layers"))
    return tuple(found)
