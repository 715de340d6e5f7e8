"""Mini-batch (stepwise) expectation-maximisation on a generated circuit.

For a smooth and decomposable circuit, the expected number of times a sum unit's edge
``k`` is used to explain a batch (its *flow*, summed over the batch) is ``w_k`` times the
derivative of the batch log-likelihood with respect to ``w_k``; written with log-weights
``l_k = log w_k`` that is simply ``d LL / d l_k``. The same holds for an input unit's
log-probability of each value: its gradient counts how often the unit explains that value.
So one backward pass through the generated module's ``_evaluate(..., log_weights=...)``,
with the log-weights as leaves, yields every expected count at once.

The M-step is stepwise EM (Sato and Ishii 2000; Liang and Klein 2009): running expected
counts per example ``s`` move a step of size ``eta`` towards the batch's counts per
example, ``s <- (1 - eta) s + eta c / B``, and every distribution is set to its smoothed
normalised counts as if the whole data set (``N`` examples) had produced them:

    w_k = (N s_k + pseudo_count / n) / (N sum_j s_j + pseudo_count)

The first batch sets ``s`` outright, and ``eta = 1`` is plain EM on each batch. Stepping
the *counts* rather than the parameters matters: a unit that explains nothing in a batch
keeps its distribution (its counts shrink together, their ratios do not change) instead of
being pulled towards uniform. Binomial inputs (``EM_RULES`` value ``"binomial"``) take the
smoothed weighted mean of the observed values, ``p = (N u + pseudo_count / 2) / (N m +
pseudo_count)``, with ``u = sum_v s_v v / T`` (total count ``T``) and ``m = sum_v s_v``.
Parameters without a rule (for instance weights not parameterised by softmax) are left
unchanged; ``MiniBatchEM`` refuses a module that has no rule at all.

Categorical inputs over ordered values (grey levels) can take a smoothing prior,
``input_smoothing`` = ``tau`` pseudo-examples per distribution over the data set, spread
like the distribution's own counts blurred over neighbouring values (a Gaussian of
``input_smoothing_width`` values; a value near the ends keeps all its mass inside): each
batch's counts ``c`` of a distribution become ``c + tau (B / N) blur(c) / sum(c)``. A
unit that explains many images keeps its distribution; one that explains a few, whose
256-value distribution would otherwise copy the handful of grey levels it saw, is pulled
towards their neighbourhood. The Laplace pseudo-count, by contrast, spreads evenly.

The running counts are not kept: each distribution's weights and the total of its counts
``m = sum_j s_j`` (one number per distribution) determine them, ``N s_k = w_k (N m +
pseudo_count) - pseudo_count / n`` (for binomials ``N u = p (N m + pseudo_count) -
pseudo_count / 2``), so the M-step rebuilds them from the circuit's weights. The state
(and a checkpoint's optimiser entry) is then the totals alone, a 1/n-th of the weights
(1.07 MB against 103 MB for the seed model) instead of a second copy of them, and resuming
from the saved weights and totals continues bit for bit. The rebuilt counts carry the
weights' rounding: in float32 they stay within a few parts in a million of kept counts.

Under ``torch.distributed`` the counts are summed over every process before the M-step,
so all processes take the same step on the global batch.
"""

from __future__ import annotations

import functools
import math
import sys
from dataclasses import dataclass

import torch
from torch import Tensor, nn

RULES = ("softmax", "binomial")
STATE_FORMAT = 2  # one total per distribution; 1 (no "format" entry) held every count


class EMNotSupported(Exception):
    """The circuit has no parameters that EM knows how to update."""


