"""Reading rows of one tensor for several readers at once (``_Rows``), with the dense sums
and Hadamard products fused into the read, and gathers by index tables (``_take``)."""

from __future__ import annotations

import torch
from torch import Tensor

from pcdsl.codegen.kernels.scales import _chunks, _largest_unit, _log_factors, _returned

# INLINED: from here on, this file is copied into every generated module.


class _Rows(torch.autograd.Function):
    """Rows (along the first axis) of one tensor for several readers at once, a 1-D index
    each. A reader with weights (A * F, K_out, K) gets instead the dense sums over its
    rows, (A * F, B, K) -> (A * F, B, K_out), and with an arity A >= 2 the renormalised
    Hadamard products of their A consecutive runs, (F, B, K_out), and the (F, B) logs of
    the factors taken out. Neither the rows nor the sums are kept for backward: they are
    gathered and multiplied again there, chunk by chunk, which costs one matrix product
    and saves the two largest tensors of a pass. Backward adds every reader's gradient
    into one zero-filled buffer of the tensor's size, in place: ``index_select``'s own
    backward allocates and fills such a buffer per reader (and autograd then sums
    them), indexing's accumulates serially."""

    @staticmethod
    def forward(ctx, *arguments):
        # source, arities, *indices, *weights: all variadic, because torch.compile (torch
        # 2.14) drops ctx when a forward has as many parameters, its variadic one counted
        # once, as the call has arguments (here never: a call passes at least four).
        source, arities, *indices_then_weights = arguments
        ctx.set_materialize_grads(False)
        count = len(arities)
        indices, weights = indices_then_weights[:count], indices_then_weights[count:]
        outputs, largest_units = [], []
        for index, weight, arity in zip(indices, weights, arities):
            largest_units.append(None)
            if weight is None:
                outputs.append(source.index_select(0, index))
                continue
            folds, batch = weight.shape[0] // arity, index.numel() // max(weight.shape[0], 1)
            out = source.new_empty(folds, batch, weight.shape[1])
            if arity > 1:
                largest_units[-1] = source.new_empty(folds, batch, 1)
            for start, stop in _chunks(folds, arity * batch * source.shape[-1]
                                       * source.element_size(), source.device):
                if arity == 1:  # the sums are the output
                    _summed_runs(source, index, weight, arity, batch, start, stop,
                                 into=out[start:stop])
                    continue
                _, sums = _summed_runs(source, index, weight, arity, batch, start, stop)
                product = sums[0]
                for other in sums[1:]:
                    product = product.mul_(other)
                largest = largest_units[-1][start:stop]
                largest.copy_(_largest_unit(product))
                torch.div(product, largest, out=out[start:stop])
            outputs.append(_returned(out))
        summed = any(weight is not None for weight in weights)  # else the rows are not needed
        ctx.save_for_backward(source if summed else None, *indices, *weights, *largest_units)
        ctx.source_shape = source.shape
        ctx.arities = arities
        factors = [_log_factors(m) for m in largest_units if m is not None]
        ctx.mark_non_differentiable(*factors)
        return (*outputs, *factors)

    @staticmethod
    def backward(ctx, *grads: Tensor | None) -> tuple[Tensor | None, ...]:
        count = len(ctx.arities)
        source, *saved = ctx.saved_tensors
        indices, weights, largest_units = saved[:count], saved[count:2 * count], saved[2 * count:]
        grad_source, grad_weights = None, []
        for index, weight, arity, largest, grad in zip(indices, weights, ctx.arities,
                                                       largest_units, grads):
            grad_weights.append(None)
            if grad is None:
                continue
            if grad_source is None:
                grad_source = grad.new_zeros(ctx.source_shape)
            if weight is None:
                grad_source.index_add_(0, index, grad)
                continue
            folds, batch, units = grad.shape[0], grad.shape[1], source.shape[-1]
            grad_weights[-1] = grad_weight = torch.empty_like(weight)
            for start, stop in _chunks(folds, arity * batch * units * source.element_size(),
                                       source.device):
                rows, sums = _summed_runs(source, index, weight, arity, batch, start, stop)
                g = grad[start:stop] if largest is None else grad[start:stop] / largest[start:stop]
                for a in range(arity):
                    grad_sums = g
                    for b in range(arity):
                        if b != a:
                            grad_sums = grad_sums * sums[b]
                    members = slice(a * folds + start, a * folds + stop)
                    torch.bmm(grad_sums.transpose(1, 2), rows[a], out=grad_weight[members])
                    grad_rows = torch.bmm(grad_sums, weight[members])
                    grad_source.index_add_(0, index[members.start * batch:members.stop * batch],
                                           grad_rows.view(-1, units))
        return (grad_source, None, *(None for _ in indices), *grad_weights)


def _summed_runs(source: Tensor, index: Tensor, weight: Tensor, arity: int, batch: int,
                 start: int, stop: int,
                 into: Tensor | None = None) -> tuple[list[Tensor], list[Tensor]]:
    """Members [start, stop) of each of the ``arity`` runs of a ``_Rows`` reader with
    weights: their rows and their dense sums, ``arity`` tensors of (stop - start, B, K) and
    of (stop - start, B, K_out); with ``into`` (for one run), the sums are written there."""
    folds, units = weight.shape[0] // arity, source.shape[-1]
    rows, sums = [], []
    for a in range(arity):
        first, last = a * folds + start, a * folds + stop
        rows.append(source.index_select(0, index[first * batch:last * batch]).view(
            last - first, batch, units))
        sums.append(torch.bmm(rows[-1], weight[first:last].transpose(1, 2), out=into))
    return rows, sums


def _take(parts: tuple[tuple[Tensor, Tensor], ...], index: Tensor):
    """Gather a fold's inputs from (h, s) parts by an index table into their concatenation:
    a 1-D table gives one (F, B, K) input, an (A, F) table tuples of A inputs."""
    h = parts[0][0] if len(parts) == 1 else torch.cat([h for h, _ in parts])
    s = parts[0][1] if len(parts) == 1 else torch.cat([s for _, s in parts])
    (rows,) = _Rows.apply(h, (None,), index.reshape(-1), None)
    h, s = rows.view(*index.shape, *h.shape[1:]), s[index]
    return (h, s) if index.dim() == 1 else (h.unbind(0), s.unbind(0))


def _unstack(pair: tuple[Tensor, Tensor], arity: int):
    """Split (A * F, B, K) rows, slot-major, into tuples of A inputs of (F, B, K)."""
    h, s = pair
    return h.unflatten(0, (arity, -1)).unbind(0), s.unflatten(0, (arity, -1)).unbind(0)
