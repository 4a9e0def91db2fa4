"""The computable pieces of the W2 bound between the ODE- and SDE-induced densities (book chapter fp_residual_bound).

With p_t = e^{φ_θ(·,t)} / m_T (the network's density, normalised at t = T), q_t the SDE-induced density,
ℓ(t) the one-sided Lipschitz constant of x ↦ x + ½ s_θ(x, t), Λ(t) = ∫_0^t ℓ, R(t) the mean of r_θ(·,t)²
over the box B = [-3.5, 3.5]² and D_T = KL(N(0, ½I) ‖ p_T), the chapter derives

    W2(p^ODE_θ(·,0), p^SDE_θ(·,0)) ≤ B = ½ (∫_0^T e^{2Λ(t)} dt)^{1/2} (2 D_T + 2 |B|^{1/2} ∫_0^T C_t R(t)^{1/2} dt)^{1/2},

with C_t ≥ ‖q_t − p_t‖_{L²}. The functions below evaluate each piece on grids (the suprema and norms
over R² are estimated on the box; the chapter states this as an assumption). C_t is evaluated as
‖p^data_t‖_{L²(B)} + ‖p_t‖_{L²(B)}, i.e. under the assumption ‖q_t‖ ≤ ‖p^data_t‖ (checked at t = 0).
"""
from __future__ import annotations

import math

import numpy as np
import torch

from . import datasets, losses, metrics, sde

BOX_AREA = (2 * losses.BOX) ** 2


def default_times(n_small: int = 24, n_large: int = 18) -> np.ndarray:
    """Time grid for the integrals: geometric on [1e-4, 1], uniform on [1, T]."""
    return np.unique(np.concatenate([np.geomspace(sde.EPS_SAMPLE, 1.0, n_small), np.linspace(1.0, sde.T, n_large)]))


def _grid(m: int, box: float) -> torch.Tensor:
    lin = torch.linspace(-box, box, m)
    gy, gx = torch.meshgrid(lin, lin, indexing="ij")
    return torch.stack([gx.ravel(), gy.ravel()], 1)


def hessian_lambda_max(model, x: torch.Tensor, t: float) -> torch.Tensor:
    """Largest eigenvalue of the Hessian ∇²_x φ_θ(x, t) at each point (autograd of the explicit score)."""
    with torch.enable_grad():
        x = x.detach().clone().requires_grad_(True)
        s = model.score(x, t)
        rows = [torch.autograd.grad(s[:, i].sum(), x, retain_graph=i == 0)[0] for i in range(2)]
    h11, h12, h21, h22 = rows[0][:, 0], rows[0][:, 1], rows[1][:, 0], rows[1][:, 1]
    hs = 0.5 * (h12 + h21)
    tr, det = h11 + h22, h11 * h22 - hs * hs
    return (0.5 * tr + torch.sqrt(torch.clamp(0.25 * tr * tr - det, min=0.0))).detach()


def data_region(dataset: str, t: float, x: torch.Tensor, mass: float = 0.99) -> torch.Tensor:
    """Mask of the grid points x in the smallest superlevel set of p^data_t holding `mass` of the grid's total."""
    p = datasets.get(dataset).log_prob(x.double(), float(t)).exp()
    order = torch.argsort(p, descending=True)
    cum = torch.cumsum(p[order], 0) / p.sum()
    k = int(torch.searchsorted(cum, torch.tensor(mass, dtype=cum.dtype))) + 1
    mask = torch.zeros_like(p, dtype=torch.bool)
    mask[order[:k]] = True
    return mask


def one_sided_lipschitz(model, times, m: int = 41, box: float = losses.BOX, dataset: str | None = None,
                        mass: float = 0.99) -> np.ndarray:
    """ℓ(t) = 1 + ½ max_x λ_max(∇²φ_θ(x, t)) over an m × m grid of the box (reverse-time ODE velocity x + ½ s_θ).

    With `dataset`, the maximum is taken only over the grid points of the region holding `mass` of p^data_t
    (the localised constant of assumption A2')."""
    x = _grid(m, box)
    out = []
    for t in times:
        lam = hessian_lambda_max(model, x, float(t))
        if dataset is not None:
            lam = lam[data_region(dataset, float(t), x, mass)]
        out.append(1.0 + 0.5 * float(lam.max()))
    return np.array(out)


def residual_profile(model, times, n: int = 2_000, seed: int = 0, box: float = losses.BOX) -> np.ndarray:
    """R(t): mean of r_θ(x, t)² over n uniform points of the box (the same points at every t)."""
    g = torch.Generator().manual_seed(seed)
    x = (2 * torch.rand(n, 2, generator=g) - 1) * box
    out = []
    for t in times:
        with torch.no_grad():
            r = losses.fp_residual(model, x, float(t))
        out.append(float(r.double().pow(2).mean()))
    return np.asarray(out)


def residual_field(model, times, m: int = 64, box: float = losses.BOX) -> np.ndarray:
    """r_θ(x, t) on the (m, m) grid for each time, shape (len(times), m, m)."""
    x = _grid(m, box)
    out = []
    for t in times:
        with torch.no_grad():
            out.append(losses.fp_residual(model, x, float(t)).double().numpy().reshape(m, m))
    return np.stack(out)


