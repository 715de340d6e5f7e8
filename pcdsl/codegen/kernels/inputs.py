"""Input units with a table (categorical, binomial, embedding): the table of their values,
rescaled per row, and the lookups that read its rows for a batch."""

from __future__ import annotations

import torch
from torch import Tensor

from pcdsl.codegen.kernels.rows import _Rows
from pcdsl.codegen.kernels.scales import _chunks, _rescaled

# The generated module defines its own (these serve tests).
NUM_VALUES = 2

# INLINED: from here on, this file is copied into every generated module.


def _binomial_log_probs(logits: Tensor) -> Tensor:
    """Binomial inputs (total count V - 1): logits (F, K) -> log-probabilities (F, K, V)."""
    count = NUM_VALUES - 1
    values = torch.arange(NUM_VALUES, dtype=logits.dtype, device=logits.device)
    log_choose = (torch.lgamma(torch.tensor(count + 1.0, dtype=logits.dtype))
                  - torch.lgamma(values + 1) - torch.lgamma(count - values + 1))
    success = torch.nn.functional.logsigmoid(logits).unsqueeze(-1)  # (F, K, 1)
    failure = torch.nn.functional.logsigmoid(-logits).unsqueeze(-1)
    return log_choose + values * success + (count - values) * failure


class _TableRows(torch.autograd.Function):
    """Normalised input units as table rows: log-probabilities (F, K, V), or with
    ``softmax`` logits normalised over the values here, -> (F * (V + 1), K) rows rescaled
    to a largest unit of 1 and their (F * (V + 1),) log-scales; each member's last row, the
    one an unobserved variable reads, all ones. One function, working through the members
    in cache-sized chunks, so that the transposition, normalisation and rescaling write a
    single buffer, exp runs once per entry, and backward keeps only the rows."""

    @staticmethod
    def forward(ctx, log_values: Tensor, softmax: bool) -> tuple[Tensor, Tensor]:
        folds, units, values = log_values.shape
        rows = log_values.new_empty(folds, values + 1, units)
        rows[:, values] = 1.0
        top = log_values.new_zeros(folds, values + 1)
        eager_cpu = log_values.device.type == "cpu" and not torch.compiler.is_compiling()
        for start, stop in _chunks(folds, units * values * log_values.element_size(),
                                   log_values.device):
            chunk = log_values[start:stop]
            if softmax:  # probabilities from one exp of the logits less their largest
                probabilities = (chunk - chunk.amax(dim=-1, keepdim=True)).exp_()
                probabilities.div_(probabilities.sum(dim=-1, keepdim=True))
            else:
                probabilities = chunk.exp()
            largest = probabilities.amax(dim=1)  # (chunk, V)
            rows[start:stop, :values] = probabilities.div_(largest.unsqueeze(1)).transpose(1, 2)
            top[start:stop, :values] = torch.log(largest)
            # Values whose every unit underflowed (rare) take their rows from the
            # log-values. An eager pass on a CPU asks whether there are any (that costs
            # nothing there); elsewhere the rows are chosen by torch.where, so that a pass
            # never waits for its device (CUDA graphs) and traces as one graph.
            if not eager_cpu or bool((largest == 0).any()):
                _recover_underflow(chunk, softmax, rows[start:stop, :values],
                                   top[start:stop, :values])
        table, scales = rows.view(-1, units), top.view(-1)
        ctx.save_for_backward(table, scales)
        ctx.softmax, ctx.values = softmax, values
        ctx.mark_non_differentiable(scales)
        return table, scales

    @staticmethod
    def backward(ctx, grad: Tensor, _grad_scales: Tensor) -> tuple[Tensor, None]:
        table, scales = ctx.saved_tensors
        values, units = ctx.values, table.shape[-1]
        rows = table.view(-1, values + 1, units)[:, :values]
        top = scales.view(-1, values + 1)[:, :values]
        grad = grad.view(-1, values + 1, units)[:, :values]
        grad_log = grad.new_empty(rows.shape[0], units, values)
        for start, stop in _chunks(rows.shape[0], units * values * table.element_size(),
                                   table.device):
            # d table / d log-value is the table entry itself (the rescaling is a
            # constant); the unobserved rows are constants.
            chunk = grad[start:stop] * rows[start:stop]  # (chunk, V, K)
            if ctx.softmax:  # through the softmax: g - p sum_v g, p = row exp(top)
                counts = chunk.sum(dim=1, keepdim=True)  # (chunk, 1, K)
                probabilities = rows[start:stop] * torch.exp(top[start:stop]).unsqueeze(-1)
                chunk.sub_(probabilities.mul_(counts))
            grad_log[start:stop] = chunk.transpose(1, 2)
        return grad_log, None


