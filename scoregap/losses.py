"""Training losses: denoising score matching and the log-density Fokker–Planck residual ({eq}`dsm`, {eq}`residual`)."""
from __future__ import annotations

from typing import Callable

import torch

from . import metrics, sde
from . import sde as sde_mod

BOX = metrics.BOX
"""Half-width of the collocation box of the paper's regulariser: the box of the histograms."""


def dsm_loss(score: Callable, x0: torch.Tensor, t: torch.Tensor | None = None, generator: torch.Generator | None = None,
             sde: "sde_mod.SDE" = sde.OU, weighted: bool = False) -> torch.Tensor:
    """DSM loss {eq}`dsm`: mean over batch and coordinates of (s(x_t, t) - ∇log p(x_t | x0))², t ~ T·Beta(1,2) + eps
    (for another forward `sde`: its kernel and its training times; `weighted`: each term times v(t), Song et al.'s λ(t))."""
    sde = sde_mod.get(sde)
    x0 = sde_mod.as_points(x0, "x0")
    if t is None:
        t = sde.training_times(x0.shape[0], generator=generator, device=x0.device)
    t = sde.as_times(t, x0.shape[0], x0)
    xt, target = sde.sample_kernel(x0, t, generator=generator)
    if weighted:
        return (((score(xt, t) - target) ** 2) * sde.kernel_var(t)).mean()
    return ((score(xt, t) - target) ** 2).mean()


def fp_rhs(x: torch.Tensor, grad: torch.Tensor, lap: torch.Tensor) -> torch.Tensor:
    """Right-hand side of the log-density FP equation for the OU drift: 2 + x·∇φ + ½Δφ + ½|∇φ|²."""
    return 2.0 + (x * grad).sum(-1) + 0.5 * lap + 0.5 * (grad * grad).sum(-1)


def _terms_autograd(potential: Callable, x: torch.Tensor, t: torch.Tensor):
    """(φ, ∂_tφ, ∇φ, Δφ) of any potential by nested autograd (exact; used when no fast path exists)."""
    with torch.enable_grad():
        x = x if x.requires_grad else x.detach().requires_grad_(True)  # keep an outer graph (e.g. for ∇_x r)
        t = t if t.requires_grad else t.detach().requires_grad_(True)
        phi = potential(x, t).reshape(-1)
        gx, gt = torch.autograd.grad(phi.sum(), (x, t), create_graph=True)
        lap = sum(torch.autograd.grad(gx[:, i].sum(), x, create_graph=True)[0][:, i] for i in range(x.shape[1]))
    return phi, gt.reshape(-1), gx, lap


def fp_terms(potential: Callable, x, t):
    """(φ, ∂_tφ, ∇φ, Δφ): the network's explicit forward-mode pass when it has one, else autograd."""
    x = sde.as_points(x)
    t = sde.as_times(t, x.shape[0], x)
    if hasattr(potential, "fp_terms"):
        return potential.fp_terms(x, t)
    return _terms_autograd(potential, x, t)


def fp_residual(potential: Callable, x, t, sde: "sde_mod.SDE" = sde.OU) -> torch.Tensor:
    """r(x, t) = ∂_tφ - 2 - x·∇φ - ½Δφ - ½|∇φ|², the log-density FP residual for dX = -X dt + dW ({eq}`residual`);
    for another forward `sde`, r = ∂_tφ + ∇·f + f·∇φ - ½g²(Δφ + |∇φ|²) ({eq}`fp-log-general`)."""
    sde = sde_mod.get(sde)
    x = sde_mod.as_points(x)
    if sde == sde_mod.OU:
        _, dt, grad, lap = fp_terms(potential, x, t)
        return dt - fp_rhs(x.to(grad.dtype), grad, lap)
    t = sde.as_times(t, x.shape[0], x)
    _, dt, grad, lap = fp_terms(potential, x, t)
    return dt - sde.fp_rhs(x.to(grad.dtype), t.reshape(-1).to(grad.dtype), grad, lap)


def fp_residual_batched(potential: Callable, x, t, chunk: int = 1024, workers: int | None = None, pool=None,
                        sde: "sde_mod.SDE" = sde.OU) -> torch.Tensor:
    """r(x, t) at many points without autograd: for a PotentialMLP its forward-mode pass in cache-sized chunks, the rows
    split over `pool` (a parallel.RowPool) or `workers` CPU threads (default torch's thread count); else fp_residual."""
    from .allocator import keep_freed_memory
    from .models import PotentialMLP, flush_denormals, fp_terms_scaled, make_input, scaled_params
    from .parallel import row_pool

    sde = sde_mod.get(sde)
    x = sde_mod.as_points(x)
    t = sde.as_times(t, x.shape[0], x)
    if not isinstance(potential, PotentialMLP):
        return fp_residual(potential, x, t, sde=sde).detach()
    ou = sde == sde_mod.OU
    p = scaled_params(tuple(w.detach() for w in potential.params()))
    x, t = x.to(p[0].device), t.to(p[0].device)
    if x.device.type == "cpu":
        keep_freed_memory()
    inp = make_input(x, t)
    out = torch.empty(x.shape[0], device=x.device)

    def rows(i: int, j: int) -> None:
        _, dt, g, lap = fp_terms_scaled(p, inp[i:j])
        out[i:j] = dt - (fp_rhs(x[i:j], g, lap) if ou else sde.fp_rhs(x[i:j], t[i:j, 0], g, lap))

    with torch.no_grad(), flush_denormals(), row_pool(workers, x.device, pool) as rp:
        rp.map(rows, x.shape[0], chunk)
    return out


