"""Probability-flow ODE solvers of orders 1, 2 and 5(4) for the solver study ({eq}`pf-ode-solvers`).

All solve dx/dt = -x - ½ s(x, t) backward from t = T to t = 0 (the ODE of `samplers.sample(method="ode")`):

* `euler`: explicit Euler, order 1 — `samplers.sample(method="ode")` itself (the published sampler).
* `heun`: Heun's method (explicit trapezoidal rule), order 2, on the same time grid (`samplers.time_grid`).
* `dopri5`: adaptive Dormand–Prince 5(4) through torchdiffeq (`odeint(method="dopri5")`), error per step
  controlled by `rtol`/`atol`, returning its number of score evaluations.

The score is never evaluated at t = 0 (the exact scores of the data sets are singular there, and the models
were trained on t ≥ EPS): Heun's last step is an Euler step (its corrector would need s(·, 0)), and dopri5
integrates to `t_end` (default EPS = 1e-5) and finishes with one Euler step of size `t_end` to 0.
The reverse SDE's Euler–Maruyama scheme is `samplers.sample(method="sde")` (see `em`).
"""
from __future__ import annotations

from typing import Callable

import torch
from tqdm.auto import tqdm

from . import samplers, sde
from .models import PotentialMLP, input_grad_fn

ODE_SOLVERS = ("euler", "heun", "dopri5")
"""The probability-flow ODE solvers of this module."""
ORDERS = {"euler": 1, "heun": 2, "dopri5": 5, "em": 1}
"""Convergence order of each scheme (Euler–Maruyama: weak order 1)."""

Score = Callable[[torch.Tensor, float], torch.Tensor]


def score_fn(score) -> Score:
    """(x, t) ↦ s(x, t) without autograd graph; a PotentialMLP uses its explicit backward pass (models.input_grad_fn)."""
    if isinstance(score, PotentialMLP):
        p = tuple(w.detach() for w in score.params())
        dtype = p[0].dtype

        def model_score(x: torch.Tensor, t: float) -> torch.Tensor:
            inp = torch.empty(x.shape[0], 3, dtype=dtype, device=x.device)
            inp[:, 0] = float(t)
            inp[:, 1:] = x
            return input_grad_fn(p, inp)[:, 1:].to(x.dtype)

        return model_score

    def any_score(x: torch.Tensor, t: float) -> torch.Tensor:
        return score(x, float(t)).to(x.dtype)

    return any_score


def velocity(score: Score, x: torch.Tensor, t: float) -> torch.Tensor:
    """Probability-flow velocity dx/dt = f - ½ g² s = -x - ½ s(x, t) ({eq}`pf-ode`, OU: f = -x, g = 1)."""
    return -x - 0.5 * score(x, t)


def euler(score, x_T: torch.Tensor, nfe: int = samplers.NFE, schedule: str = "paper", progress: bool = False) -> torch.Tensor:
    """Explicit Euler for dx/dt = -x - ½ s on samplers.time_grid(nfe, schedule): `samplers.sample(method="ode")`."""
    x_T = sde.as_points(x_T, "x_T")
    return samplers.sample(score, x_T.shape[0], method="ode", nfe=nfe, schedule=schedule, x_T=x_T, progress=progress)


def em(score, n: int, nfe: int = samplers.NFE, schedule: str = "paper", seed: int | None = None, progress: bool = False) -> torch.Tensor:
    """Euler–Maruyama for the reverse SDE dx = [-x - s] dt + dW̄ ({eq}`rev-sde`): `samplers.sample(method="sde")`."""
    return samplers.sample(score, n, method="sde", nfe=nfe, schedule=schedule, seed=seed, progress=progress)


