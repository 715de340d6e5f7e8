"""Sampling and MAP: draws, the max-product pass and the downward pass, as the mixin
``_Queries`` that every generated ``Circuit`` inherits, with the step of each kind of fold
in the max semiring and the choice of each kind of sum. The generated module lists the
kernels of its own folds (``_INPUT_KERNELS``, ``_MAX_STEPS``, ``_SUM_CHOICES``)."""

from __future__ import annotations

import torch
from torch import Tensor

from pcdsl.codegen.kernels.inputs import _lookup
from pcdsl.codegen.kernels.products import _hadamard, _kronecker
from pcdsl.codegen.kernels.scales import _renormalise
from pcdsl.codegen.kernels.sums import _aligned
from pcdsl.codegen.kernels.validation import _class_index, _generator, _tensor

# The generated module defines its own (these serve tests): see the constants it writes.
NUM_VARIABLES = 1
NUM_VALUES = 2
IMAGE_INPUT_SHAPES: tuple[tuple[int, ...], ...] = ()
_STRIDE = 3
SIGNED_WEIGHTS: tuple[str, ...] = ()
OUTPUT_FOLD = 0
OUTPUT_POSITION = 0
FOLD_SIZES: tuple[int, ...] = ()
INPUT_FOLDS: dict[int, str] = {}
_DOWNWARD: tuple = ()
_INPUT_KERNELS: dict = {}
_MAX_STEPS: dict = {}
_SUM_CHOICES: dict = {}

# INLINED: from here on, this file is copied into every generated module.


def _draw(probabilities: Tensor, generator: torch.Generator | None) -> Tensor:
    """One draw per row of unnormalised non-negative ``probabilities`` (R, N) -> (R,)."""
    if probabilities.shape[0] == 0:
        return torch.zeros(0, dtype=torch.long, device=probabilities.device)
    if generator is not None and generator.device != probabilities.device:
        uniform = torch.rand(probabilities.shape[0], 1, generator=generator)
        uniform = uniform.to(probabilities.device, probabilities.dtype)
    else:
        uniform = torch.rand(probabilities.shape[0], 1, generator=generator,
                             device=probabilities.device, dtype=probabilities.dtype)
    cumulative = probabilities.cumsum(dim=-1)
    threshold = uniform * cumulative[:, -1:]
    return torch.searchsorted(cumulative, threshold).squeeze(-1).clamp_(
        max=probabilities.shape[-1] - 1)


def _normal_like(like: Tensor, generator: torch.Generator | None) -> Tensor:
    """Standard normal draws of the shape, dtype and device of ``like``."""
    if generator is not None and generator.device != like.device:
        return torch.randn(like.shape, generator=generator).to(like.device, like.dtype)
    return torch.randn(like.shape, generator=generator, device=like.device, dtype=like.dtype)


def _argmax(scores: Tensor) -> Tensor:
    """The index of the largest entry of each row (R, N) -> (R,); the first on ties."""
    return scores.argmax(dim=-1)


def _check_signs(w: dict) -> None:
    """Sampling and MAP choose among weighted inputs, so they need non-negative weights."""
    for key in SIGNED_WEIGHTS:
        if bool((w[key] < 0).any()):
            raise ValueError(f"the weights '{key}' (parameterisation 'none') have negative "
                             "entries: sampling and MAP need non-negative weights")