def _recover_underflow(log_values: Tensor, softmax: bool, rows: Tensor, top: Tensor) -> None:
    """Rewrite, in place, the (chunk, V, K) ``rows`` and (chunk, V) log-scales ``top`` of the
    values whose every unit underflowed to 0 in linear space (their rows 0 / 0, their scale
    -inf) from the (chunk, K, V) log-values, rescaled there: exact wherever a unit is finite."""
    lost = top == -torch.inf
    log_probabilities = (torch.log_softmax(log_values, dim=-1) if softmax
                         else log_values).transpose(1, 2)  # (chunk, V, K)
    exact = log_probabilities.amax(dim=-1, keepdim=True)
    exact = torch.where(torch.isfinite(exact), exact, torch.zeros_like(exact))
    rows.copy_(torch.where(lost.unsqueeze(-1), torch.exp(log_probabilities - exact), rows))
    top.copy_(torch.where(lost, exact.squeeze(-1), top))


def _softmax_table(logits: Tensor) -> tuple[Tensor, Tensor]:
    """Categorical units with logits (F, K, V), a softmax over the values, as a table
    (see ``_input_table``)."""
    return _TableRows.apply(logits, True)


def _input_table(log_values: Tensor, keep_log: bool = False,
                 normalised: bool = True) -> tuple[Tensor, ...]:
    """Input units as a table: the log-values (F, K, V) of each value under each unit ->
    (F * (V + 1), K) values of each (member, value) row, rescaled to a largest unit of 1,
    and the (F * (V + 1),) log-scales. Each member's rows end with the row an unobserved
    variable reads: each unit's total over the values, all ones for ``normalised`` units.
    With ``keep_log``, also the log-values themselves, for products over several
    variables taken in log space."""
    if normalised and not keep_log:
        return _TableRows.apply(log_values, False)
    folds, units, values = log_values.shape
    if normalised:
        total = log_values.new_zeros(folds, units, 1)
    else:
        total = torch.logsumexp(log_values, dim=-1, keepdim=True)
    rows = torch.cat([log_values, total], dim=-1).transpose(1, 2).reshape(-1, units)
    table, top = _rescaled(rows)
    return (table, top, rows) if keep_log else (table, top)


def _leaf_product(table: tuple[Tensor, ...], data: tuple[Tensor, Tensor | None],
                  variables: Tensor, rows: Tensor) -> tuple[Tensor, Tensor]:
    """Products of input units over several variables each (a leaf region over a pixel's
    channels or a patch), summed in log space before one rescaling: a product of
    many per-variable vectors in linear space could lose every unit to underflow.
    ``variables`` and ``rows`` are (A, F): the variable and table row offset of each
    factor of each member. Returns (F, B, K) and (F, B)."""
    index = _table_rows(data, variables, rows)  # (A, F, B)
    log_rows = table[2]
    lp = log_rows.index_select(0, index.reshape(-1))
    return _rescaled(lp.view(*index.shape, log_rows.shape[-1]).sum(dim=0))


def _table_rows(data: tuple[Tensor, Tensor | None], variables: Tensor, rows: Tensor) -> Tensor:
    """The table row each member reads for each row of the batch: member f reads row
    ``rows[f] + x[:, variables[f]]``, or its row ``rows[f] + NUM_VALUES`` (each unit's
    total over the values, 1 for a distribution) where ``observed`` is False and the
    variable is integrated out. ``data`` is ``(x, observed)``; shape ``variables.shape +
    (B,)``."""
    x, observed = data
    index = x[:, variables].movedim(0, -1) + rows.unsqueeze(-1)
    if observed is not None:
        index = torch.where(observed[:, variables].movedim(0, -1), index,
                            rows.unsqueeze(-1) + NUM_VALUES)
    return index


def _lookups(table: tuple[Tensor, ...], data: tuple[Tensor, Tensor | None],
             reads: tuple[tuple | None, ...]) -> tuple:
    """Several readers' rows of one (values, log-scales) table for the values of a batch,
    each giving (F, B, K) values and (F, B) log-scales. A reader is ``(variables, rows)``
    (see ``_table_rows``), or ``(variables, rows, weights)`` for the dense sums over its
    rows, or ``(variables, rows, weights, arity)`` for the Hadamard products of the
    ``arity`` runs of those sums (see ``_Rows``); ``None`` reads nothing and gives
    ``None``."""
    wanted = [read for read in reads if read is not None]
    if not wanted:
        return tuple(None for _ in reads)
    indices = [_table_rows(data, *read[:2]) for read in wanted]
    weights = [read[2] if len(read) > 2 else None for read in wanted]
    arities = tuple(read[3] if len(read) > 3 else 1 if len(read) > 2 else None
                    for read in wanted)
    results = _Rows.apply(table[0], arities, *(index.reshape(-1) for index in indices),
                          *weights)
    values, factors = results[:len(wanted)], iter(results[len(wanted):])
    found = []
    for h, index, arity in zip(values, indices, arities):
        scales = table[1][index]
        if arity is not None and arity > 1:
            scales = scales.unflatten(0, (arity, -1)).sum(dim=0) + next(factors)
        found.append((h if arity is not None else h.view(*index.shape, h.shape[-1]), scales))
    found = iter(found)
    return tuple(None if read is None else next(found) for read in reads)


def _lookup(table: tuple[Tensor, ...], data: tuple[Tensor, Tensor | None], variables: Tensor,
            rows: Tensor) -> tuple[Tensor, Tensor]:
    """One reader's rows of a table (see ``_lookups``): (F, B, K) and (F, B)."""
    return _lookups(table, data, ((variables, rows),))[0]