def heun(score, x_T: torch.Tensor, nfe: int = samplers.NFE, schedule: str = "paper", progress: bool = False) -> torch.Tensor:
    """Heun's method (order 2) for dx/dt = -x - ½ s backward on samplers.time_grid; its last step is Euler (no s at t = 0).

    Step t_k → t_{k+1} (h = t_k - t_{k+1}): x̃ = x - h v(x, t_k), x ← x - ½h [v(x, t_k) + v(x̃, t_{k+1})] with
    v = -x - ½ s; the last step (t_{K-1} → 0) keeps x̃. Score evaluations: 2K - 1 (`heun_nfe`). The state keeps x_T's dtype.
    """
    x = sde.as_points(x_T, "x_T").clone()
    s = score_fn(score)
    grid = samplers.time_grid(nfe, schedule)
    K = len(grid) - 1
    with torch.no_grad():
        for k in tqdm(range(K), desc="heun", disable=not progress, unit="step"):
            t0, t1 = float(grid[k]), float(grid[k + 1])
            h = t0 - t1
            v0 = velocity(s, x, t0)
            pred = x - h * v0
            if k < K - 1:
                x = x - 0.5 * h * (v0 + velocity(s, pred, t1))
            else:
                x = pred
    return x


def steps(nfe: int, schedule: str) -> int:
    """Number of steps K of samplers.time_grid(nfe, schedule)."""
    return len(samplers.time_grid(nfe, schedule)) - 1


def heun_nfe(nfe: int, schedule: str) -> int:
    """Score evaluations of `heun` on samplers.time_grid(nfe, schedule): two per step, one on the last."""
    return 2 * steps(nfe, schedule) - 1


def dopri5(score, x_T: torch.Tensor, rtol: float = 1e-4, atol: float | None = None, t_end: float = sde.EPS,
           dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, int]:
    """(samples, score evaluations) of adaptive Dormand–Prince 5(4) (torchdiffeq) for dx/dt = -x - ½ s from T to `t_end`,
    then one Euler step of size `t_end` to 0.

    `atol` defaults to `rtol`; the steps land exactly on `t_end` (torchdiffeq's `step_t`); the error is measured in torchdiffeq's default RMS norm over all coordinates of all samples
    (the step size is shared by the whole batch). The state is integrated in `dtype` and returned in x_T's dtype.
    """
    from torchdiffeq import odeint

    if not (rtol > 0) or (atol is not None and not atol > 0):
        raise ValueError(f"rtol and atol must be positive, got rtol={rtol!r}, atol={atol!r}")
    if not (0 < t_end < sde.T):
        raise ValueError(f"t_end must lie in (0, T), got {t_end!r}")
    x_T = sde.as_points(x_T, "x_T")
    s = score_fn(score)
    count = [0]

    def f(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        count[0] += 1  # every call: the initial-step probe (whose time may lie outside [t_end, T]: clamped) and every stage
        return velocity(s, x, min(max(float(t), t_end), sde.T))

    times = torch.tensor([sde.T, t_end], dtype=dtype)
    with torch.no_grad():
        x = odeint(f, x_T.to(dtype), times, rtol=float(rtol), atol=float(atol if atol is not None else rtol), method="dopri5",
                   options={"step_t": times[1:]})[-1]  # land on t_end (no step past it, no interpolation back)
        x = x - t_end * f(torch.tensor(t_end, dtype=dtype), x)
    return x.to(x_T.dtype), count[0]


def gaussian_flow(dist, x_T: torch.Tensor, t: float = 0.0) -> torch.Tensor:
    """Exact probability-flow map x_T ↦ x_t for Gaussian data N(m, C) (datasets.Gaussian): x_t = μ_t + Σ_t^{1/2} Σ_T^{-1/2} (x_T - μ_T).

    With Σ_t = a² C + v I (a = e^{-t}, v = ½(1 - e^{-2t})) every eigen-direction of C scales like √σ_i(t), because
    d√σ/dt = (-1 + 1/(2σ)) √σ is the ODE's linearised velocity (1 - 2v = a²). Returned in float64.
    """
    x = sde.as_points(x_T, "x_T").double()
    mT, cT = dist.marginal(sde.T)
    m0, c0 = dist.marginal(t)
    lam, U = torch.linalg.eigh(torch.tensor(dist.cov, dtype=torch.float64))
    a = lambda tt: float(sde.kernel_mean_coef(torch.tensor(float(tt), dtype=torch.float64)))
    v = lambda tt: float(sde.kernel_var(torch.tensor(float(tt), dtype=torch.float64)))
    sig_t = a(t) ** 2 * lam + v(t)
    sig_T = a(sde.T) ** 2 * lam + v(sde.T)
    A = U @ torch.diag(torch.sqrt(sig_t / sig_T)) @ U.T
    return m0 + (x - mT) @ A.T
