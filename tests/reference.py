"""An independent, deliberately naive evaluator of the IR circuit, layer by layer in log
space, reading its weights out of a generated module. Used to check folding and codegen
against the plain definition of the circuit."""

from __future__ import annotations

import torch

from pcdsl.ir.circuit import Circuit, LayerKind
from pcdsl.passes.fold import FoldedCircuit


def layer_weights(folded: FoldedCircuit, module) -> dict[int, torch.Tensor]:
    """Per-layer normalised weights (log space), from the folded parameters of ``module``."""
    out = {}
    for fold in folded.folds:
        if fold.weight is None:
            continue
        parameter = getattr(module, f"{fold.kind.value}_{fold.id}")
        for position, layer_id in enumerate(fold.layers):
            if fold.kind is LayerKind.BINOMIAL:
                out[layer_id] = binomial_log_probs(parameter[position], fold.num_values - 1)
            else:
                out[layer_id] = torch.log_softmax(parameter[position], dim=-1)
    return out


def binomial_log_probs(logits: torch.Tensor, count: int) -> torch.Tensor:
    """(K,) logits -> (K, count + 1) binomial log-probabilities, from the definition."""
    import math

    p = torch.sigmoid(logits).unsqueeze(1)
    v = torch.arange(count + 1, dtype=logits.dtype)
    choose = torch.tensor([math.log(math.comb(count, int(k))) for k in v], dtype=logits.dtype)
    return choose + v * torch.log(p) + (count - v) * torch.log1p(-p)


def reference_log_likelihood(circuit: Circuit, folded: FoldedCircuit, module,
                             x: torch.Tensor) -> torch.Tensor:
    weights = layer_weights(folded, module)
    values: dict[int, torch.Tensor] = {}
    for layer in circuit.layers:
        if layer.kind.is_input:
            # (B, K): log p_k(x_v) for each unit k
            values[layer.id] = weights[layer.id][:, x[:, layer.variable]].t()
        elif layer.kind is LayerKind.DENSE:
            (i,) = layer.inputs
            # log sum_j w_kj exp(v_j)
            values[layer.id] = torch.logsumexp(
                values[i].unsqueeze(1) + weights[layer.id].unsqueeze(0), dim=-1)
        elif layer.kind is LayerKind.HADAMARD:
            values[layer.id] = sum(values[i] for i in layer.inputs)
        elif layer.kind is LayerKind.KRONECKER:
            out = values[layer.inputs[0]]
            for i in layer.inputs[1:]:
                out = (out.unsqueeze(-1) + values[i].unsqueeze(-2)).flatten(-2)
            values[layer.id] = out
        elif layer.kind is LayerKind.STACKED:
            stacked = torch.cat([values[i] for i in layer.inputs], dim=-1)  # (B, A K)
            values[layer.id] = torch.logsumexp(
                stacked.unsqueeze(1) + weights[layer.id].unsqueeze(0), dim=-1)
        elif layer.kind is LayerKind.MIXING:
            stacked = torch.stack([values[i] for i in layer.inputs], dim=-1)  # (B, K, A)
            values[layer.id] = torch.logsumexp(stacked + weights[layer.id].unsqueeze(0), dim=-1)
        else:
            raise AssertionError(layer.kind)
    return values[circuit.output].squeeze(-1)