def log_mass_T(model, box: float = 6.0, m: int = 241) -> float:
    """log m_T = log ∫ e^{φ_θ(x, T)} dx by quadrature on [-box, box]² (the normalising constant at t = T)."""
    x = _grid(m, box)
    h = (2 * box / (m - 1)) ** 2
    with torch.no_grad():
        phi = model.potential(x, sde.T).double()
    return float(torch.logsumexp(phi, 0) + math.log(h))


def terminal_kl(model, box: float = 6.0, m: int = 241) -> float:
    """D_T = KL(N(0, ½I) ‖ e^{φ_θ(·,T)}/m_T) by quadrature on [-box, box]² (the sampler's start against the network's law at T)."""
    x = _grid(m, box)
    h = (2 * box / (m - 1)) ** 2
    with torch.no_grad():
        phi = model.potential(x, sde.T).double()
    logp = phi - (torch.logsumexp(phi, 0) + math.log(h))
    logq = -(x.double() ** 2).sum(1) - math.log(math.pi)
    return float((logq.exp() * (logq - logp)).sum() * h)


def network_density_norms(model, times, log_mass: float, m: int = 81, box: float = losses.BOX) -> dict:
    """‖p_t‖_{L²(B)}, ∫_B p_t and max_B p_t of p_t = e^{φ_θ(·,t) − log m_T} on an m × m grid."""
    x = _grid(m, box)
    h = (2 * box / (m - 1)) ** 2
    l2, mass, sup = [], [], []
    for t in times:
        with torch.no_grad():
            p = torch.exp(model.potential(x, float(t)).double() - log_mass)
        l2.append(float((p * p).sum() * h) ** 0.5)
        mass.append(float(p.sum() * h))
        sup.append(float(p.max()))
    return {"l2": np.asarray(l2), "mass": np.asarray(mass), "sup": np.asarray(sup)}


def data_density_l2(dataset: str, times, m: int = 81, box: float = losses.BOX) -> np.ndarray:
    """‖p^data_t‖_{L²(B)} of the exact OU marginal on an m × m grid."""
    x = _grid(m, box).double()
    h = (2 * box / (m - 1)) ** 2
    ds = datasets.get(dataset)
    return np.array([float((ds.log_prob(x, float(t)).exp() ** 2).sum() * h) ** 0.5 for t in times])


def hist_l2(hist, box: float = metrics.BOX, n: int = metrics.GRID_N) -> float:
    """L² norm of the piecewise-constant density of a grid histogram (cell side 2·box/(n−1))."""
    cell = (2 * box / (n - 1)) ** 2
    h = np.asarray(hist, float)
    return float(np.sqrt((h * h).sum() / cell))


def _cumtrapz(y: np.ndarray, t: np.ndarray) -> np.ndarray:
    return np.concatenate([[0.0], np.cumsum(0.5 * (y[1:] + y[:-1]) * np.diff(t))])


def w2_bound(model, dataset: str, times=None, m_lip: int = 41, n_res: int = 2_000, seed: int = 0, mass: float = 0.99) -> dict:
    """Every piece of the bound B {eq}`w2-bound` on W2(p^ODE_θ, p^SDE_θ) for one model, and B itself (with the global one-sided
    Lipschitz constant of A2, and `bound_local` with the constant localised to the data region of A2').

    The integrals over [0, T] are trapezoidal sums on `times` (from 1e-4: the network's behaviour on
    [0, 1e-4] is taken as constant, as the samplers do for their last steps).
    """
    t = default_times() if times is None else np.asarray(times, float)
    ell = one_sided_lipschitz(model, t, m=m_lip)
    ell_loc = one_sided_lipschitz(model, t, m=m_lip, dataset=dataset, mass=mass)
    lam = _cumtrapz(ell, t) + ell[0] * t[0]
    lam_loc = _cumtrapz(ell_loc, t) + ell_loc[0] * t[0]
    A = float(_cumtrapz(np.exp(2 * lam), t)[-1] + t[0] * math.exp(2 * lam[0]))
    A_loc = float(_cumtrapz(np.exp(2 * lam_loc), t)[-1] + t[0] * math.exp(2 * lam_loc[0]))
    R = residual_profile(model, t, n=n_res, seed=seed)
    logm = log_mass_T(model)
    net = network_density_norms(model, t, logm)
    data_l2 = data_density_l2(dataset, t)
    C = data_l2 + net["l2"]
    res_int = float(_cumtrapz(C * np.sqrt(R), t)[-1] + t[0] * C[0] * math.sqrt(R[0]))
    D = terminal_kl(model)
    inner = 2 * D + 2 * math.sqrt(BOX_AREA) * res_int
    B = 0.5 * math.sqrt(A) * math.sqrt(max(inner, 0.0))
    B_loc = 0.5 * math.sqrt(A_loc) * math.sqrt(max(inner, 0.0))
    return {"t": t, "ell": ell, "Lambda": lam, "A": A, "ell_local": ell_loc, "Lambda_local": lam_loc, "A_local": A_loc,
            "bound_local": B_loc, "R": R, "C": C, "data_l2": data_l2, "net_l2": net["l2"],
            "net_mass": net["mass"], "D_T": D, "residual_integral": res_int, "bound": B,
            "mean_R": float(_cumtrapz(R, t)[-1] / (t[-1] - t[0]))}
