"""Squared and product circuits (the algebra over models): the Gram pass, G[a, b] = sum_x
a(x) b(x)^T over pairs of layers, and the mixins ``_GramPass`` (normaliser and marginals)
and ``_GramSampling`` (autoregressive sampling) of ``SquaredCircuit`` and
``ProductCircuit``, which read the Gram pass ``_root_gram`` that codegen writes."""

from __future__ import annotations

import torch
from torch import Tensor

from pcdsl.codegen.kernels.gaussian import _HALF_LOG_TWO_PI
from pcdsl.codegen.kernels.queries import _draw
from pcdsl.codegen.kernels.validation import _class_index

# The generated module defines its own (these serve tests).
NUM_VARIABLES = 1
NUM_VALUES = 2
NUM_CLASSES = 1
IMAGE_SHAPE: tuple[int, ...] | None = None
_SAMPLE_ROWS = 1

# INLINED: from here on, this file is copied into every generated module.


def _renormalise_gram(g: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
    """Rescale each Gram (..., K, J) to a largest entry of magnitude 1, moving the log of the
    factor into its scale ``t`` (...); an all-zero Gram stays zero. The factor is a constant
    to autograd: every Gram is homogeneous in its inputs' scales."""
    with torch.no_grad():
        m = g.abs().amax(dim=(-2, -1))
        m = torch.where(m > 0, m, torch.ones_like(m))
    return g / m[..., None, None], t + torch.log(m)


def _gram_inputs(left: Tensor, right: Tensor, x: Tensor, observed: Tensor | None,
                 variables: Tensor, probes: list | None = None) -> tuple[Tensor, Tensor]:
    """Grams of pairs of input units over one variable each: log-values ``left`` (F, K, V)
    and ``right`` (F, J, V). An unobserved variable sums over its values, P_l P_r^T; an
    observed one contributes p_l(x_v) p_r(x_v)^T. ``observed`` None: nothing is observed
    (one row). Returns (F, B, K, J) and (F, B). With ``probes`` (for sampling), the Grams
    are leaves of autograd, recorded with the tables they came from."""
    with torch.no_grad():
        scale_l = left.amax(dim=(1, 2))
        scale_r = right.amax(dim=(1, 2))
        scale_l = torch.where(torch.isfinite(scale_l), scale_l, torch.zeros_like(scale_l))
        scale_r = torch.where(torch.isfinite(scale_r), scale_r, torch.zeros_like(scale_r))
    p_l = torch.exp(left - scale_l[:, None, None])
    p_r = torch.exp(right - scale_r[:, None, None])
    whole = torch.bmm(p_l, p_r.transpose(1, 2)).unsqueeze(1)  # (F, 1, K, J)
    if observed is None:
        g = whole
    else:
        values = x[:, variables].t()  # (F, B)
        seen = observed[:, variables].t()
        at_l = torch.gather(p_l, 2, values.unsqueeze(1).expand(-1, p_l.shape[1], -1))
        at_r = torch.gather(p_r, 2, values.unsqueeze(1).expand(-1, p_r.shape[1], -1))
        outer = at_l.transpose(1, 2).unsqueeze(-1) * at_r.transpose(1, 2).unsqueeze(-2)
        g = torch.where(seen[..., None, None], outer, whole)
    t = (scale_l + scale_r).unsqueeze(1).expand(g.shape[0], g.shape[1])
    g, t = _renormalise_gram(g, t)
    if probes is not None:
        g = g.detach().requires_grad_()
        probes.append((g, t - (scale_l + scale_r).unsqueeze(1), p_l, p_r, variables))
    return g, t


def _gram_gaussians(left: tuple[Tensor, Tensor], right: tuple[Tensor, Tensor], x: Tensor | None,
                    observed: Tensor | None, variables: Tensor) -> tuple[Tensor, Tensor]:
    """Grams of pairs of gaussian units over one variable each, from their (means, standard
    deviations) ``left`` (F, K) and ``right`` (F, J): an unobserved variable integrates the
    product of the densities, N(mu_l - mu_r; 0, sigma_l^2 + sigma_r^2); an observed one
    contributes the product of the densities at x_v. Returns (F, B, K, J) and (F, B)."""
    (mean_l, std_l), (mean_r, std_r) = left, right
    variance = std_l.unsqueeze(-1) ** 2 + std_r.unsqueeze(-2) ** 2  # (F, K, J)
    difference = mean_l.unsqueeze(-1) - mean_r.unsqueeze(-2)
    log_g = (-0.5 * difference * difference / variance
             - 0.5 * torch.log(variance) - _HALF_LOG_TWO_PI).unsqueeze(1)  # (F, 1, K, J)
    if observed is not None:
        values = x[:, variables].t().unsqueeze(-1)  # (F, B, 1)

        def log_density(mean: Tensor, std: Tensor) -> Tensor:  # (F, B, K)
            z = (values - mean.unsqueeze(1)) / std.unsqueeze(1)
            return -0.5 * z * z - torch.log(std).unsqueeze(1) - _HALF_LOG_TWO_PI

        seen = log_density(mean_l, std_l).unsqueeze(-1) + log_density(mean_r, std_r).unsqueeze(-2)
        log_g = torch.where(observed[:, variables].t()[..., None, None], seen, log_g)
    with torch.no_grad():
        t = log_g.amax(dim=(-2, -1))
    return torch.exp(log_g - t[..., None, None]), t


def _gram_take(gs: tuple[Tensor, ...], ts: tuple[Tensor, ...],
               index: Tensor) -> tuple[Tensor, Tensor]:
    """The Grams at ``index`` (A, F) of the concatenated ``gs``: (A, F, B, K, J), (A, F, B)."""
    g = gs[0] if len(gs) == 1 else torch.cat(gs)
    t = ts[0] if len(ts) == 1 else torch.cat(ts)
    flat = index.reshape(-1)
    return (g.index_select(0, flat).unflatten(0, index.shape),
            t.index_select(0, flat).unflatten(0, index.shape))


def _mixing_matrix(weights: Tensor) -> Tensor:
    """Mixing weights (F, K, A) as the matrix (F, K, A K) acting on the concatenated inputs:
    unit k of the output reads unit k of each input."""
    diagonal = torch.diag_embed(weights.transpose(1, 2))  # (F, A, K, K)
    return diagonal.permute(0, 2, 1, 3).flatten(2)


def _gram_sum(g: Tensor, t: Tensor, arity: tuple[int, int], left: Tensor | None,
              right: Tensor | None) -> tuple[Tensor, Tensor]:
    """G = W_l [G_ij] W_r^T over the block matrix of the inputs' Grams ``g`` (A_l A_r, F, B,
    K, J), aligned to their largest scale; a side without weights (None) is the identity.
    ``arity`` is (A_l, A_r), 0 for a side that is not a sum (one block)."""
    rows, columns = max(arity[0], 1), max(arity[1], 1)
    if g.shape[0] == 1:
        blocks, top = g[0], t[0]
    else:
        with torch.no_grad():
            top = t.amax(dim=0)
            factors = torch.exp(t - top)
        f, b, k, j = g.shape[1:]
        blocks = (g * factors[..., None, None]).view(rows, columns, f, b, k, j)
        blocks = blocks.permute(2, 3, 0, 4, 1, 5).reshape(f, b, rows * k, columns * j)
    if left is not None:
        blocks = torch.matmul(left.unsqueeze(1), blocks)
    if right is not None:
        blocks = torch.matmul(blocks, right.unsqueeze(1).transpose(-1, -2))
    return _renormalise_gram(blocks, top)


def _gram_hadamard(g: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
    """Grams of Hadamard products: the elementwise product of the inputs' Grams (A, F, B,
    K, J), as unit k of a product times unit j of the other is the product over the parts."""
    out = g[0]
    for a in range(1, g.shape[0]):
        out = out * g[a]
    return _renormalise_gram(out, t.sum(dim=0))


def _gram_kronecker(g: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
    """Grams of Kronecker products: the Kronecker product of the inputs' Grams (A, F, B, K,
    J), in the units' order (the first input the most significant digit)."""
    out = g[0]
    for a in range(1, g.shape[0]):
        out = (out[..., :, None, :, None] * g[a][..., None, :, None, :]).flatten(-4, -3)
        out = out.flatten(-2)
    return _renormalise_gram(out, t.sum(dim=0))


class _GramPass:
    """The normaliser and the marginals of a squared or product circuit from its Gram pass
    (``_root_gram``, which codegen writes)."""

    def log_partition(self) -> Tensor:
        """ln Z: the normaliser ``forward`` takes off (``forward`` itself is normalised).
        Shape () (or (NUM_CLASSES,)); differentiable."""
        return self._per_class(self._log_gram(None, None)[0])

    def log_marginal(self, x: Tensor, observed: Tensor) -> Tensor:
        """ln p(x_observed): the Gram pass with the observed variables fixed (the sum of the
        unnormalised density over the unobserved ones), less ln Z."""
        mask = self.observed_mask(observed, x.shape[0]).to(x.device)
        log_mass = self._log_gram(self.variables(x, mask), mask)
        return self._per_class(log_mass - self._log_gram(None, None))

    @staticmethod
    def _per_class(values: Tensor) -> Tensor:
        return values.squeeze(-1) if NUM_CLASSES == 1 else values

    def _log_gram(self, x: Tensor | None, observed: Tensor | None) -> Tensor:
        """ln of the diagonal of the root's Gram, (B, NUM_CLASSES): the sum of c(x)^2 over
        the unobserved variables of each row (every variable when ``observed`` is None:
        one row, ln Z)."""
        g, t = self._root_gram(x, observed)
        return torch.log(torch.diagonal(g, dim1=-2, dim2=-1)) + t.unsqueeze(-1)


class _GramSampling:
    """Exact autoregressive sampling of a squared or product circuit over discrete values."""

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None,
               class_index: int = 0) -> Tensor:
        """``n`` exact samples, autoregressively: each variable in turn is drawn from its
        conditional given those drawn before, from the masses of its NUM_VALUES values: per
        variable, one Gram pass over the n rows and its backward (``_value_masses``)."""
        class_index = _class_index(class_index)
        device = next(self.parameters()).device
        x = torch.zeros(n, NUM_VARIABLES, dtype=torch.long, device=device)
        self._draw_in_order(x, torch.zeros_like(x, dtype=torch.bool), generator, class_index)
        return x.view(n, *IMAGE_SHAPE) if IMAGE_SHAPE else x

    @torch.no_grad()
    def sample_conditional(self, x: Tensor, observed: Tensor,
                           generator: torch.Generator | None = None,
                           class_index: int = 0) -> Tensor:
        """Exact samples of the unobserved variables given the observed ones, drawn
        autoregressively like ``sample``. Returns the completed batch in the shape of ``x``."""
        class_index = _class_index(class_index)
        mask = self.observed_mask(observed, x.shape[0]).to(x.device)
        flat = self.variables(x, mask).clone()
        self._draw_in_order(flat, mask.clone(), generator, class_index)
        return flat.view(x.shape)

    def _draw_in_order(self, x: Tensor, observed: Tensor, generator: torch.Generator | None,
                       class_index: int) -> None:
        """Draw every unobserved variable of ``x`` (B, D) in place, in index order."""
        for v in range(NUM_VARIABLES):
            todo = ~observed[:, v]
            if not bool(todo.any()):
                continue
            mass = torch.cat([
                self._value_masses(rows, seen, v, class_index)
                for rows, seen in zip(x[todo].split(_SAMPLE_ROWS), observed[todo].split(_SAMPLE_ROWS))
            ])
            x[todo, v] = _draw(mass, generator)
            observed[:, v] = True

    def _value_masses(self, x: Tensor, observed: Tensor, v: int, class_index: int) -> Tensor:
        """For each row and each value u of the unobserved variable ``v``, the sum of c(x)^2
        over the other unobserved variables with x_v = u, up to a factor per row: (B, V).

        The root's Gram is linear in the input Grams over ``v`` taken together (every
        product of the circuit reads ``v`` once), so one backward pass gives its gradient A
        with respect to them, and the mass of u is the sum over them of
        p_l(u)^T A p_r(u): one Gram pass per variable, not one per value."""
        probes: list = []
        with torch.enable_grad():
            g, _ = self._root_gram(x, observed, probes)
            root = g[:, class_index, class_index].sum()
            grams = [probe[0] for probe in probes]
            gradients = torch.autograd.grad(root, grams, allow_unused=True)
        mass = x.new_zeros(x.shape[0], NUM_VALUES, dtype=g.dtype)
        for (_, shift, p_l, p_r, variables), gradient in zip(probes, gradients):
            members = (variables == v).nonzero().squeeze(-1)
            if gradient is None or members.numel() == 0:
                continue
            # The mantissa of p_l(u) p_r(u)^T at the scale of the Gram it replaces.
            factor = torch.exp(-shift[members])  # (M, B)
            mass += torch.einsum("fbkj,fku,fju,fb->bu", gradient[members], p_l[members],
                                 p_r[members], factor)
        # Masses are sums of squares: a negative one is rounding, a draw of probability 0.
        return mass.clamp(min=0)