class _TableInputs:
    """Sampling and MAP over an input fold with a table (categorical, binomial, embedding):
    ``(values, log-scales)`` of V + 1 rows per member (see ``_input_table``)."""

    @staticmethod
    def read(parameters: tuple[Tensor, ...], data: tuple[Tensor, Tensor | None],
             variables: Tensor, members: Tensor) -> tuple[Tensor, Tensor]:
        """Units of input members ``members`` (F,) over ``variables`` (F,) for a batch."""
        return _lookup(parameters, data, variables, members * _STRIDE)

    @staticmethod
    def best(parameters: tuple[Tensor, ...]) -> tuple[Tensor, Tensor]:
        """Per member, each unit's largest probability over the values, as (F, 1, K) rescaled
        to a largest unit of 1, and the (F, 1) log-scales (broadcast over a batch)."""
        units = parameters[0].shape[-1]
        probabilities = parameters[0].view(-1, _STRIDE, units)[:, :NUM_VALUES]
        scales = parameters[1].view(-1, _STRIDE)[:, :NUM_VALUES]
        top = scales.amax(dim=-1, keepdim=True)
        values = probabilities * torch.exp(scales - top).unsqueeze(-1)
        return _renormalise(values.amax(dim=1, keepdim=True), top)

    @staticmethod
    def choose(parameters: tuple[Tensor, ...], member: Tensor, unit: Tensor, choose,
               maximum: bool, generator: torch.Generator | None) -> Tensor:
        """The value of the variable of each active unit ``unit`` of member ``member``:
        ``choose`` over the unit's probabilities of the values, read from the table."""
        table, scales = parameters[0], parameters[1]
        rows = member.unsqueeze(1) * _STRIDE + torch.arange(NUM_VALUES, device=member.device)
        scales = scales[rows]
        probabilities = table[rows, unit.unsqueeze(1)] * torch.exp(
            scales - scales.amax(dim=1, keepdim=True))
        return choose(probabilities.float())


