"""Forward SDEs dX = f(X, t) dt + g(t) dW with linear drift f = -b(t) X: the paper's Ornstein–Uhlenbeck process
dX = -X dt + dW ({eq}`fwd-sde`, the default) and the VP and VE processes of Song et al. (2021) ({eq}`sde-general`).

Each is a small frozen class with drift, diffusion, the Gaussian kernel X_t | X_0 ~ N(a(t) X_0, v(t) I), the prior,
the time range and its default sampling grid. The module-level functions are those of the OU instance `OU`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

T: float = 10.0
"""Final time of the forward process."""
EPS: float = 1e-5
"""Smallest training time (t = T·Beta(1,2) + EPS)."""
EPS_SAMPLE: float = 1e-4
"""Smallest time used when evaluating densities for plots."""
STATIONARY_VAR: float = 0.5
"""Variance per coordinate of the stationary law N(0, ½ I)."""


def as_points(x, name: str = "x") -> torch.Tensor:
    """Return `x` as a float tensor of shape (n, 2); reject NaN and wrong shapes."""
    x = torch.as_tensor(x)
    if not torch.is_floating_point(x):
        x = x.to(torch.float32)
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"{name} must have shape (n, 2), got {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return x


def as_times(t, n: int, like: torch.Tensor, name: str = "t", lo: float = EPS, hi: float = T) -> torch.Tensor:
    """Return `t` as a tensor of shape (n, 1) on `like`'s device and dtype; require lo <= t <= hi."""
    t = torch.as_tensor(t, dtype=like.dtype, device=like.device)
    if t.ndim == 0:
        t = t.expand(n, 1)
    elif t.ndim == 1:
        t = t.reshape(-1, 1)
    if t.shape[1] != 1 or t.shape[0] not in (1, n):
        raise ValueError(f"{name} must be a scalar or have shape ({n}, 1), got {tuple(t.shape)}")
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    if (t < lo * (1 - 1e-4)).any() or (t > hi * (1 + 1e-6)).any():
        raise ValueError(f"{name} must lie in [eps, T] = [{lo}, {hi}]; got values in [{t.min().item():.3g}, {t.max().item():.3g}]")
    return t.expand(n, 1)


PRIOR_TOL: float = 0.5
"""Largest prior_mismatch an SDE may have on the data (VE with σ_max = the data's largest pairwise distance: about 0.2–0.3)."""


