"""The Ornstein–Uhlenbeck forward SDE dX = -X dt + dW of the paper ({eq}`fwd-sde`)."""
from __future__ import annotations

import math

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


def drift(x: torch.Tensor, t=None) -> torch.Tensor:
    """Forward drift f(x, t) = -x."""
    return -x


def diffusion(t=None) -> float:
    """Forward diffusion coefficient g(t) = 1."""
    return 1.0


def kernel_mean_coef(t: torch.Tensor) -> torch.Tensor:
    """a(t) = e^{-t}: X_t | X_0 has mean a(t) X_0 ({eq}`kernel`)."""
    return torch.exp(-t)


def kernel_var(t: torch.Tensor) -> torch.Tensor:
    """v(t) = ½(1 - e^{-2t}): X_t | X_0 has covariance v(t) I ({eq}`kernel`)."""
    return -0.5 * torch.expm1(-2.0 * t)


def sample_kernel(x0: torch.Tensor, t: torch.Tensor, generator: torch.Generator | None = None):
    """Draw x_t ~ N(x0 e^{-t}, v(t) I); return (x_t, kernel score ∇log p(x_t | x0))."""
    z = torch.randn(x0.shape, generator=generator, dtype=x0.dtype, device=x0.device)
    std = kernel_var(t).sqrt()
    xt = kernel_mean_coef(t) * x0 + std * z
    return xt, -z / std


def kernel_score(xt: torch.Tensor, x0: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """∇_{x_t} log N(x_t; x0 e^{-t}, v(t) I) = -(x_t - x0 e^{-t}) / v(t)."""
    return -(xt - kernel_mean_coef(t) * x0) / kernel_var(t)


def sample_prior(n: int, generator: torch.Generator | None = None, device="cpu", dtype=torch.float32) -> torch.Tensor:
    """x_T ~ N(0, ½ I), the paper's starting law for both samplers."""
    if int(n) <= 0:
        raise ValueError(f"n must be a positive integer, got {n}")
    return math.sqrt(STATIONARY_VAR) * torch.randn(int(n), 2, generator=generator, device=device, dtype=dtype)


def training_times(n: int, generator: torch.Generator | None = None, device="cpu") -> torch.Tensor:
    """t = T·Beta(1, 2) + EPS, the paper's DSM time distribution (inverse CDF 1 - sqrt(1-u))."""
    u = torch.rand(n, 1, generator=generator, device=device)
    return T * (1.0 - torch.sqrt(1.0 - u)) + EPS
