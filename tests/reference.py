"""An independent, deliberately naive evaluator of the IR circuit, layer by layer in log
space (or, for weights that may be negative, in linear space), reading its weights out of a
generated module. Used to check folding and codegen against the plain definition of the
circuit: every activation, input distribution and layer written out from its definition."""

from __future__ import annotations

import itertools
import math

import torch

from pcdsl.ir.circuit import Circuit, LayerKind, Weight
from pcdsl.passes.fold import FoldedCircuit


def all_states(num_variables: int, num_values: int) -> torch.Tensor:
    """Every joint state of ``num_variables`` variables with ``num_values`` values each,
    (num_values ** num_variables, num_variables), for sums by brute-force enumeration."""
    return torch.tensor(list(itertools.product(range(num_values), repeat=num_variables)))


def activated(weight: Weight, parameter: torch.Tensor) -> torch.Tensor:
    """The values of a parameter from the definition of its activation."""
    if weight.activation == "softmax":
        value = torch.exp(parameter) / torch.exp(parameter).sum(-1, keepdim=True)
    elif weight.activation == "sigmoid":
        value = 1 / (1 + torch.exp(-parameter))
    elif weight.activation == "softplus":
        value = torch.log1p(torch.exp(parameter))
    elif weight.activation == "positive_clamp":
        value = torch.maximum(parameter, torch.full_like(parameter, weight.minimum))
    else:
        assert weight.activation == "none"
        value = parameter
    return torch.exp(value) if weight.log_space else value


def binomial_log_probs(p: torch.Tensor, count: int) -> torch.Tensor:
    """(K,) success probabilities -> (K, count + 1) binomial log-probabilities."""
    p = p.unsqueeze(1)
    v = torch.arange(count + 1, dtype=p.dtype)
    choose = torch.tensor([math.log(math.comb(count, int(k))) for k in v], dtype=p.dtype)
    return choose + v * torch.log(p) + (count - v) * torch.log1p(-p)


def layer_weights(folded: FoldedCircuit, module) -> dict[int, object]:
    """Per-layer parameters in the form the evaluator reads: log-values (K, V) of table
    inputs, (means, deviations) of gaussian inputs, and sum weights in linear space."""
    out: dict[int, object] = {}
    for fold in folded.folds:
        if fold.weight is None:
            continue
        name = f"{fold.kind.value}_{fold.id}"
        for position, layer_id in enumerate(fold.layers):
            if fold.kind is LayerKind.GAUSSIAN:
                assert fold.std is not None
                mean = activated(fold.weight, getattr(module, f"{name}_mean")[position])
                std = activated(fold.std, getattr(module, f"{name}_std")[position])
                out[layer_id] = (mean, std)
                continue
            value = activated(fold.weight, getattr(module, name)[position])
            if fold.kind is LayerKind.BINOMIAL:
                probability = 1 / (1 + torch.exp(-getattr(module, name)[position]))
                out[layer_id] = binomial_log_probs(probability, fold.num_values - 1)
            elif fold.kind.is_input:
                out[layer_id] = torch.log(value)
            else:
                out[layer_id] = value
    return out


def _weighted_sum(values: torch.Tensor, weights: torch.Tensor, linear: bool) -> torch.Tensor:
    """sum_j w_kj v_j: values (B, J) and weights (K, J) -> (B, K), in log or linear space."""
    if linear:
        return values @ weights.T
    return torch.logsumexp(values.unsqueeze(1) + torch.log(weights).unsqueeze(0), dim=-1)


def reference_log_likelihood(circuit: Circuit, folded: FoldedCircuit, module,
                             x: torch.Tensor, observed: torch.Tensor | None = None,
                             linear: bool = False) -> torch.Tensor:
    """ln of the circuit's value at each row of ``x`` (the unobserved variables, where
    ``observed`` is False, integrated out). With ``linear``, the circuit's value itself,
    computed in linear space (for weights that may be negative)."""
    weights = layer_weights(folded, module)
    values: dict[int, torch.Tensor] = {}
    for layer in circuit.layers:
        if layer.kind is LayerKind.GAUSSIAN:
            mean, std = weights[layer.id]  # type: ignore[misc]
            column = x[:, layer.variable].unsqueeze(1)
            value = (-0.5 * ((column - mean) / std) ** 2 - torch.log(std)
                     - 0.5 * math.log(2 * math.pi))  # (B, K)
            integral = torch.zeros_like(value)
        elif layer.kind.is_input:
            table = weights[layer.id]  # (K, V) log-values
            value = table[:, x[:, layer.variable].long()].t()  # type: ignore[index]
            integral = torch.logsumexp(table, dim=-1).expand_as(value)  # type: ignore[arg-type]
        if layer.kind.is_input:
            if observed is not None:
                seen = observed[:, layer.variable].unsqueeze(1)
                value = torch.where(seen, value, integral)
            values[layer.id] = value.exp() if linear else value
        elif layer.kind is LayerKind.DENSE:
            (i,) = layer.inputs
            values[layer.id] = _weighted_sum(values[i], weights[layer.id], linear)  # type: ignore[arg-type]
        elif layer.kind is LayerKind.HADAMARD:
            out = values[layer.inputs[0]]
            for i in layer.inputs[1:]:
                out = out * values[i] if linear else out + values[i]
            values[layer.id] = out
        elif layer.kind is LayerKind.KRONECKER:
            out = values[layer.inputs[0]]
            for i in layer.inputs[1:]:
                combined = (out.unsqueeze(-1) * values[i].unsqueeze(-2) if linear
                            else out.unsqueeze(-1) + values[i].unsqueeze(-2))
                out = combined.flatten(-2)
            values[layer.id] = out
        elif layer.kind is LayerKind.STACKED:
            stacked = torch.cat([values[i] for i in layer.inputs], dim=-1)  # (B, A K)
            values[layer.id] = _weighted_sum(stacked, weights[layer.id], linear)  # type: ignore[arg-type]
        elif layer.kind is LayerKind.MIXING:
            stacked = torch.stack([values[i] for i in layer.inputs], dim=-1)  # (B, K, A)
            w = weights[layer.id]  # (K, A)
            values[layer.id] = ((stacked * w).sum(-1) if linear  # type: ignore[operator]
                                else torch.logsumexp(stacked + torch.log(w), dim=-1))  # type: ignore[arg-type]
        else:
            raise AssertionError(layer.kind)
    return values[circuit.output].squeeze(-1)


def assert_agrees_with_reference(compiled, circuit, x: torch.Tensor,
                                 observed: torch.Tensor) -> None:
    """The generated module's log-likelihoods and marginals of ``x`` equal the naive
    evaluator's, in float64, for a compiled model (``CompiledModel``) and its circuit."""
    with torch.no_grad():
        torch.testing.assert_close(
            circuit(x), reference_log_likelihood(compiled.circuit, compiled.folded, circuit, x),
            rtol=1e-10, atol=1e-9)
        torch.testing.assert_close(
            circuit.log_marginal(x, observed),
            reference_log_likelihood(compiled.circuit, compiled.folded, circuit, x, observed),
            rtol=1e-10, atol=1e-9)