@dataclass(frozen=True)
class SDE:
    """dX = -b(t) X dt + g(t) dW on [eps, T]; subclasses give b, g, the kernel a(t), v(t) and the prior variance."""

    name: str = ""
    T: float = 1.0
    eps: float = EPS
    schedule: str = "uniform"
    """Default time grid of the samplers (samplers.time_grid)."""

    # -- coefficients (t a float or a tensor) -------------------------------------------------------------------
    def drift_rate(self, t):
        """b(t) in f(x, t) = -b(t) x."""
        raise NotImplementedError

    def diffusion(self, t=None):
        """g(t)."""
        raise NotImplementedError

    def kernel_mean_coef(self, t: torch.Tensor) -> torch.Tensor:
        """a(t) = exp(-∫_0^t b): X_t | X_0 has mean a(t) X_0."""
        raise NotImplementedError

    def kernel_var(self, t: torch.Tensor) -> torch.Tensor:
        """v(t) = ∫_0^t a(t)²/a(s)² g(s)² ds: X_t | X_0 has covariance v(t) I."""
        raise NotImplementedError

    @property
    def prior_var(self) -> float:
        """Variance per coordinate of the prior N(0, prior_var I) the samplers start from."""
        raise NotImplementedError

    # -- derived ------------------------------------------------------------------------------------------------
    def drift(self, x: torch.Tensor, t=None) -> torch.Tensor:
        """f(x, t) = -b(t) x."""
        return -self.drift_rate(t) * x

    def div_drift(self, t) -> float:
        """∇·f = -2 b(t) in two dimensions."""
        return -2.0 * self.drift_rate(t)

    def fp_rhs(self, x: torch.Tensor, t: torch.Tensor, grad: torch.Tensor, lap: torch.Tensor) -> torch.Tensor:
        """Right-hand side of the log-density FP equation -∇·f - f·∇φ + ½g²(Δφ + |∇φ|²) ({eq}`fp-log-general`)."""
        b = torch.as_tensor(self.drift_rate(t), dtype=grad.dtype, device=grad.device).reshape(-1)
        g2 = torch.as_tensor(self.diffusion(t), dtype=grad.dtype, device=grad.device).reshape(-1) ** 2
        return 2.0 * b + b * (x * grad).sum(-1) + 0.5 * g2 * (lap + (grad * grad).sum(-1))

    def sample_kernel(self, x0: torch.Tensor, t: torch.Tensor, generator: torch.Generator | None = None):
        """Draw x_t ~ N(a(t) x0, v(t) I); return (x_t, kernel score ∇log p(x_t | x0))."""
        z = torch.randn(x0.shape, generator=generator, dtype=x0.dtype, device=x0.device)
        std = self.kernel_var(t).sqrt()
        xt = self.kernel_mean_coef(t) * x0 + std * z
        return xt, -z / std

    def kernel_score(self, xt: torch.Tensor, x0: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """∇_{x_t} log N(x_t; a(t) x0, v(t) I) = -(x_t - a(t) x0) / v(t)."""
        return -(xt - self.kernel_mean_coef(t) * x0) / self.kernel_var(t)

    def sample_prior(self, n: int, generator: torch.Generator | None = None, device="cpu", dtype=torch.float32) -> torch.Tensor:
        """x_T ~ N(0, prior_var I), the starting law of both samplers."""
        if int(n) <= 0:
            raise ValueError(f"n must be a positive integer, got {n}")
        return math.sqrt(self.prior_var) * torch.randn(int(n), 2, generator=generator, device=device, dtype=dtype)

    def training_times(self, n: int, generator: torch.Generator | None = None, device="cpu") -> torch.Tensor:
        """DSM times, uniform on [eps, T] (Song et al. 2021)."""
        u = torch.rand(n, 1, generator=generator, device=device)
        return self.eps + (self.T - self.eps) * u

    def as_times(self, t, n: int, like: torch.Tensor, name: str = "t") -> torch.Tensor:
        """as_times on this SDE's time range [eps, T]."""
        return as_times(t, n, like, name=name, lo=self.eps, hi=self.T)

    def prior_mismatch(self, x0) -> float:
        """sqrt(E|a(T) X_0|² / (2 v(T))): the data's scale at time T relative to the kernel's width (≪ 1: the prior covers it)."""
        x0 = as_points(x0, "data").double()
        aT = float(self.kernel_mean_coef(torch.tensor(self.T, dtype=torch.float64)))
        vT = float(self.kernel_var(torch.tensor(self.T, dtype=torch.float64)))
        return math.sqrt(aT**2 * float((x0**2).sum(1).mean()) / (2 * vT))

    def check_prior(self, x0, tol: float = PRIOR_TOL) -> None:
        """Raise a ValueError when the prior does not cover the data (prior_mismatch > tol)."""
        m = self.prior_mismatch(x0)
        if m > tol:
            raise ValueError(f"sde={self.name!r}: its prior does not cover the data (data scale at T / kernel width = {m:.3g} > {tol}); "
                             f"use an SDE whose kernel at T is wider than the data (VE: a larger sigma_max)")


@dataclass(frozen=True)
class OUSDE(SDE):
    """The paper's dX = -X dt + dW on [1e-5, 10], prior N(0, ½ I), DSM times T·Beta(1, 2) + eps, the paper's grid."""

    name: str = "ou"
    T: float = T
    eps: float = EPS
    schedule: str = "paper"

    def drift_rate(self, t=None):
        """b = 1."""
        return 1.0

    def diffusion(self, t=None) -> float:
        """g = 1."""
        return 1.0

    def drift(self, x: torch.Tensor, t=None) -> torch.Tensor:
        """f(x, t) = -x."""
        return -x

    def kernel_mean_coef(self, t: torch.Tensor) -> torch.Tensor:
        """a(t) = e^{-t}."""
        return torch.exp(-t)

    def kernel_var(self, t: torch.Tensor) -> torch.Tensor:
        """v(t) = ½(1 - e^{-2t})."""
        return -0.5 * torch.expm1(-2.0 * t)

    @property
    def prior_var(self) -> float:
        """½, the stationary variance."""
        return STATIONARY_VAR

    def fp_rhs(self, x: torch.Tensor, t, grad: torch.Tensor, lap: torch.Tensor) -> torch.Tensor:
        """2 + x·∇φ + ½Δφ + ½|∇φ|² ({eq}`residual`)."""
        return 2.0 + (x * grad).sum(-1) + 0.5 * lap + 0.5 * (grad * grad).sum(-1)

    def training_times(self, n: int, generator: torch.Generator | None = None, device="cpu") -> torch.Tensor:
        """t = T·Beta(1, 2) + EPS, the paper's DSM time distribution (inverse CDF 1 - sqrt(1-u))."""
        u = torch.rand(n, 1, generator=generator, device=device)
        return self.T * (1.0 - torch.sqrt(1.0 - u)) + self.eps


@dataclass(frozen=True)
class VPSDE(SDE):
    """Variance preserving: b = β(t)/2, g = √β(t), β linear from beta_min to beta_max on [eps, 1] (eps = 1e-3 as Song et al.);
    prior N(0, I)."""

    name: str = "vp"
    T: float = 1.0
    eps: float = 1e-3
    beta_min: float = 0.1
    beta_max: float = 20.0

    def __post_init__(self):
        if not (0 < self.beta_min <= self.beta_max):
            raise ValueError(f"VP needs 0 < beta_min <= beta_max, got {self.beta_min}, {self.beta_max}")

    def beta(self, t):
        """β(t) = beta_min + t (beta_max - beta_min)."""
        return self.beta_min + t * (self.beta_max - self.beta_min)

    def drift_rate(self, t):
        """b(t) = β(t) / 2."""
        return 0.5 * self.beta(t)

    def diffusion(self, t=None):
        """g(t) = √β(t)."""
        return self.beta(t) ** 0.5

    def _log_a(self, t):
        return -0.25 * t * t * (self.beta_max - self.beta_min) - 0.5 * t * self.beta_min

    def kernel_mean_coef(self, t: torch.Tensor) -> torch.Tensor:
        """a(t) = exp(-¼ t² (β_max - β_min) - ½ t β_min)."""
        return torch.exp(self._log_a(t))

    def kernel_var(self, t: torch.Tensor) -> torch.Tensor:
        """v(t) = 1 - a(t)²."""
        return -torch.expm1(2.0 * self._log_a(t))

    @property
    def prior_var(self) -> float:
        """1."""
        return 1.0


@dataclass(frozen=True)
class VESDE(SDE):
    """Variance exploding: b = 0, σ(t) = σ_min (σ_max/σ_min)^t, g = σ(t) √(2 log(σ_max/σ_min)); prior N(0, σ_max² I).

    The kernel variance is σ(t)² - σ_min² (exact for this g, so v(0) = 0); σ_max should be about the data's largest
    pairwise distance (Song and Ermon 2020), see `for_data`.
    """

    name: str = "ve"
    T: float = 1.0
    sigma_min: float = 0.01
    sigma_max: float = 10.0

    def __post_init__(self):
        if not (0 < self.sigma_min < self.sigma_max):
            raise ValueError(f"VE needs 0 < sigma_min < sigma_max, got {self.sigma_min}, {self.sigma_max}")

    @classmethod
    def for_data(cls, x0, sigma_min: float = 0.01) -> "VESDE":
        """σ_max = the largest pairwise distance of (up to 2 000 of) the data points."""
        x = as_points(x0, "data").double()[:2000]
        return cls(sigma_min=sigma_min, sigma_max=float(torch.cdist(x, x).max()))

    def _log_ratio(self) -> float:
        return math.log(self.sigma_max / self.sigma_min)

    def drift_rate(self, t):
        """b = 0."""
        return 0.0

    def drift(self, x: torch.Tensor, t=None) -> torch.Tensor:
        """f = 0."""
        return torch.zeros_like(x)

    def diffusion(self, t=None):
        """g(t) = σ(t) √(2 log(σ_max/σ_min))."""
        lr = self._log_ratio()
        if isinstance(t, torch.Tensor):
            return self.sigma_min * torch.exp(t * lr) * math.sqrt(2 * lr)
        return self.sigma_min * math.exp(t * lr) * math.sqrt(2 * lr)

    def kernel_mean_coef(self, t: torch.Tensor) -> torch.Tensor:
        """a = 1."""
        return torch.ones_like(t)

    def kernel_var(self, t: torch.Tensor) -> torch.Tensor:
        """v(t) = σ_min² ((σ_max/σ_min)^{2t} - 1)."""
        return self.sigma_min**2 * torch.expm1(2.0 * t * self._log_ratio())

    @property
    def prior_var(self) -> float:
        """σ_max² - σ_min² = v(1)."""
        return self.sigma_max**2 - self.sigma_min**2


OU = OUSDE()
"""The paper's forward process, the default everywhere."""
VP = VPSDE()
"""Song et al.'s VP SDE (β_min = 0.1, β_max = 20, T = 1)."""
NAMES = ("ou", "vp", "ve")
"""Valid names for `get`."""


def get(name, data=None) -> SDE:
    """The SDE called `name` (one of NAMES; an SDE instance is returned as is); VE's σ_max follows `data` (VESDE.for_data)."""
    if isinstance(name, SDE):
        return name
    if name == "ou":
        return OU
    if name == "vp":
        return VP
    if name == "ve":
        return VESDE() if data is None else VESDE.for_data(data)
    raise ValueError(f"unknown sde {name!r}; valid names are {', '.join(NAMES)}")


# The OU instance's methods under their historical module-level names.

def drift(x: torch.Tensor, t=None) -> torch.Tensor:
    """Forward drift f(x, t) = -x."""
    return OU.drift(x, t)


def diffusion(t=None) -> float:
    """Forward diffusion coefficient g(t) = 1."""
    return OU.diffusion(t)


def kernel_mean_coef(t: torch.Tensor) -> torch.Tensor:
    """a(t) = e^{-t}: X_t | X_0 has mean a(t) X_0 ({eq}`kernel`)."""
    return OU.kernel_mean_coef(t)


def kernel_var(t: torch.Tensor) -> torch.Tensor:
    """v(t) = ½(1 - e^{-2t}): X_t | X_0 has covariance v(t) I ({eq}`kernel`)."""
    return OU.kernel_var(t)


def sample_kernel(x0: torch.Tensor, t: torch.Tensor, generator: torch.Generator | None = None):
    """Draw x_t ~ N(x0 e^{-t}, v(t) I); return (x_t, kernel score ∇log p(x_t | x0))."""
    return OU.sample_kernel(x0, t, generator=generator)


def kernel_score(xt: torch.Tensor, x0: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """∇_{x_t} log N(x_t; x0 e^{-t}, v(t) I) = -(x_t - x0 e^{-t}) / v(t)."""
    return OU.kernel_score(xt, x0, t)


def sample_prior(n: int, generator: torch.Generator | None = None, device="cpu", dtype=torch.float32) -> torch.Tensor:
    """x_T ~ N(0, ½ I), the paper's starting law for both samplers."""
    return OU.sample_prior(n, generator=generator, device=device, dtype=dtype)


def training_times(n: int, generator: torch.Generator | None = None, device="cpu") -> torch.Tensor:
    """t = T·Beta(1, 2) + EPS, the paper's DSM time distribution (inverse CDF 1 - sqrt(1-u))."""
    return OU.training_times(n, generator=generator, device=device)