def _rules(circuit: nn.Module) -> dict[str, str]:
    module = sys.modules.get(type(circuit).__module__)
    rules = dict(getattr(module, "EM_RULES", {}) or {})
    unknown = sorted(set(rules.values()) - set(RULES))
    if unknown:
        raise EMNotSupported(f"the circuit's EM_RULES name unknown rules {unknown}")
    if getattr(module, "ALGEBRA", None):
        operands = ", ".join(getattr(module, "OPERANDS", ()))
        raise EMNotSupported(
            f"the model '{getattr(module, 'MODEL_NAME', '?')}' is {module.ALGEBRA}({operands}): "
            "its normaliser Z "
            "couples every weight, and EM's updates assume every sum is a distribution of its "
            "inputs: use --optimizer adam")
    if getattr(module, "IS_NORMALISED", True) is False:
        raise EMNotSupported(
            f"{type(circuit).__module__} is not normalised (some weights are not softmax-"
            "normalised), and EM's updates assume every sum is a distribution: use "
            "--optimizer adam")
    if not rules or not hasattr(circuit, "log_weights"):
        raise EMNotSupported(
            f"{type(circuit).__module__} has no parameters that EM can update (its module has "
            "no EM_RULES, or every weight is parameterised without softmax): use --optimizer adam")
    return rules


def _categorical_inputs(circuit: nn.Module) -> tuple[str, ...]:
    """The parameters of the circuit's categorical input folds (``INPUT_FOLDS``)."""
    module = sys.modules.get(type(circuit).__module__)
    kinds = getattr(module, "INPUT_KINDS", {})
    return tuple(name for fold, name in getattr(module, "INPUT_FOLDS", {}).items()
                 if kinds.get(fold) == "categorical")


def blur_values(counts: Tensor, width: float) -> Tensor:
    """``counts`` (..., V) blurred along the last axis by a Gaussian of standard deviation
    ``width`` values, truncated at four widths; what a value would send past either end is
    shared among the values inside instead, so every distribution keeps its total.

    The kernel is narrow, so rather than one dense V x V product this takes one product per
    block of 32 values (``_BLUR_BLOCKS``), then adds what crosses into the neighbouring
    blocks and the border values' larger shares (small products): for the (784, 64, 256)
    inputs of a 64-unit model, an eighth of the arithmetic and 0.6 times the dense
    product's time on this CPU (torch's one-channel ``conv1d`` took as long as the dense
    product). The matrices are built once per shape, width, dtype and device."""
    values = counts.shape[-1]
    plan = _blur_plan(values, width, counts.dtype, counts.device)
    rows = counts.reshape(-1, values).contiguous()
    if plan.block is None:  # one dense product
        return (rows @ plan.within).reshape(counts.shape)
    block, radius = plan.block, plan.radius
    out = (rows.view(-1, block) @ plan.within).view(rows.shape)
    # What crosses a block boundary: the last `radius` values of a block reach the first
    # ones of the next, and the other way round.
    blocks, into = rows.view(len(rows), -1, block), out.view(len(rows), -1, block)
    into[:, 1:, :radius] += blocks[:, :-1, block - radius:] @ plan.forward
    into[:, :-1, block - radius:] += blocks[:, 1:, :radius] @ plan.backward
    # Values within `radius` of an end lose part of the kernel past it: they share their
    # count over fewer values, each a larger part.
    out[:, :2 * radius] += rows[:, :radius] @ plan.first
    out[:, values - 2 * radius:] += rows[:, values - radius:] @ plan.last
    return out.reshape(counts.shape)


@dataclass(frozen=True)
class _BlurPlan:
    """The matrices of ``blur_values``: ``within`` is the dense V x V product when
    ``block`` is None, else the product inside one block; ``forward`` and ``backward``
    carry the last and first ``radius`` values of a block into the next and the previous
    one; ``first`` and ``last`` add the border values' extra shares."""

    radius: int
    block: int | None
    within: Tensor
    forward: Tensor | None = None
    backward: Tensor | None = None
    first: Tensor | None = None
    last: Tensor | None = None


# Block sizes, in the order tried: the first that holds both tails of the kernel and
# divides V. 32 was the fastest for 256 grey levels on this CPU (16's products are too
# small, and the boundary strips they leave cost as much again).
_BLUR_BLOCKS = (32, 64, 16)