def _max_dense(hs: tuple[Tensor, ...], ss: tuple[Tensor, ...],
               weights: Tensor) -> tuple[Tensor, Tensor]:
    """Dense sums in the max semiring: unit k takes max_j w_kj h_j of the one input. Computed
    in chunks of the batch so that the (F, b, K_out, K_in) products stay within about
    128 MiB."""
    h, s = hs[0], ss[0]
    folds, batch, units = h.shape
    chunk = max(1, (1 << 25) // max(1, folds * weights.shape[1] * units))
    parts = [(h[:, i:i + chunk].unsqueeze(2) * weights.unsqueeze(1)).amax(dim=-1)
             for i in range(0, max(batch, 1), chunk)]  # one (empty) part for an empty batch
    return _renormalise(torch.cat(parts, dim=1), s)


def _max_stacked(hs: tuple[Tensor, ...], ss: tuple[Tensor, ...],
                 weights: Tensor) -> tuple[Tensor, Tensor]:
    """Dense sums over the stacked units of A inputs in the max semiring."""
    h, s = _aligned(hs, ss)
    return _max_dense((h,), (s,), weights)


def _max_mixing(hs: tuple[Tensor, ...], ss: tuple[Tensor, ...],
                weights: Tensor) -> tuple[Tensor, Tensor]:
    """Mixing sums in the max semiring: unit k takes max_a w_ka h_a,k (aligned scales)."""
    top = torch.stack(ss).amax(dim=0)
    terms = [h_a * (w_a.unsqueeze(1) * torch.exp(s_a - top).unsqueeze(-1))
             for h_a, s_a, w_a in zip(hs, ss, weights.unbind(-1))]
    return _renormalise(torch.stack(terms).amax(dim=0), top)


def _max_hadamard(hs: tuple[Tensor, ...], ss: tuple[Tensor, ...],
                  weights: None) -> tuple[Tensor, Tensor]:
    """Hadamard products, the same in the max semiring."""
    return _hadamard(hs, ss)


def _max_kronecker(hs: tuple[Tensor, ...], ss: tuple[Tensor, ...],
                   weights: None) -> tuple[Tensor, Tensor]:
    """Kronecker products, the same in the max semiring."""
    return _kronecker(hs, ss)


def _choose_dense(values: list, weights: Tensor, member: Tensor, column: Tensor, unit: Tensor,
                  choose, input_units: int) -> tuple[Tensor | None, Tensor]:
    """The input unit each active dense sum unit chooses, among weight x input value: the
    one input's slot (None) and the chosen unit."""
    h, _ = values[0]
    return None, choose(weights[member, unit] * h[member, column])


def _choose_stacked(values: list, weights: Tensor, member: Tensor, column: Tensor, unit: Tensor,
                    choose, input_units: int) -> tuple[Tensor | None, Tensor]:
    """Like ``_choose_dense`` over the stacked units of the inputs: the chosen input's slot
    and its unit."""
    h, _ = _aligned(tuple(h_a[member, column].unsqueeze(0) for h_a, _ in values),
                    tuple(s_a[member, column].unsqueeze(0) for _, s_a in values))
    chosen = choose(weights[member, unit] * h[0])
    return chosen // input_units, chosen % input_units


def _choose_mixing(values: list, weights: Tensor, member: Tensor, column: Tensor, unit: Tensor,
                   choose, input_units: int) -> tuple[Tensor | None, Tensor]:
    """The input each active mixing unit chooses, among weight x input value at a common
    scale: its slot, and the same unit there."""
    s = torch.stack([s_a[member, column] for _, s_a in values], dim=-1)
    h = torch.stack([h_a[member, column, unit] for h_a, _ in values], dim=-1)
    scores = weights[member, unit] * h * torch.exp(s - s.amax(-1, True))
    return choose(scores), unit


class _Discarded(dict):
    """A dictionary that keeps nothing: ``_evaluate`` records every fold's output in one
    only when they are wanted, and otherwise lets each go once it has been read."""

    def __setitem__(self, key: object, value: object) -> None:
        pass


_DISCARDED = _Discarded()


class _Queries:
    """The queries of a generated ``Circuit`` that do not depend on its spec: masks,
    marginals and conditionals, conditional sampling and MAP, and the passes behind them.
    They read the circuit's ``_evaluate``, ``normalised``, ``variables`` and ``_batch``, and
    its index tables ``child_folds_<fold>`` and ``child_rows_<fold>`` (which fold and row
    each input slot of a fold reads) and ``variables_<fold>`` of its input folds."""

    def observed_mask(self, observed: Tensor, batch: int) -> Tensor:
        """Validate an observation mask, (D,) or (B, D) or image-shaped, as (B, D) bool."""
        observed = _tensor(observed, "observed")
        if observed.dtype != torch.bool:
            raise TypeError(f"expected a bool mask of observed variables, found {observed.dtype}")
        shape = tuple(observed.shape)
        for image in IMAGE_INPUT_SHAPES:
            if shape[len(shape) - len(image):] == image and len(shape) - len(image) <= 1:
                observed = observed.reshape(*shape[:len(shape) - len(image)], NUM_VARIABLES)
                break
        if observed.shape == (NUM_VARIABLES,):
            return observed.expand(batch, NUM_VARIABLES)
        if observed.shape == (batch, NUM_VARIABLES):
            return observed
        raise ValueError(f"expected a mask of shape ({NUM_VARIABLES},) or ({batch}, "
                         f"{NUM_VARIABLES}), found {tuple(observed.shape)}")

    def log_marginal(self, x: Tensor, observed: Tensor) -> Tensor:
        """ln p(x_observed) of each row, every unobserved variable integrated out exactly.

        ``observed`` is a bool mask of shape (D,) or (B, D) (or image-shaped); the values of
        ``x`` at unobserved variables are ignored. With every variable observed this is
        ``forward(x)``; with none, 0 (up to rounding)."""
        x = self._batch(x)
        mask = self.observed_mask(observed, x.shape[0]).to(x.device)
        return self._evaluate(self.variables(x, mask), mask)

    def log_conditional(self, x: Tensor, query: Tensor, evidence: Tensor) -> Tensor:
        """ln p(x_query | x_evidence) of each row, for disjoint bool masks."""
        x = self._batch(x)
        query = self.observed_mask(query, x.shape[0]).to(x.device)
        evidence = self.observed_mask(evidence, x.shape[0]).to(x.device)
        if bool((query & evidence).any()):
            raise ValueError("query and evidence must be disjoint")
        return self.log_marginal(x, query | evidence) - self.log_marginal(x, evidence)

    @torch.no_grad()
    def sample_conditional(self, x: Tensor, observed: Tensor,
                           generator: torch.Generator | None = None,
                           class_index: int = 0) -> Tensor:
        """Exact samples of the unobserved variables given the observed ones (inpainting):
        the observed values are kept, the others drawn from p(x_unobserved | x_observed)
        under class ``class_index``. Returns the completed batch in the shape of ``x``."""
        generator, class_index = _generator(generator), _class_index(class_index)
        flat = self._batch(x)
        mask = self.observed_mask(observed, flat.shape[0]).to(flat.device)
        samples = self._sample(self.variables(flat, mask), mask, generator, class_index)
        return samples.view(tuple(x.shape))

    @torch.no_grad()
    def map_complete(self, x: Tensor, observed: Tensor,
                     class_index: int = 0) -> tuple[Tensor, Tensor]:
        """Fill the unobserved variables by max-product: an upward pass in the max semiring
        (sums take their largest weighted input), then a downward pass following the
        argmax choices. Returns the completed batch (shaped like ``x``) and its max-product
        value: the natural log of the largest probability of one induced tree of the
        circuit with these values. This is the exact MAP completion for deterministic
        circuits (at most one input of every sum is non-zero for any input) and an
        approximation otherwise. With several classes, ``class_index`` picks the class."""
        class_index = _class_index(class_index)
        flat = self._batch(x)
        mask = self.observed_mask(observed, flat.shape[0]).to(flat.device)
        flat = self.variables(flat, mask)
        w, outputs = self._max_product(flat, mask)
        completion = self._descend(flat, mask, w, outputs, _argmax, True, class_index)
        h, s = outputs[OUTPUT_FOLD]
        value = torch.log(h[OUTPUT_POSITION, :, class_index]) + s[OUTPUT_POSITION]
        return completion.view(tuple(x.shape)), value

    def _max_product(self, x: Tensor, observed: Tensor) -> tuple[dict, dict]:
        """Upward pass in the max semiring, fold by fold; unobserved inputs take the value
        of their most probable state. Returns the normalised parameters (with each input
        fold's best-state table) and every fold's output (h, s)."""
        w = dict(self.normalised(dense_tables=False))
        _check_signs(w)
        for fold, key in INPUT_FOLDS.items():
            w[f"max_{key}"] = _INPUT_KERNELS[fold].best(w[key])
        data = (x, observed)
        outputs: dict = {}
        for fold, kind, weights, _ in reversed(_DOWNWARD):
            sources = getattr(self, f"child_folds_{fold}")
            rows = getattr(self, f"child_rows_{fold}")
            slots = [self._slot(a, sources, rows, outputs, w, data, maximum=True)
                     for a in range(sources.shape[0])]
            hs = tuple(h for h, _ in slots)
            ss = tuple(s for _, s in slots)
            outputs[fold] = _MAX_STEPS[kind](hs, ss, None if weights is None else w[weights])
        return w, outputs

    def _sample(self, x: Tensor, observed: Tensor, generator: torch.Generator | None,
                class_index: int) -> Tensor:
        """Upward pass with the evidence, then a downward pass drawing every choice from
        its posterior."""
        w, outputs = self._evaluate(x, observed, keep=True)
        _check_signs(w)
        return self._descend(x, observed, w, outputs,
                             lambda probabilities: _draw(probabilities, generator),
                             False, class_index, generator)

    def _descend(self, x: Tensor, observed: Tensor, w: dict, outputs: dict, choose,
                 maximum: bool, class_index: int,
                 generator: torch.Generator | None = None) -> Tensor:
        """Downward pass: from the output, each active sum unit chooses one input among
        weight x input value (``choose`` draws for sampling, takes the argmax for MAP),
        products pass their unit to all inputs, and each active input unit chooses its
        variable's value; observed variables keep theirs."""
        data = (x, observed)
        n = x.shape[0]
        active = {OUTPUT_FOLD: torch.full((FOLD_SIZES[OUTPUT_FOLD], n), -1, device=x.device)}
        active[OUTPUT_FOLD][OUTPUT_POSITION] = class_index
        for fold, kind, weights, input_units in _DOWNWARD:
            units = active.pop(fold, None)
            if units is None:
                continue
            sources = getattr(self, f"child_folds_{fold}")  # (A, F) fold of each input
            rows = getattr(self, f"child_rows_{fold}")  # (A, F) row in that fold
            member, column = (units >= 0).nonzero(as_tuple=True)
            unit = units[member, column]
            choice = _SUM_CHOICES.get(kind)  # None for a product: its unit goes to every input
            if choice is None:
                chosen_slot, chosen_unit = None, unit
            else:
                values = [self._slot(a, sources, rows, outputs, w, data, maximum)
                          for a in range(sources.shape[0])]
                chosen_slot, chosen_unit = choice(values, w[weights], member, column, unit, choose,
                                                  input_units)
            arity = sources.shape[0]
            for slot in range(arity):
                pick = slice(None) if chosen_slot is None else chosen_slot == slot
                slot_unit = chosen_unit[pick]
                if kind == "kronecker":  # the unit's digit for this input, base K
                    slot_unit = (slot_unit // input_units ** (arity - 1 - slot)) % input_units
                self._activate(active, sources[slot, member[pick]], rows[slot, member[pick]],
                               column[pick], slot_unit, n)
        return self._choose_inputs(active, x, observed, w, choose, maximum, generator)

    def _slot(self, slot: int, sources: Tensor, rows: Tensor, outputs: dict, w: dict,
              data: tuple[Tensor, Tensor], maximum: bool) -> tuple[Tensor, Tensor]:
        """The (h, s) values of input ``slot`` of every member of a fold: (F, n, K), (F, n).
        With ``maximum``, unobserved inputs take the values of their most probable state."""
        parts_h, parts_s, order = [], [], []
        for source in sources[slot].unique().tolist():
            members = (sources[slot] == source).nonzero(as_tuple=True)[0]
            positions = rows[slot, members]
            if source in INPUT_FOLDS:
                key = INPUT_FOLDS[source]
                variables = getattr(self, f"variables_{source}")[positions]
                h, s = _INPUT_KERNELS[source].read(w[key], data, variables, positions)
                if maximum:
                    best_h, best_s = w[f"max_{key}"]
                    seen = data[1][:, variables].t()
                    h = torch.where(seen.unsqueeze(-1), h, best_h[positions])
                    s = torch.where(seen, s, best_s[positions])
            else:
                h, s = outputs[source][0][positions], outputs[source][1][positions]
            parts_h.append(h)
            parts_s.append(s)
            order.append(members)
        inverse = torch.argsort(torch.cat(order))
        return torch.cat(parts_h)[inverse], torch.cat(parts_s)[inverse]

    @staticmethod
    def _activate(active: dict, sources: Tensor, rows: Tensor, columns: Tensor, units: Tensor,
                  n: int) -> None:
        """Mark unit ``units[i]`` of row ``rows[i]`` of fold ``sources[i]`` active in sample
        ``columns[i]``. A decomposable circuit reaches each node at most once per sample."""
        for source in sources.unique().tolist():
            pick = sources == source
            if source not in active:
                active[source] = torch.full((FOLD_SIZES[source], n), -1, device=units.device)
            active[source][rows[pick], columns[pick]] = units[pick]

    def _choose_inputs(self, active: dict, x: Tensor, observed: Tensor, w: dict, choose,
                       maximum: bool, generator: torch.Generator | None) -> Tensor:
        """Choose every variable's value from its active input unit, as the kernels of its
        input fold do (``choose`` over a table unit's probabilities of the values; for a
        gaussian unit its mean with ``maximum``, a normal draw otherwise); observed variables
        keep their values."""
        out = x.clone()
        for fold, key in INPUT_FOLDS.items():
            units = active.get(fold)
            if units is None:
                continue
            member, column = (units >= 0).nonzero(as_tuple=True)
            values = _INPUT_KERNELS[fold].choose(w[key], member, units[member, column], choose,
                                                 maximum, generator)
            variables = getattr(self, f"variables_{fold}")[member]
            keep = observed[column, variables]
            out[column, variables] = torch.where(keep, x[column, variables], values)
        return out