def collocation_points(n: int, generator: torch.Generator | None = None, device="cpu", box: float = BOX,
                       sde: "sde_mod.SDE" = sde.OU):
    """Points uniform in [-box, box]² × [eps, T] (the SDE's time range), the paper's collocation distribution."""
    if int(n) <= 0:
        raise ValueError(f"n must be a positive integer, got {n}")
    sde = sde_mod.get(sde)
    x = (2 * torch.rand(int(n), 2, generator=generator, device=device) - 1) * box
    t = sde.eps + (sde.T - sde.eps) * torch.rand(int(n), 1, generator=generator, device=device)
    return x, t


def mean_squared_residual(potential: Callable, n: int = 20_000, seed: int = 0, batch: int = 5_000) -> float:
    """Mean of r² over n uniform collocation points with a fixed seed ({eq}`residual`; the paper's reported residual)."""
    g = torch.Generator().manual_seed(int(seed))
    x, t = collocation_points(n, generator=g)
    total = 0.0
    for i in range(0, n, batch):
        with torch.no_grad() if hasattr(potential, "fp_terms") else torch.enable_grad():
            r = fp_residual(potential, x[i:i + batch], t[i:i + batch])
        total += float((r.detach().double() ** 2).sum())
    return total / n


def residual_decomposition(potential: Callable, n_x: int = 2_000, n_t: int = 10, seed: int = 0, sde: "sde_mod.SDE" = sde.OU,
                           box: float = BOX) -> dict:
    """Split the mean squared FP residual into its gauge part and the rest, and add the score-form residual.

    DSM fixes only ∇φ, so φ + c(t) is as good a model, yet r sees c'(t). On n_t stratified times with n_x
    uniform points each: total = mean r², time_only = mean over t of (mean_x r)², centred = mean of
    (r - mean_x r)² (total = time_only + centred), score_form = mean |∇_x r|² (blind to c(t)).
    Another forward `sde`: its residual on its time range; `box`: the half-width of the collocation square.
    """
    sde = sde_mod.get(sde)
    g = torch.Generator().manual_seed(int(seed))
    totals = {"total": 0.0, "time_only": 0.0, "centred": 0.0, "score_form": 0.0}
    edges = torch.linspace(sde.eps, sde.T, n_t + 1)
    for k in range(n_t):
        x, _ = collocation_points(n_x, generator=g, box=box)
        t = edges[k] + (edges[k + 1] - edges[k]) * torch.rand(n_x, 1, generator=g)
        with torch.enable_grad():
            xg = x.clone().requires_grad_(True)
            r = fp_residual(potential, xg, t, sde=sde)
            (gr,) = torch.autograd.grad(r.sum(), xg)
        r = r.detach().double()
        m = r.mean()
        totals["total"] += float((r**2).mean()) / n_t
        totals["time_only"] += float(m**2) / n_t
        totals["centred"] += float(((r - m) ** 2).mean()) / n_t
        totals["score_form"] += float((gr.double() ** 2).sum(1).mean()) / n_t
    return totals


# ------------------------------------------------------------------------- score models (no potential)

def _per_point(score: Callable):
    """s(x, t) for one point x (2,), t () as a function for torch.func (the model sees a batch of one)."""
    def s1(x, t):
        return score(x.reshape(1, 2), t.reshape(1, 1)).reshape(2)
    return s1


def score_derivatives(score: Callable, x, t):
    """(s, J, H, ∂_t s) of a score s(x, t) at each point, exact, by torch.func: J[n, i, k] = ∂_k s_i, H[n, i, j, k] = ∂_k∂_j s_i.

    Falls back to batched autograd (each output row depends only on its own input row) for models torch.func cannot
    transform (e.g. TorchScript).
    """
    from torch.func import jacrev, vmap

    x = sde_mod.as_points(x)
    t = torch.as_tensor(t, dtype=x.dtype).expand(x.shape[0], 1) if torch.as_tensor(t).ndim == 0 else torch.as_tensor(t, dtype=x.dtype).reshape(-1, 1)
    s1 = _per_point(score)
    try:
        with torch.enable_grad():
            s = vmap(s1)(x, t[:, 0])
            J = vmap(jacrev(s1, 0))(x, t[:, 0])
            H = vmap(jacrev(jacrev(s1, 0), 0))(x, t[:, 0])
            st = vmap(jacrev(s1, 1))(x, t[:, 0])
        return s.detach(), J.detach(), H.detach(), st.detach()
    except (RuntimeError, NotImplementedError, TypeError):
        return _score_derivatives_autograd(score, x, t)