@functools.lru_cache(maxsize=16)
def _blur_plan(values: int, width: float, dtype: torch.dtype, device: torch.device) -> _BlurPlan:
    radius = max(1, math.ceil(4 * width))
    kernel = torch.exp(-0.5 * (torch.arange(-radius, radius + 1, dtype=torch.float64) / width) ** 2)

    def kernel_at(sources: Tensor, targets: Tensor) -> Tensor:
        """(sources, targets), float64: the kernel at target - source."""
        offset = targets[None, :] - sources[:, None]
        near = offset.abs() <= radius
        matrix = torch.zeros(offset.shape, dtype=torch.float64)
        matrix[near] = kernel[offset[near] + radius]
        return matrix

    def band(sources: Tensor, targets: Tensor, weights: Tensor) -> Tensor:
        """``kernel_at`` times each source's weight, in the counts' dtype and device."""
        return (kernel_at(sources, targets) * weights[:, None]).to(device, dtype)

    every = torch.arange(values)
    inside = kernel_at(every, every).sum(1)  # (V,) the part of the kernel inside 0..V-1
    block = next((b for b in _BLUR_BLOCKS if 2 * radius <= b and not values % b
                  and values >= 4 * b), None)
    if block is None:
        return _BlurPlan(radius, None, band(every, every, 1 / inside))
    whole = kernel.sum()  # what a value far from the ends keeps
    local, near_end, near_start = (torch.arange(block), torch.arange(block - radius, block),
                                   torch.arange(radius))
    first, last = torch.arange(radius), torch.arange(values - radius, values)
    return _BlurPlan(
        radius, block,
        within=band(local, local, (1 / whole).expand(block)),
        forward=band(near_end, block + near_start, (1 / whole).expand(radius)),
        backward=band(block + near_start, near_end, (1 / whole).expand(radius)),
        first=band(first, torch.arange(2 * radius), 1 / inside[first] - 1 / whole),
        last=band(last, torch.arange(values - 2 * radius, values), 1 / inside[last] - 1 / whole))


