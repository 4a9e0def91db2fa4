"""Training losses: denoising score matching and the log-density Fokker–Planck residual ({eq}`dsm`, {eq}`residual`)."""
from __future__ import annotations

from typing import Callable

import torch

from . import metrics, sde

BOX = metrics.BOX
"""Half-width of the collocation box of the paper's regulariser: the box of the histograms."""


def dsm_loss(score: Callable, x0: torch.Tensor, t: torch.Tensor | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """DSM loss {eq}`dsm`: mean over batch and coordinates of (s(x_t, t) - ∇log p(x_t | x0))², t ~ T·Beta(1,2) + eps."""
    x0 = sde.as_points(x0, "x0")
    if t is None:
        t = sde.training_times(x0.shape[0], generator=generator, device=x0.device)
    t = sde.as_times(t, x0.shape[0], x0)
    xt, target = sde.sample_kernel(x0, t, generator=generator)
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


def fp_residual(potential: Callable, x, t) -> torch.Tensor:
    """r(x, t) = ∂_tφ - 2 - x·∇φ - ½Δφ - ½|∇φ|², the log-density FP residual for dX = -X dt + dW ({eq}`residual`)."""
    x = sde.as_points(x)
    _, dt, grad, lap = fp_terms(potential, x, t)
    return dt - fp_rhs(x.to(grad.dtype), grad, lap)


def fp_residual_batched(potential: Callable, x, t, chunk: int = 1024, workers: int | None = None, pool=None) -> torch.Tensor:
    """r(x, t) at many points without autograd: for a PotentialMLP its forward-mode pass in cache-sized chunks, the rows
    split over `pool` (a parallel.RowPool) or `workers` CPU threads (default torch's thread count); else fp_residual."""
    from .allocator import keep_freed_memory
    from .models import PotentialMLP, flush_denormals, fp_terms_scaled, make_input, scaled_params
    from .parallel import row_pool

    x = sde.as_points(x)
    t = sde.as_times(t, x.shape[0], x)
    if not isinstance(potential, PotentialMLP):
        return fp_residual(potential, x, t).detach()
    p = scaled_params(tuple(w.detach() for w in potential.params()))
    x, t = x.to(p[0].device), t.to(p[0].device)
    if x.device.type == "cpu":
        keep_freed_memory()
    inp = make_input(x, t)
    out = torch.empty(x.shape[0], device=x.device)

    def rows(i: int, j: int) -> None:
        _, dt, g, lap = fp_terms_scaled(p, inp[i:j])
        out[i:j] = dt - fp_rhs(x[i:j], g, lap)

    with torch.no_grad(), flush_denormals(), row_pool(workers, x.device, pool) as rp:
        rp.map(rows, x.shape[0], chunk)
    return out


def collocation_points(n: int, generator: torch.Generator | None = None, device="cpu", box: float = BOX):
    """Points uniform in [-box, box]² × [eps, T], the paper's collocation distribution."""
    if int(n) <= 0:
        raise ValueError(f"n must be a positive integer, got {n}")
    x = (2 * torch.rand(int(n), 2, generator=generator, device=device) - 1) * box
    t = sde.EPS + (sde.T - sde.EPS) * torch.rand(int(n), 1, generator=generator, device=device)
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


def residual_decomposition(potential: Callable, n_x: int = 2_000, n_t: int = 10, seed: int = 0) -> dict:
    """Split the mean squared FP residual into its gauge part and the rest, and add the score-form residual.

    DSM fixes only ∇φ, so φ + c(t) is as good a model, yet r sees c'(t). On n_t stratified times with n_x
    uniform points each: total = mean r², time_only = mean over t of (mean_x r)², centred = mean of
    (r - mean_x r)² (total = time_only + centred), score_form = mean |∇_x r|² (blind to c(t)).
    """
    g = torch.Generator().manual_seed(int(seed))
    totals = {"total": 0.0, "time_only": 0.0, "centred": 0.0, "score_form": 0.0}
    edges = torch.linspace(sde.EPS, sde.T, n_t + 1)
    for k in range(n_t):
        x, _ = collocation_points(n_x, generator=g)
        t = edges[k] + (edges[k + 1] - edges[k]) * torch.rand(n_x, 1, generator=g)
        with torch.enable_grad():
            xg = x.clone().requires_grad_(True)
            r = fp_residual(potential, xg, t)
            (gr,) = torch.autograd.grad(r.sum(), xg)
        r = r.detach().double()
        m = r.mean()
        totals["total"] += float((r**2).mean()) / n_t
        totals["time_only"] += float(m**2) / n_t
        totals["centred"] += float(((r - m) ** 2).mean()) / n_t
        totals["score_form"] += float((gr.double() ** 2).sum(1).mean()) / n_t
    return totals