def _score_derivatives_autograd(score: Callable, x: torch.Tensor, t: torch.Tensor):
    """score_derivatives by nested autograd on the batch (sums over rows: exact when rows are independent)."""
    def grad(y, wrt, **kw):
        (g,) = torch.autograd.grad(y, wrt, allow_unused=True, **kw)
        return torch.zeros_like(wrt) if g is None else g

    with torch.enable_grad():
        x = x.detach().clone().requires_grad_(True)
        t = t.detach().clone().requires_grad_(True)
        s = score(x, t)
        J = torch.stack([grad(s[:, i].sum(), x, create_graph=True) for i in range(2)], 1)  # (n, i, k)
        st = torch.stack([grad(s[:, i].sum(), t, retain_graph=True)[:, 0] for i in range(2)], 1)
        H = torch.stack([torch.stack([grad(J[:, i, j].sum(), x, retain_graph=True) if J.requires_grad else torch.zeros_like(x)
                                      for j in range(2)], 1) for i in range(2)], 1)  # (n, i, j, k)
    return s.detach(), J.detach(), H.detach(), st.detach()


def score_fp_residual(score: Callable, x, t, sde: "sde_mod.SDE" = sde.OU) -> torch.Tensor:
    """The score Fokker–Planck residual (FP-Diffusion, Lai et al. 2023), shape (n, 2) ({eq}`fp-score`):

    r_s = ∂_t s - ∇_x[½g²(∇·s + |s|²) - f·s - ∇·f], here with f = -b(t) x: r_s = ∂_t s - ½g²(∇(∇·s) + 2Jᵀs) - b(s + Jᵀx).
    For s = ∇φ it is ∇_x of the log-density residual r, computed exactly in 2-D with torch.func jacobians.
    """
    sde = sde_mod.get(sde)
    x = sde_mod.as_points(x)
    t = sde.as_times(t, x.shape[0], x)
    return _rs_from(sde, x, t, *score_derivatives(score, x, t))


def curl(score: Callable, x, t) -> torch.Tensor:
    """curl s = ∂_x s_y - ∂_y s_x at each point, shape (n,): zero exactly when s is a gradient field ({eq}`curl`)."""
    x = sde_mod.as_points(x)
    _, J, _, _ = score_derivatives(score, x, t)
    return J[:, 1, 0] - J[:, 0, 1]


def score_residual_summary(score: Callable, n_x: int = 1_000, n_t: int = 10, seed: int = 0, sde: "sde_mod.SDE" = sde.OU,
                           box: float = BOX) -> dict:
    """Mean |r_s|² (score_form), mean curl² (curl) and curl² relative to mean |J|²_F (curl_relative) over n_t stratified
    time slabs of n_x uniform points in [-box, box]² (as residual_decomposition)."""
    sde = sde_mod.get(sde)
    g = torch.Generator().manual_seed(int(seed))
    edges = torch.linspace(sde.eps, sde.T, n_t + 1)
    out = {"score_form": 0.0, "curl": 0.0, "curl_relative": 0.0}
    jac = 0.0
    for k in range(n_t):
        x, _ = collocation_points(n_x, generator=g, box=box)
        t = edges[k] + (edges[k + 1] - edges[k]) * torch.rand(n_x, 1, generator=g)
        t = sde.as_times(t, n_x, x)
        s, J, H, st = score_derivatives(score, x, t)
        rs = _rs_from(sde, x, t, s, J, H, st)
        if not (torch.isfinite(rs).all() and torch.isfinite(J).all()):
            raise ValueError("the score model returned NaN or infinite values (or derivatives) at collocation points")
        c = J[:, 1, 0] - J[:, 0, 1]
        out["score_form"] += float((rs.double() ** 2).sum(1).mean()) / n_t
        out["curl"] += float((c.double() ** 2).mean()) / n_t
        jac += float((J.double() ** 2).sum((1, 2)).mean()) / n_t
    out["curl_relative"] = out["curl"] / jac if jac > 0 else float("nan")
    return out


def _rs_from(sde, x, t, s, J, H, st) -> torch.Tensor:
    """score_fp_residual from precomputed derivatives."""
    tt = t.reshape(-1, 1).to(s.dtype)
    b = torch.as_tensor(sde.drift_rate(tt), dtype=s.dtype) * torch.ones_like(tt)
    g2 = (torch.as_tensor(sde.diffusion(tt), dtype=s.dtype) * torch.ones_like(tt)) ** 2
    return st - 0.5 * g2 * (torch.einsum("niik->nk", H) + 2 * torch.einsum("nik,ni->nk", J, s)) - b * (s + torch.einsum("nik,ni->nk", J, x.to(s.dtype)))
