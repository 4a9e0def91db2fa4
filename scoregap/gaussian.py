"""Affine scores on Gaussian data: the ODE- and SDE-induced laws, W2 and a coupling bound, all exact.

For Gaussian data N(μ, S) under dX = -X dt + dW the true score is affine in x, and so is any
s(x, t) = A(t) x + b(t). In reverse time τ = T - t both samplers keep Gaussian laws:
  SDE  dm/dτ = (I + A) m + b,      dΣ/dτ = (I + A) Σ + Σ (I + A)ᵀ + I,
  ODE  dm/dτ = (I + A/2) m + b/2,  dΣ/dτ = (I + A/2) Σ + Σ (I + A/2)ᵀ,
from m = 0, Σ = ½ I at τ = 0. The SDE law q_τ solves ∂_τ q = -∇·((x + s) q) + ½Δq = -∇·(v_q q), so it is
also carried by the velocity v_q = x + s - ½∇log q_τ; the ODE law by v_ρ = x + ½ s, and v_q - v_ρ =
-½(∇log q_τ - s). Running both flows from the same starting point (a synchronous coupling),
d|X - Y|/dτ ≤ ℓ(τ)|X - Y| + ½|∇log q_τ(Y) - s(Y)| with Y ~ q_τ; Grönwall and Minkowski give

  W2(ρ_0, q_0) ≤ ∫_0^T exp(∫_τ^T ℓ(σ) dσ) · ½ ‖∇log q_τ - s_τ‖_{L²(q_τ)} dτ,          (bound)

with ℓ(τ) the largest eigenvalue of the symmetric part of I + A/2 (the one-sided Lipschitz constant of
v_ρ). Everything here is computed by integrating the moment ODEs (scipy solve_ivp, rtol 1e-10).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from scipy.integrate import solve_ivp
from scipy.linalg import sqrtm

from . import sde


def w2_gaussians(m1, S1, m2, S2) -> float:
    """Exact W2 between N(m1, S1) and N(m2, S2): |m1 - m2|² + tr(S1 + S2 - 2 (S2^½ S1 S2^½)^½), square-rooted."""
    r2 = sqrtm(S2)
    cross = sqrtm(r2 @ S1 @ r2)
    w2sq = float(np.sum((np.asarray(m1) - np.asarray(m2)) ** 2) + np.trace(S1 + S2 - 2 * np.real(cross)))
    return float(np.sqrt(max(w2sq, 0.0)))


@dataclass(frozen=True)
class AffineScore:
    """s(x, t) = A(t) x + b(t), given by callables of the forward time t."""

    A: Callable[[float], np.ndarray]
    b: Callable[[float], np.ndarray]
    label: str = ""

    def __call__(self, x, t):
        """Evaluate on torch points (n, 2) at times t (float or (n, 1) of equal times) — for the samplers."""
        import torch

        tt = float(t) if not hasattr(t, "reshape") else float(t.reshape(-1)[0])
        A = torch.as_tensor(self.A(tt), dtype=x.dtype)
        b = torch.as_tensor(self.b(tt), dtype=x.dtype)
        return x @ A.T + b


def exact_score(mean=(0.5, -0.3), cov=((1.0, 0.3), (0.3, 0.25))) -> AffineScore:
    """The true score of Gaussian data under the OU process: -Σ_t⁻¹ (x - e^{-t} μ), Σ_t = e^{-2t} S + v(t) I."""
    mu, S = np.asarray(mean, float), np.asarray(cov, float)

    def a(t):
        return float(sde.kernel_mean_coef(torch.tensor(float(t), dtype=torch.float64)))

    def Sig(t):  # {eq}`kernel` applied to N(μ, S)
        return a(t) ** 2 * S + float(sde.kernel_var(torch.tensor(float(t), dtype=torch.float64))) * np.eye(2)

    return AffineScore(lambda t: -np.linalg.inv(Sig(t)), lambda t: np.linalg.inv(Sig(t)) @ (a(t) * mu), "exact")


def perturbed(base: AffineScore, dA: Callable[[float], np.ndarray] | None = None, db: Callable[[float], np.ndarray] | None = None,
              label: str = "") -> AffineScore:
    """base + (dA(t) x + db(t))."""
    z2, z = np.zeros((2, 2)), np.zeros(2)
    return AffineScore(lambda t: base.A(t) + (dA(t) if dA else z2), lambda t: base.b(t) + (db(t) if db else z), label)


def _moments(score: AffineScore, c: float, noise: float, T: float = sde.T, grid=None):
    """Integrate dm/dτ = (I + cA) m + c b, dΣ/dτ = (I + cA)Σ + Σ(I + cA)ᵀ + noise·I from τ = 0 (t = T) to τ = T."""
    I = np.eye(2)

    def rhs(tau, y):
        t = T - tau
        A, b = score.A(t), score.b(t)
        m, S = y[:2], y[2:].reshape(2, 2)
        J = I + c * A
        return np.concatenate([J @ m + c * b, (J @ S + S @ J.T + noise * I).ravel()])

    y0 = np.concatenate([np.zeros(2), (sde.STATIONARY_VAR * I).ravel()])
    sol = solve_ivp(rhs, (0.0, T - 1e-12), y0, rtol=1e-10, atol=1e-12, dense_output=True, method="DOP853")
    return sol


def induced_laws(score: AffineScore, T: float = sde.T):
    """((m, Σ) of the ODE-induced law, (m, Σ) of the SDE-induced law) at t = 0."""
    ode = _moments(score, 0.5, 0.0, T).y[:, -1]
    sde_ = _moments(score, 1.0, 1.0, T).y[:, -1]
    return (ode[:2], ode[2:].reshape(2, 2)), (sde_[:2], sde_[2:].reshape(2, 2))


def coupling_bound(score: AffineScore, T: float = sde.T, n_tau: int = 4001) -> float:
    """Right side of {eq}`coupling` with {eq}`gronwall`: ∫ exp(∫_τ^T ℓ) ½ ‖∇log q_τ - s‖_{L²(q_τ)} dτ, by the trapezoid rule on n_tau points."""
    sol = _moments(score, 1.0, 1.0, T)
    taus = np.linspace(0.0, T - 1e-12, n_tau)
    mis, ell = np.empty(n_tau), np.empty(n_tau)
    I = np.eye(2)
    for k, tau in enumerate(taus):
        y = sol.sol(tau)
        m, S = y[:2], y[2:].reshape(2, 2)
        A, b = score.A(T - tau), score.b(T - tau)
        Si = np.linalg.inv(S)
        C = -Si - A                      # ∇log q - s = C x + c, with ∇log q = -Σ⁻¹(x - m)
        cvec = Si @ m - b
        mean_err = C @ m + cvec
        mis[k] = np.sqrt(max(np.trace(C @ S @ C.T) + mean_err @ mean_err, 0.0))
        J = I + 0.5 * A
        ell[k] = np.linalg.eigvalsh(0.5 * (J + J.T)).max()
    # G(τ) = ∫_τ^T ℓ: cumulative trapezoid from the end
    seg = 0.5 * (ell[1:] + ell[:-1]) * np.diff(taus)
    G = np.concatenate([np.cumsum(seg[::-1])[::-1], [0.0]])
    integrand = np.exp(G) * 0.5 * mis
    return float(np.sum(0.5 * (integrand[1:] + integrand[:-1]) * np.diff(taus)))


def gap(score: AffineScore) -> float:
    """Left side: exact W2 between the ODE- and SDE-induced laws at t = 0."""
    (mo, So), (ms, Ss) = induced_laws(score)
    return w2_gaussians(mo, So, ms, Ss)


def family(mean=(0.5, -0.3), cov=((1.0, 0.3), (0.3, 0.25))) -> list[AffineScore]:
    """Perturbations of the exact score: scaled precision, shifted mean, errors localised near t = 0 or t = T."""
    base = exact_score(mean, cov)
    out = [base]
    for eps in (0.02, 0.05, 0.1, 0.2, 0.4):
        out.append(perturbed(base, dA=lambda t, e=eps: e * base.A(t), label=f"scaled precision {eps:+g}"))
        out.append(perturbed(base, db=lambda t, e=eps: np.array([e, -e]), label=f"shifted mean {eps:g}"))
        out.append(perturbed(base, dA=lambda t, e=eps: e * np.exp(-t / 0.1) * base.A(t), label=f"near t=0 {eps:g}"))
        out.append(perturbed(base, dA=lambda t, e=eps: e * np.exp(-(sde.T - t)) * np.eye(2), label=f"near t=T {eps:g}"))
        out.append(perturbed(base, dA=lambda t, e=eps: e * np.array([[0.0, 1.0], [-1.0, 0.0]]), label=f"rotation {eps:g}"))
    return out