class MiniBatchEM:
    """Mini-batch EM for the softmax-parameterised sums and the categorical and binomial
    inputs of a generated circuit.

        em = MiniBatchEM(circuit, step_size=0.1, pseudo_count=0.1)
        for batch in batches:
            mean_log_likelihood = em.step(batch)  # E-step and M-step
    """

    def __init__(self, circuit: nn.Module, step_size: float = 0.1, pseudo_count: float = 0.1,
                 step_decay: float = 1.0, min_step_size: float = 0.0,
                 dataset_size: int | None = None, input_smoothing: float = 0.0,
                 input_smoothing_width: float = 2.0) -> None:
        if not 0.0 < step_size <= 1.0:
            raise ValueError(f"step_size must lie in (0, 1], found {step_size}")
        if pseudo_count < 0.0:
            raise ValueError(f"pseudo_count must be at least 0, found {pseudo_count}")
        if not 0.0 < step_decay <= 1.0:
            raise ValueError(f"step_decay must lie in (0, 1], found {step_decay}")
        if dataset_size is not None and dataset_size < 1:
            raise ValueError(f"dataset_size must be at least 1, found {dataset_size}")
        if not 0.0 <= input_smoothing < math.inf:
            raise ValueError(f"input_smoothing must be a finite number of at least 0, found "
                             f"{input_smoothing}")
        if not 0.0 < input_smoothing_width < math.inf:
            raise ValueError(f"input_smoothing_width must be a finite number above 0, found "
                             f"{input_smoothing_width}")
        self.circuit = circuit
        self.rules = _rules(circuit)
        # A setting of the run, not state: a resumed run takes the one it is given.
        self.input_smoothing = input_smoothing
        self.input_smoothing_width = input_smoothing_width
        self.smoothed = tuple(n for n in _categorical_inputs(circuit)
                              if self.rules.get(n) == "softmax") if input_smoothing else ()
        self.step_size = step_size
        self.pseudo_count = pseudo_count
        self.step_decay = step_decay
        self.min_step_size = min_step_size
        self.dataset_size = dataset_size  # None: the size of each batch (plain EM scale)
        self.steps = 0
        # Per distribution, the total of its running expected counts per example, (F, K);
        # the counts themselves are rebuilt from the weights (see the module docstring).
        self.masses: dict[str, Tensor] = {}
        self.scale: float | None = None  # N of the last M-step, which set the weights
        self._carried: dict[str, Tensor] = {}  # counts of a state saved before totals
        self.parameters = dict(circuit.named_parameters())

    # The checkpoint stores this in place of an optimizer's state.
    def state_dict(self) -> dict:
        return {"format": STATE_FORMAT, "steps": self.steps, "step_size": self.step_size,
                "pseudo_count": self.pseudo_count, "step_decay": self.step_decay,
                "min_step_size": self.min_step_size, "dataset_size": self.dataset_size,
                "scale": self.scale, "masses": dict(self.masses)}

    def load_state_dict(self, state: dict) -> None:
        """Restore ``state_dict()``'s state; the circuit must hold the weights saved with it.
        Also reads the first format, which kept every running count (``statistics``)."""
        self.steps = int(state["steps"])
        for key in ("step_size", "pseudo_count", "step_decay", "min_step_size"):
            setattr(self, key, float(state[key]))
        self.dataset_size = state.get("dataset_size")
        device = next(iter(self.parameters.values())).device
        statistics = state.get("statistics", {})
        if statistics:  # the next M-step starts from these counts instead of rebuilding them
            self.scale = float(self.dataset_size or 1)
            self.masses = {k: v.to(device).sum(-1) for k, v in statistics.items()}
            self._carried = {k: v.to(device) * self.scale for k, v in statistics.items()}
        else:
            self._carried = {}
            self.masses = {k: v.to(device, copy=True) for k, v in state.get("masses", {}).items()}
            self.scale = state.get("scale")

    def current_step_size(self) -> float:
        """The step size of the next update: ``step_size * step_decay ** steps``, floored."""
        return max(self.min_step_size, self.step_size * self.step_decay ** self.steps)

    def expected_counts(self, x: Tensor, labels: Tensor | None = None
                        ) -> tuple[dict[str, Tensor], Tensor, int]:
        """E-step on one batch: (counts per parameter, summed log-likelihood, rows)."""
        circuit = self.circuit
        with torch.no_grad():  # parameters without a rule enter as constants
            log_weights = dict(circuit.log_weights())
        leaves = {k: log_weights[k].requires_grad_() for k in self.rules}
        with torch.enable_grad():
            values = circuit.variables(x)
            ll = circuit._evaluate(values, None, log_weights=log_weights)
            if ll.dim() == 2:  # several classes: the log-likelihood of each row's class
                if labels is None:
                    raise ValueError("a circuit with several classes needs the labels")
                ll = ll.gather(1, labels.view(-1, 1)).squeeze(1)
            total = ll.sum()
        # The counts are gradients: their backward runs outside any (bf16) autocast of the
        # forward, as backward passes should, so the counts are in the weights' dtype.
        with torch.autocast(values.device.type, enabled=False):
            grads = torch.autograd.grad(total, list(leaves.values()))
        counts = dict(zip(leaves, grads, strict=True))
        return counts, total.detach(), values.shape[0]

    @torch.no_grad()
    def maximise(self, counts: dict[str, Tensor], rows: int) -> None:
        """M-step: fold a batch's counts (of ``rows`` examples) into the running counts,
        then set every parameter with a rule to its smoothed normalised running counts.
        The count tensors serve as scratch space (the E-step made them for this)."""
        step = self.current_step_size()
        alpha = self.pseudo_count
        scale = float(self.dataset_size or rows)
        rows = max(rows, 1)
        for name, rule in self.rules.items():
            parameter = self.parameters[name]
            batch = counts[name].clamp_min_(0)  # (F, K, V), summed over the batch
            if name in self.smoothed:  # tau (B / N) pseudo-examples shaped like blur(c)
                share = batch.sum(-1, keepdim=True).clamp_min_(torch.finfo(batch.dtype).tiny)
                share = share.reciprocal_().mul_(self.input_smoothing * rows / max(scale, 1.0))
                batch = batch.addcmul_(blur_values(batch, self.input_smoothing_width), share)
            previous = self.masses.get(name)
            mass = batch.sum(-1).div_(rows)  # (F, K) per example
            if previous is not None:
                mass = mass.mul_(step).add_(previous, alpha=1 - step)
            total = scale * mass + alpha
            if rule == "binomial":  # the weighted mean's numerator u, (F, K)
                values = torch.arange(batch.shape[-1], dtype=batch.dtype, device=batch.device)
                batch = (batch * values).sum(-1).div_(max(batch.shape[-1] - 1, 1))
            n = batch.shape[-1] if rule == "softmax" else 2  # pseudo-count: success, failure
            running = self._rebuilt_counts(name, parameter, previous, n)
            if running is None:  # N s = N c / B
                running = batch.mul_(scale / rows)
            else:  # N s' = (1 - eta) N s + eta N c / B, from the last step's N
                running = running.mul_((1 - step) * scale / self.scale).add_(
                    batch, alpha=step * scale / rows)
            if rule == "softmax":
                new = running.add_(alpha / n).div_(total.unsqueeze(-1)).clamp_min_(
                    torch.finfo(running.dtype).tiny).log_()
            else:
                eps = torch.finfo(running.dtype).eps
                new = torch.logit(running.add_(alpha / 2).div_(total).clamp_(eps, 1 - eps))
            if alpha <= 0:  # a distribution with no counts and no smoothing keeps its value
                empty = mass <= 0
                new = torch.where(empty.unsqueeze(-1) if rule == "softmax" else empty, parameter, new)
            parameter.copy_(new)
            self.masses[name] = mass
        self._carried = {}
        self.scale = scale
        self.steps += 1

    def _rebuilt_counts(self, name: str, parameter: Tensor, mass: Tensor | None,
                        n: int) -> Tensor | None:
        """``N s``: the running counts that set ``parameter`` at the last M-step, scaled by
        that step's ``N``, rebuilt from the weights and the total ``mass`` (a new tensor);
        None before the first step. For a binomial the weighted mean's numerator ``N u``."""
        carried = self._carried.get(name)
        if carried is not None:
            if self.rules[name] == "softmax":
                return carried
            values = torch.arange(carried.shape[-1], dtype=carried.dtype, device=carried.device)
            return (carried * values).sum(-1).div_(max(carried.shape[-1] - 1, 1))
        if mass is None or self.scale is None:
            return None
        total = self.scale * mass + self.pseudo_count
        if self.rules[name] == "softmax":
            weights, total = parameter.softmax(-1), total.unsqueeze(-1)
        else:
            weights = torch.sigmoid(parameter)
        return weights.mul_(total).sub_(self.pseudo_count / n).clamp_min_(0)

    def step(self, x: Tensor, labels: Tensor | None = None) -> float:
        """One E-step and M-step on batch ``x``; returns the batch's mean log-likelihood
        (before the update). Counts are summed over processes under torch.distributed."""
        counts, total, rows = self.expected_counts(x, labels)
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            summed = torch.cat([c.reshape(-1) for c in counts.values()]
                               + [total.reshape(1), total.new_tensor([float(rows)])])
            torch.distributed.all_reduce(summed)
            offset = 0
            for name, count in counts.items():
                counts[name] = summed[offset:offset + count.numel()].view_as(count)
                offset += count.numel()
            total, rows = summed[-2], int(summed[-1].item())
        self.maximise(counts, rows)
        return float(total) / max(rows, 1)

